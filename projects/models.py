"""The live state of a launch: projects, members, stages, gates, check results and sign-offs.

Writes go through `projects/services.py`; permission-sensitive reads through `selectors.py`.
"""

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from gates.models import SEVERITY_CHOICES, Category, GateDefinition, GateTemplate

from . import readiness

STATUS_CHOICES = [(s, readiness.STATUS_LABELS[s]) for s in readiness.STATUSES]
VERDICT_CHOICES = [(v, readiness.VERDICT_LABELS[v]) for v in readiness.VERDICTS]


class Project(models.Model):
    class Lifecycle(models.TextChoices):
        ACTIVE = "active", "Active"
        LAUNCHED = "launched", "Launched"
        ARCHIVED = "archived", "Archived"

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="owned_projects"
    )
    template = models.ForeignKey(GateTemplate, null=True, blank=True, on_delete=models.PROTECT, related_name="projects")
    target_launch_date = models.DateField(null=True, blank=True)
    lifecycle = models.CharField(max_length=10, choices=Lifecycle.choices, default=Lifecycle.ACTIVE)
    current_stage = models.ForeignKey("Stage", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    # Cached readiness, written only by the recompute (services.readiness_recompute).
    score = models.FloatField(null=True, blank=True)
    verdict = models.CharField(max_length=20, choices=VERDICT_CHOICES, blank=True)
    # The whole readiness.Readiness.to_dict() of the current stage; score/verdict/hash are columns
    # of their own so lists can filter and sort on them.
    readiness = models.JSONField(default=dict, blank=True)
    state_hash = models.CharField(max_length=64, blank=True)
    computed_at = models.DateTimeField(null=True, blank=True)
    # Bumped by every write that can change readiness. The recompute stores the value it read, so
    # "computed_seq < change_seq" means the cache is behind (the sweep looks for exactly that).
    change_seq = models.PositiveBigIntegerField(default=1)
    computed_seq = models.PositiveBigIntegerField(default=0)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        indexes = [
            models.Index(fields=["lifecycle", "verdict"], name="project_lifecycle_verdict"),
            models.Index(fields=["target_launch_date"], name="project_launch_date"),
            # The sweep's "computed_seq < change_seq": a comparison of two columns, which no plain
            # index can answer; a partial index holding only the projects behind can, and stays
            # as small as the backlog.
            models.Index(
                fields=["lifecycle"], condition=Q(computed_seq__lt=F("change_seq")), name="project_recompute_due"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(score__isnull=True) | Q(score__gte=0, score__lte=100), name="project_score_range"
            ),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("projects:detail", args=[self.slug])

    @property
    def reasons(self):
        return self.readiness.get("reasons", [])

    @property
    def category_scores(self):
        return self.readiness.get("categories", [])

    @property
    def verdict_label(self):
        return readiness.VERDICT_LABELS.get(self.verdict, "Not computed")

    @property
    def days_to_launch(self):
        if not self.target_launch_date:
            return None
        return (self.target_launch_date - timezone.localdate()).days


class SignOffRole(models.Model):
    """A role that signs a stage off for a project ("Backend Lead", "Product Owner")."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="signoff_roles")
    name = models.CharField(max_length=100)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["project", "order", "name"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="signoffrole_unique_name")]

    def __str__(self):
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        EDITOR = "editor", "Editor"
        SIGNER = "signer", "Signer"
        VIEWER = "viewer", "Viewer"

    WRITE_ROLES = (Role.OWNER, Role.EDITOR)

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    signoff_roles = models.ManyToManyField(SignOffRole, blank=True, related_name="members")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["user", "project"], name="membership_unique_user_project"),
            models.CheckConstraint(
                condition=Q(role__in=["owner", "editor", "signer", "viewer"]), name="membership_valid_role"
            ),
        ]
        indexes = [models.Index(fields=["user", "project"], name="membership_user_project")]

    def __str__(self):
        return f"{self.user} · {self.project} ({self.role})"

    @property
    def can_write(self):
        return self.role in self.WRITE_ROLES

    @property
    def is_owner(self):
        return self.role == self.Role.OWNER


class Stage(models.Model):
    """A launch stage with its criteria ("Soft launch": score ≥ 70, 24 gates closed, three sign-offs)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="stages")
    name = models.CharField(max_length=100)
    order = models.PositiveSmallIntegerField()
    target_date = models.DateField(null=True, blank=True)
    min_score = models.FloatField(null=True, blank=True)
    min_closed = models.PositiveIntegerField(null=True, blank=True)
    required_roles = models.ManyToManyField(SignOffRole, blank=True, related_name="stages")

    class Meta:
        ordering = ["project", "order"]
        constraints = [
            models.UniqueConstraint(fields=["project", "order"], name="stage_unique_order"),
            models.UniqueConstraint(fields=["project", "name"], name="stage_unique_name"),
            models.CheckConstraint(
                condition=Q(min_score__isnull=True) | Q(min_score__gte=0, min_score__lte=100),
                name="stage_min_score_range",
            ),
        ]

    def __str__(self):
        return self.name


class ProjectGate(models.Model):
    """A gate of one project, copied from a definition (or added ad hoc), with its live status."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="gates")
    definition = models.ForeignKey(
        GateDefinition, null=True, blank=True, on_delete=models.SET_NULL, related_name="project_gates"
    )
    code = models.CharField(max_length=20)
    title = models.CharField(max_length=300)
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="project_gates")
    severity = models.CharField(max_length=10, choices=SEVERITY_CHOICES, default=readiness.MEDIUM)
    weight = models.PositiveSmallIntegerField()
    stage = models.ForeignKey(Stage, null=True, blank=True, on_delete=models.SET_NULL, related_name="gates")
    status = models.CharField(max_length=20, choices=STATUS_CHOICES, default=readiness.OPEN)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="owned_gates"
    )
    due_date = models.DateField(null=True, blank=True)
    guidance = models.TextField(blank=True)
    verification = models.TextField(blank=True)
    evidence_url = models.URLField(max_length=500, blank=True)
    evidence_note = models.TextField(blank=True)
    notes = models.TextField(blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    evidence_valid_days = models.PositiveIntegerField(null=True, blank=True)
    # Derived from verified_at + evidence_valid_days on save, so expiry is one indexed comparison.
    evidence_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    waiver_reason = models.TextField(blank=True)
    waiver_approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    waiver_expires_at = models.DateTimeField(null=True, blank=True)
    is_automated = models.BooleanField(default=False)
    # An HTTP check probed on a schedule (see projects/checks.py for its shape and validation).
    check_spec = models.JSONField(null=True, blank=True)
    # When the HTTP check was last probed: the schedule probes gates whose interval has passed.
    check_probed_at = models.DateTimeField(null=True, blank=True, editable=False)
    # When the evidence-expiry task handled this gate's lapse. Re-verifying moves
    # evidence_expires_at past it, so the next lapse is handled again (and only once).
    evidence_lapse_handled_at = models.DateTimeField(null=True, blank=True, editable=False)
    order = models.PositiveIntegerField(default=0)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["project", "category__order", "order", "code"]
        constraints = [
            models.UniqueConstraint(fields=["project", "code"], name="projectgate_unique_code"),
            models.CheckConstraint(condition=Q(status__in=readiness.STATUSES), name="projectgate_valid_status"),
            models.CheckConstraint(condition=Q(severity__in=readiness.SEVERITIES), name="projectgate_valid_severity"),
            models.CheckConstraint(condition=Q(weight__gt=0), name="projectgate_positive_weight"),
            models.CheckConstraint(
                condition=~Q(status=readiness.WAIVED) | ~Q(waiver_reason=""), name="projectgate_waiver_has_reason"
            ),
            # Only a waived gate carries a waiver: leaving "waived" (gate_unwaive, an import, the
            # expiry) clears it, whoever writes the row.
            models.CheckConstraint(
                condition=Q(status=readiness.WAIVED)
                | Q(waiver_reason="", waiver_expires_at__isnull=True, waiver_approver__isnull=True),
                name="projectgate_waiver_only_when_waived",
            ),
        ]
        indexes = [
            models.Index(fields=["project", "status"], name="projectgate_project_status"),
            models.Index(fields=["owner", "status"], name="projectgate_owner_status"),
            models.Index(fields=["status", "evidence_expires_at"], name="projectgate_evidence_expiry"),
            models.Index(fields=["status", "waiver_expires_at"], name="projectgate_waiver_expiry"),
            models.Index(fields=["due_date"], name="projectgate_due_date"),
            models.Index(fields=["is_automated", "check_probed_at"], name="projectgate_check_schedule"),
        ]

    def __str__(self):
        return f"{self.code} {self.title}"

    def save(self, *args, **kwargs):
        if not self.weight:
            self.weight = readiness.default_weight(self.severity)
        self.evidence_expires_at = (
            self.verified_at + timedelta(days=self.evidence_valid_days)
            if self.verified_at and self.evidence_valid_days
            else None
        )
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and {"verified_at", "evidence_valid_days"} & set(update_fields):
            kwargs["update_fields"] = {*update_fields, "evidence_expires_at"}
        super().save(*args, **kwargs)

    def get_absolute_url(self):
        return reverse("projects:gate", args=[self.project.slug, self.code])

    def clean(self):
        from django.core.exceptions import ValidationError

        from portal.errors import InvalidInput

        from .checks import check_spec_clean

        if self.check_spec is not None:
            try:
                self.check_spec = check_spec_clean(self.check_spec)
            except InvalidInput as exc:
                raise ValidationError({"check_spec": [exc.message, *sum(exc.field_errors.values(), [])]}) from None
            self.is_automated = True

    def as_rule_input(self, stage_order=None):
        """The plain-data view of this gate that the readiness rules read."""
        return readiness.GateInput(
            code=self.code,
            title=self.title,
            category=self.category.key,
            severity=self.severity,
            weight=self.weight,
            status=self.status,
            stage_order=stage_order,
            verified_at=self.verified_at,
            evidence_valid_days=self.evidence_valid_days,
            evidence_url=self.evidence_url,
            evidence_note=self.evidence_note,
            waiver_reason=self.waiver_reason,
            waiver_expires_at=self.waiver_expires_at,
        )

    def effective(self, now=None):
        return readiness.effective_status(self.as_rule_input(), now or timezone.now())

    @property
    def is_overdue(self):
        return bool(
            self.due_date
            and self.due_date < timezone.localdate()
            and self.status not in (readiness.CLOSED, readiness.WAIVED, readiness.NOT_APPLICABLE)
        )


class CheckResult(models.Model):
    """A result pushed or probed for a gate; an automated gate follows its latest result."""

    gate = models.ForeignKey(ProjectGate, on_delete=models.CASCADE, related_name="check_results")
    source = models.CharField(max_length=200)
    passed = models.BooleanField()
    details = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    idempotency_key = models.CharField(max_length=200, blank=True)
    request_fingerprint = models.CharField(max_length=64, blank=True)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["gate", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="checkresult_unique_idempotency_key",
            ),
        ]
        indexes = [models.Index(fields=["gate", "-received_at"], name="checkresult_gate_received")]

    def __str__(self):
        return f"{self.gate.code} {'pass' if self.passed else 'fail'} from {self.source}"


class SignOff(models.Model):
    """A role's decision on a stage, bound to the state hash it was given against."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="signoffs")
    stage = models.ForeignKey(Stage, on_delete=models.CASCADE, related_name="signoffs")
    role = models.ForeignKey(SignOffRole, on_delete=models.CASCADE, related_name="signoffs")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="signoffs")
    decision = models.CharField(max_length=20, choices=VERDICT_CHOICES)
    comment = models.TextField(blank=True)
    signed_at = models.DateTimeField(default=timezone.now)
    state_hash = models.CharField(max_length=64)
    snapshot = models.ForeignKey(
        "audits.ReadinessSnapshot", null=True, blank=True, on_delete=models.SET_NULL, related_name="bound_signoffs"
    )

    class Meta:
        ordering = ["-signed_at"]
        constraints = [
            models.UniqueConstraint(fields=["project", "stage", "role", "user"], name="signoff_unique_per_role_user"),
            models.CheckConstraint(condition=Q(decision__in=readiness.VERDICTS), name="signoff_valid_decision"),
        ]
        indexes = [models.Index(fields=["project", "stage"], name="signoff_project_stage")]

    def __str__(self):
        return f"{self.role} · {self.get_decision_display()} by {self.user}"

    def as_rule_input(self):
        return readiness.SignOffInput(
            role=self.role.name,
            decision=self.decision,
            state_hash=self.state_hash,
            signer=self.user.get_username(),
            signed_at=self.signed_at,
            comment=self.comment,
        )
