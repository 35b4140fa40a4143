from django.urls import path

from . import views

app_name = "audits"

urlpatterns = [
    path("projects/<slug:slug>/changes/", views.snapshot_changes, name="changes"),
]
