from django.urls import path

from . import diff_views

app_name = "audits"

urlpatterns = [
    path("projects/<slug:slug>/changes/", diff_views.snapshot_changes, name="changes"),
]
