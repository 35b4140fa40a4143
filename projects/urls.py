from django.urls import path

from audits import views as audit_views

from . import views

app_name = "projects"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("projects/new/", views.project_new, name="new"),
    path("projects/<slug:slug>/", views.project_detail, name="detail"),
    path("projects/<slug:slug>/stage/", views.project_stage, name="stage"),
    path("projects/<slug:slug>/history/", audit_views.project_history, name="history"),
    path("projects/<slug:slug>/sign-off/", views.signoff, name="signoff"),
    path("projects/<slug:slug>/sign-off/<int:pk>/withdraw/", views.signoff_revoke, name="signoff_revoke"),
    path("projects/<slug:slug>/members/", views.members, name="members"),
    path("projects/<slug:slug>/members/add/", views.member_add, name="member_add"),
    path("projects/<slug:slug>/members/<int:pk>/", views.member_update, name="member_update"),
    path("projects/<slug:slug>/members/<int:pk>/remove/", views.member_remove, name="member_remove"),
    path("projects/<slug:slug>/gates/<str:code>/status/", views.gate_status, name="gate_status"),
    path("projects/<slug:slug>/gates/<str:code>/edit/", views.gate_edit, name="gate_edit"),
    path("projects/<slug:slug>/gates/<str:code>/waive/", views.gate_waive, name="gate_waive"),
    path("projects/<slug:slug>/gates/<str:code>/unwaive/", views.gate_unwaive, name="gate_unwaive"),
    path("projects/<slug:slug>/gates/<str:code>/", views.gate_detail, name="gate"),
]
