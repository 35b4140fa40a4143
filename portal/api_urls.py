"""/api/v1/: the REST API for integrations, its OpenAPI schema and docs (assets served by the app).

Other apps add their endpoints with one `path("", include("<app>.api_urls"))` line each.
"""

from django.urls import path
from django.utils.csp import CSP
from django.views.decorators.csp import csp_override
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from projects import api_views

# The docs pages style themselves with inline styles and ReDoc runs a blob: worker; scripts stay
# same-origin (the Swagger set-up script is served as a file, not inline).
DOCS_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF, CSP.UNSAFE_INLINE],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF, "data:"],
    "worker-src": [CSP.SELF, "blob:"],
    "connect-src": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "object-src": [CSP.NONE],
}

app_name = "api"

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path(
        "docs/",
        csp_override(DOCS_CSP)(
            SpectacularSwaggerSplitView.as_view(url_name="api:schema", template_name="api/swagger_ui.html")
        ),
        name="docs",
    ),
    path(
        "redoc/",
        csp_override(DOCS_CSP)(SpectacularRedocView.as_view(url_name="api:schema", template_name="api/redoc.html")),
        name="redoc",
    ),
    path("projects", api_views.ProjectListView.as_view(), name="project-list"),
    path("projects/<slug:slug>", api_views.ProjectDetailView.as_view(), name="project-detail"),
    # Endpoints of other apps: one include line each, below.
]
