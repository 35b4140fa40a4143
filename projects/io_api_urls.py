"""/api/v1/ routes of Markdown import and exports (see io_api)."""

from django.urls import path

from . import io_api

urlpatterns = [
    path("imports/preview", io_api.ImportPreviewView.as_view(), name="import-preview"),
    path("imports/project", io_api.NewProjectImportView.as_view(), name="import-new-project"),
    path("imports/template", io_api.TemplateImportView.as_view(), name="import-template"),
    path("projects/<slug:slug>/import", io_api.ProjectImportView.as_view(), name="project-import"),
    path("projects/<slug:slug>/export", io_api.ProjectExportView.as_view(), name="project-export"),
]
