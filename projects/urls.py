from django.urls import path

from . import views

app_name = "projects"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("projects/new/", views.project_new, name="new"),
    path("projects/<slug:slug>/", views.project_detail, name="detail"),
    path("projects/<slug:slug>/gates/<str:code>/status/", views.gate_status, name="gate_status"),
    path("projects/<slug:slug>/gates/<str:code>/", views.gate_detail, name="gate"),
]
