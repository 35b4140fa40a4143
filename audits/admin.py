"""Audit events and snapshots are history: the back office shows them and never changes them."""

from django.contrib import admin

from portal.admin import ReadOnlyAdmin

from .models import AuditEvent, ReadinessSnapshot


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "actor_label", "channel", "action", "project", "object_repr")
    list_filter = ("channel", "action")
    search_fields = ("actor_label", "action", "object_repr", "project__slug", "hash")
    list_select_related = ("project",)
    date_hierarchy = "created_at"
    show_full_result_count = False
    readonly_fields = [f.name for f in AuditEvent._meta.fields]


@admin.register(ReadinessSnapshot)
class ReadinessSnapshotAdmin(ReadOnlyAdmin):
    list_display = ("taken_at", "project", "kind", "stage_name", "score", "verdict", "state_hash")
    list_filter = ("kind", "verdict")
    search_fields = ("project__name", "project__slug", "state_hash")
    list_select_related = ("project",)
    date_hierarchy = "taken_at"
    show_full_result_count = False
    readonly_fields = [f.name for f in ReadinessSnapshot._meta.fields]
