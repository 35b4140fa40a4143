from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    # Web UI: portfolio, projects, gates, sign-offs, history.
    path("", include("projects.urls")),
]
