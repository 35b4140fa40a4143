"""/api/v1/: the REST API for integrations, its OpenAPI schema and docs (assets served by the app).

Other apps add their endpoints with one `path("", include("<app>.api_urls"))` line each.
"""

from django.urls import include, path
from django.utils.csp import CSP
from django.views.decorators.csp import csp_override
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from projects import api_gates, api_views

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
    path("projects/<slug:slug>/readiness", api_gates.ReadinessView.as_view(), name="project-readiness"),
    path("projects/<slug:slug>/gates", api_gates.GateListView.as_view(), name="gate-list"),
    path("projects/<slug:slug>/gates/<str:code>", api_gates.GateDetailView.as_view(), name="gate-detail"),
    path("projects/<slug:slug>/gates/<str:code>/waive", api_gates.GateWaiveView.as_view(), name="gate-waive"),
    path("projects/<slug:slug>/gates/<str:code>/unwaive", api_gates.GateUnwaiveView.as_view(), name="gate-unwaive"),
    path(
        "projects/<slug:slug>/gates/<str:code>/check-results",
        api_gates.CheckResultListView.as_view(),
        name="check-result-list",
    ),
    path("projects/<slug:slug>/stages", api_views.StageListView.as_view(), name="stage-list"),
    path("projects/<slug:slug>/stages/<int:id>", api_views.StageDetailView.as_view(), name="stage-detail"),
    path("projects/<slug:slug>/members", api_views.MemberListView.as_view(), name="member-list"),
    path("projects/<slug:slug>/members/<str:username>", api_views.MemberDetailView.as_view(), name="member-detail"),
    path("projects/<slug:slug>/signoffs", api_views.SignOffListView.as_view(), name="signoff-list"),
    path("projects/<slug:slug>/signoffs/<int:id>", api_views.SignOffDetailView.as_view(), name="signoff-detail"),
    path("projects/<slug:slug>/snapshots", api_views.SnapshotListView.as_view(), name="snapshot-list"),
    path("projects/<slug:slug>/snapshots/<int:id>", api_views.SnapshotDetailView.as_view(), name="snapshot-detail"),
    path("projects/<slug:slug>/audit-events", api_views.AuditEventListView.as_view(), name="audit-event-list"),
    path("gate-templates", api_views.GateTemplateListView.as_view(), name="gate-template-list"),
    path("gate-templates/<int:id>", api_views.GateTemplateDetailView.as_view(), name="gate-template-detail"),
    path("categories", api_views.CategoryListView.as_view(), name="category-list"),
    # Endpoints of other apps: one include line each, below.
    # Markdown import and exports.
    path("", include("projects.io_api_urls")),
    # Notifications, preferences, webhooks, sign-off requests, snapshot diffs.
    path("", include("notifications.api_urls")),
]
