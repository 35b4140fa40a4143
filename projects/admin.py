"""The back office for projects. Every save calls a service, so the admin is audited like the UI."""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.utils.html import format_html, format_html_join

from audits.models import Channel
from audits.services import Actor
from portal.admin import ReadOnlyAdmin
from portal.errors import DomainError

from . import services
from .models import CheckResult, Membership, Project, ProjectGate, SignOff, SignOffRole, Stage

User = get_user_model()


def admin_actor(request):
    return Actor(request.user, Channel.ADMIN)


class ServiceErrorsMixin:
    """A write a service refuses (stale version, last owner, bad input) rolls back the whole admin
    save and is shown on the page: nothing half-saved, nothing overwritten."""

    def changeform_view(self, request, *args, **kwargs):
        try:
            with transaction.atomic():
                return super().changeform_view(request, *args, **kwargs)
        except DomainError as exc:
            details = "; ".join(f"{f}: {' '.join(m)}" for f, m in exc.field_errors.items())
            self.message_user(request, f"Nothing was saved: {exc.message} {details}".strip(), level=messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


class VersionedGateForm(forms.ModelForm):
    """Carries the version the operator saw, so a concurrent change is refused, not overwritten.

    The version is required: a post without it would reach the service as "no check" and
    overwrite whatever changed since the page was loaded.
    """

    seen_version = forms.IntegerField(
        widget=forms.HiddenInput,
        min_value=1,
        error_messages={"required": "The gate's version is missing; reload the page and edit it again."},
    )

    class Meta:
        model = ProjectGate
        fields = services.GATE_EDITABLE_FIELDS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["seen_version"].initial = self.instance.version

    def clean(self):
        cleaned = super().clean()
        seen = cleaned.get("seen_version")
        if "seen_version" in self.errors:
            # A hidden field's error would read "(Hidden field seen_version) …": say it for the form.
            raise forms.ValidationError(self.errors.pop("seen_version"))
        edited = [f for f in self.changed_data if f != "seen_version"]
        if self.instance.pk and edited and seen != self.instance.version:
            raise forms.ValidationError(
                f"Gate {self.instance.code} was changed by someone else (now version {self.instance.version}, "
                f"you edited version {seen}). Nothing was saved; reload to see the current value."
            )
        return cleaned


def static_choices(formfield):
    """Evaluate a model choice field's choices once, for every row of an inline.

    Each inline form renders its own copy of the field, and a queryset of choices is a query
    per copy; a plain list of (pk, label) is copied without touching the database.
    """
    formfield.choices = [(getattr(value, "value", value), label) for value, label in formfield.choices]
    return formfield


class GateInline(admin.TabularInline):
    """The project's gates, editable in place; the owner is chosen among the project's people."""

    model = ProjectGate
    form = VersionedGateForm
    fields = ("code", "title", "category", "severity", "status", "owner", "due_date", "seen_version")
    readonly_fields = ("code", "title", "category", "severity")
    extra = 0
    can_delete = False
    show_change_link = True
    ordering = ("category__order", "order", "code")

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("category", "owner")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "owner":
            project = getattr(request, "_admin_project", None)
            # Members may own gates; a former member who still owns one stays selectable, so
            # saving the page never clears an owner nobody touched.
            kwargs["queryset"] = (
                User.objects.filter(Q(memberships__project=project) | Q(owned_gates__project=project))
                .distinct()
                .order_by("username")
            )
            return static_choices(super().formfield_for_foreignkey(db_field, request, **kwargs))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class MembershipInline(admin.TabularInline):
    """Existing members: change their role and sign-off roles, or remove them."""

    model = Membership
    fields = ("user", "role", "signoff_roles")
    readonly_fields = ("user",)
    extra = 0

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user", "project").prefetch_related("signoff_roles")

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "signoff_roles":
            project = getattr(request, "_admin_project", None)
            kwargs["queryset"] = SignOffRole.objects.filter(project=project).order_by("order", "name")
            return static_choices(super().formfield_for_manytomany(db_field, request, **kwargs))
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class NewMembershipInline(MembershipInline):
    """Add people to the project (their row moves to the members above once saved)."""

    verbose_name = "new member"
    verbose_name_plural = "add members"
    readonly_fields = ()
    autocomplete_fields = ("user",)
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return super(MembershipInline, self).has_add_permission(request, obj)

    def get_queryset(self, request):
        return super().get_queryset(request).none()


class StageInline(admin.TabularInline):
    model = Stage
    fields = ("order", "name", "target_date", "min_score", "min_closed")
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class ProjectCreateForm(forms.ModelForm):
    class Meta:
        model = Project
        fields = ("name", "slug", "description", "template", "owner", "target_launch_date")


@admin.register(Project)
class ProjectAdmin(ServiceErrorsMixin, admin.ModelAdmin):
    list_display = (
        "name",
        "slug",
        "verdict_badge",
        "score",
        "current_stage",
        "target_launch_date",
        "lifecycle",
        "owner",
        "computed_at",
    )
    list_filter = ("lifecycle", "verdict", "template", "current_stage__name")
    search_fields = ("name", "slug", "owner__username")
    list_select_related = ("current_stage", "owner")
    autocomplete_fields = ("owner",)
    readonly_fields = (
        "score",
        "verdict",
        "reason_list",
        "state_hash",
        "computed_at",
        "change_seq",
        "computed_seq",
        "template",
    )
    date_hierarchy = "target_launch_date"
    inlines = (StageInline, MembershipInline, NewMembershipInline, GateInline)
    actions = ("recompute_readiness",)
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "name",
                    "slug",
                    "description",
                    "owner",
                    "template",
                    "target_launch_date",
                    "lifecycle",
                    "current_stage",
                )
            },
        ),
        (
            "Readiness (computed)",
            {"fields": ("score", "verdict", "reason_list", "state_hash", "computed_at", "change_seq", "computed_seq")},
        ),
    )

    @admin.display(description="Reasons")
    def reason_list(self, obj):
        return format_html_join("\n", "<p>{}</p>", ((r,) for r in obj.reasons)) or "—"

    @admin.display(description="Verdict", ordering="verdict")
    def verdict_badge(self, obj):
        return format_html('<span class="verdict verdict-{}">{}</span>', obj.verdict or "none", obj.verdict_label)

    def get_form(self, request, obj=None, **kwargs):
        request._admin_project = obj
        if obj is None:
            kwargs["form"] = ProjectCreateForm
        return super().get_form(request, obj, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return ((None, {"fields": ("name", "slug", "description", "template", "owner", "target_launch_date")}),)
        return super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def get_inlines(self, request, obj):
        return () if obj is None else self.inlines

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "current_stage":
            project = getattr(request, "_admin_project", None)
            kwargs["queryset"] = Stage.objects.filter(project=project) if project else Stage.objects.none()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        actor = admin_actor(request)
        if not change:
            data = form.cleaned_data
            created = services.project_create_from_template(
                actor=actor,
                template=data["template"],
                name=data["name"],
                slug=data["slug"],
                owner=data.get("owner"),
                description=data.get("description", ""),
                target_launch_date=data.get("target_launch_date"),
            )
            obj.pk = created.pk
            obj.refresh_from_db()
            return
        changes = {f: form.cleaned_data[f] for f in services.PROJECT_EDITABLE_FIELDS if f in form.changed_data}
        if changes:
            services.project_update(actor=actor, project=obj, **changes)
        if "current_stage" in form.changed_data and form.cleaned_data["current_stage"]:
            services.project_change_stage(actor=actor, project=obj, stage=form.cleaned_data["current_stage"])

    def save_formset(self, request, form, formset, change):
        """Each changed row is one service call; the formset's own save() is never used.

        The lists formset.save() would fill are filled here, for the admin's change message.
        """
        actor = admin_actor(request)
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        if formset.model is ProjectGate:
            for gate_form in formset.forms:
                if not gate_form.has_changed() or not gate_form.instance.pk:
                    continue
                changes = {
                    f: gate_form.cleaned_data[f] for f in services.GATE_EDITABLE_FIELDS if f in gate_form.changed_data
                }
                if changes:
                    gate = services.gate_update(
                        actor=actor,
                        gate=gate_form.instance,
                        version=gate_form.cleaned_data["seen_version"],
                        **changes,
                    )
                    formset.changed_objects.append((gate, list(changes)))
        elif formset.model is Membership:
            for member_form in formset.forms:
                data = member_form.cleaned_data
                if not data:
                    continue
                instance = member_form.instance
                if data.get("DELETE") and instance.pk:
                    services.member_remove(actor=actor, membership=instance)
                    formset.deleted_objects.append(instance)
                elif instance.pk and member_form.has_changed():
                    membership = services.member_update(
                        actor=actor, membership=instance, role=data["role"], signoff_roles=data["signoff_roles"]
                    )
                    formset.changed_objects.append((membership, member_form.changed_data))
                elif not instance.pk and data.get("user"):
                    membership = services.member_add(
                        actor=actor,
                        project=form.instance,
                        user=data["user"],
                        role=data["role"],
                        signoff_roles=data["signoff_roles"],
                    )
                    formset.new_objects.append(membership)
        elif formset.model is Stage:
            for stage_form in formset.forms:
                if stage_form.instance.pk and stage_form.has_changed():
                    fields = {
                        f: stage_form.cleaned_data[f]
                        for f in services.STAGE_EDITABLE_FIELDS
                        if f in stage_form.changed_data
                    }
                    stage = services.stage_update(actor=actor, stage=stage_form.instance, **fields)
                    formset.changed_objects.append((stage, list(fields)))

    @admin.action(description="Recompute readiness now")
    def recompute_readiness(self, request, queryset):
        count = services.readiness_recompute(project_ids=list(queryset.values_list("pk", flat=True)), force=True)
        self.message_user(request, f"Recomputed {count} project(s).")


class GateStatusFilter(admin.SimpleListFilter):
    title = "overdue"
    parameter_name = "overdue"

    def lookups(self, request, model_admin):
        return (("yes", "Overdue"),)

    def queryset(self, request, queryset):
        if self.value() == "yes":
            from django.utils import timezone

            return queryset.filter(due_date__lt=timezone.localdate()).exclude(
                status__in=["closed", "waived", "not_applicable"]
            )
        return queryset


@admin.register(ProjectGate)
class ProjectGateAdmin(ServiceErrorsMixin, admin.ModelAdmin):
    form = VersionedGateForm
    list_display = (
        "code",
        "title",
        "project",
        "category",
        "severity",
        "status",
        "owner",
        "due_date",
        "verified_at",
        "version",
    )
    list_filter = ("status", "severity", "category", GateStatusFilter, "is_automated", "project__lifecycle")
    search_fields = ("code", "title", "project__name", "project__slug", "owner__username")
    list_select_related = ("project", "category", "owner")
    autocomplete_fields = ("owner", "project")
    readonly_fields = (
        "project",
        "definition",
        "code",
        "title",
        "category",
        "severity",
        "weight",
        "stage",
        "verified_at",
        "evidence_valid_days",
        "evidence_expires_at",
        "waiver_reason",
        "waiver_approver",
        "waiver_expires_at",
        "version",
        "created_at",
        "updated_at",
    )
    fields = (
        "project",
        "code",
        "title",
        "category",
        "severity",
        "weight",
        "stage",
        "status",
        "owner",
        "due_date",
        "evidence_url",
        "evidence_note",
        "notes",
        "verified_at",
        "evidence_valid_days",
        "evidence_expires_at",
        "waiver_reason",
        "waiver_approver",
        "waiver_expires_at",
        "guidance",
        "verification",
        "version",
        "seen_version",
    )
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def save_model(self, request, obj, form, change):
        changes = {f: form.cleaned_data[f] for f in services.GATE_EDITABLE_FIELDS if f in form.changed_data}
        if changes:
            fresh = ProjectGate.objects.select_related("project").get(pk=obj.pk)
            services.gate_update(
                actor=admin_actor(request), gate=fresh, version=form.cleaned_data["seen_version"], **changes
            )


@admin.register(CheckResult)
class CheckResultAdmin(ReadOnlyAdmin):
    list_display = ("gate", "source", "passed", "received_at", "idempotency_key")
    list_filter = ("passed", "source")
    search_fields = ("gate__code", "gate__project__slug", "source", "idempotency_key")
    list_select_related = ("gate", "gate__project")
    date_hierarchy = "received_at"
    show_full_result_count = False


@admin.register(SignOff)
class SignOffAdmin(ReadOnlyAdmin):
    list_display = ("project", "stage", "role", "user", "decision", "signed_at", "state_hash")
    list_filter = ("decision", "stage__name", "role__name")
    search_fields = ("project__name", "project__slug", "user__username", "comment")
    list_select_related = ("project", "stage", "role", "user")
    date_hierarchy = "signed_at"


@admin.register(Membership)
class MembershipAdmin(ReadOnlyAdmin):
    list_display = ("user", "project", "role")
    list_filter = ("role",)
    search_fields = ("user__username", "user__email", "project__name", "project__slug")
    list_select_related = ("user", "project")


@admin.register(Stage)
class StageAdmin(ReadOnlyAdmin):
    list_display = ("project", "order", "name", "target_date", "min_score", "min_closed")
    search_fields = ("project__name", "name")
    list_select_related = ("project",)


@admin.register(SignOffRole)
class SignOffRoleAdmin(ReadOnlyAdmin):
    list_display = ("name", "project", "order")
    search_fields = ("name", "project__name")
    list_select_related = ("project",)
