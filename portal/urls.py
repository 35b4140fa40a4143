from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path, re_path

from portal.api_common import api_not_found

# Accounts: the admin logs in through the site's login (lockout, two-factor), not its own form.
admin.site.login = secure_admin_login(admin.site.login)

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    # REST API; unknown URLs under it answer 404 in the API's JSON error shape.
    path("api/v1/", include("portal.api_urls")),
    re_path(r"^api/v1/", api_not_found),
    # Import and export of readiness documents (before the project pages: "projects/new/import/").
    path("", include("projects.urls_io")),
    # People's own API tokens.
    path("tokens/", include("tokens.urls")),
    # Automation: notifications, preferences, webhooks, "what changed" diffs.
    path("", include("notifications.urls")),
    path("", include("audits.urls")),
    # Web UI: portfolio, projects, gates, sign-offs, history.
    path("", include("projects.urls")),
]
