"""Import and export pages (see views_io)."""

from django.urls import path

from . import views_io

app_name = "io"

urlpatterns = [
    path("projects/new/import/", views_io.project_new_from_import, name="new_import"),
    path("templates/import/", views_io.template_import, name="template_import"),
    path("projects/<slug:slug>/import/", views_io.project_import, name="import"),
    path("projects/<slug:slug>/export/<str:fmt>/", views_io.project_export, name="export"),
]
