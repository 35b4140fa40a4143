"""Serializers of /api/v1/: output shapes of the resources and input shapes of the commands.

Output serializers read rows fetched by the selectors (with their select_related), so none of
them triggers a query per row. Input serializers only validate; services do the writing.
"""

from django.contrib.auth import get_user_model
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from audits.models import AuditEvent, ReadinessSnapshot
from gates.models import Category, GateDefinition, GateTemplate

from . import readiness
from .models import CheckResult, Membership, Project, ProjectGate, SignOff, Stage
from .selectors import user_by_username

User = get_user_model()


class UsernameField(serializers.SlugRelatedField):
    """A user named by username (null for nobody)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("slug_field", "username")
        kwargs.setdefault("read_only", True)
        kwargs.setdefault("allow_null", True)
        super().__init__(**kwargs)


# --- catalog -----------------------------------------------------------------------------------


class CategorySerializer(serializers.ModelSerializer):
    class Meta:
        model = Category
        fields = ("key", "name", "description", "order", "is_builtin")


class GateDefinitionSerializer(serializers.ModelSerializer):
    category = serializers.SlugRelatedField(slug_field="key", read_only=True)

    class Meta:
        model = GateDefinition
        fields = (
            "code",
            "title",
            "category",
            "severity",
            "weight",
            "guidance",
            "verification",
            "evidence_valid_days",
            "stage_order",
            "check_spec",
            "order",
        )


class GateTemplateSerializer(serializers.ModelSerializer):
    gate_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = GateTemplate
        fields = (
            "id",
            "key",
            "version",
            "name",
            "description",
            "is_builtin",
            "signoff_roles",
            "stages",
            "gate_count",
        )


class GateTemplateDetailSerializer(GateTemplateSerializer):
    definitions = GateDefinitionSerializer(many=True, read_only=True)

    class Meta(GateTemplateSerializer.Meta):
        fields = (*GateTemplateSerializer.Meta.fields, "definitions")


# --- projects ----------------------------------------------------------------------------------


class ProjectSerializer(serializers.ModelSerializer):
    owner = UsernameField()
    template = serializers.SlugRelatedField(slug_field="key", read_only=True, allow_null=True)
    current_stage = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    verdict = serializers.CharField(
        read_only=True, help_text="GO, CONDITIONAL_GO, NO_GO, or empty before the first computation."
    )

    class Meta:
        model = Project
        fields = (
            "slug",
            "name",
            "description",
            "owner",
            "template",
            "target_launch_date",
            "lifecycle",
            "current_stage",
            "score",
            "verdict",
            "state_hash",
            "computed_at",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


class StageSerializer(serializers.ModelSerializer):
    required_roles = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)

    class Meta:
        model = Stage
        fields = ("id", "name", "order", "target_date", "min_score", "min_closed", "required_roles")
        read_only_fields = fields


class ProjectDetailSerializer(ProjectSerializer):
    stages = StageSerializer(many=True, read_only=True)
    reasons = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta(ProjectSerializer.Meta):
        fields = (*ProjectSerializer.Meta.fields, "reasons", "stages")
        read_only_fields = fields


class StageInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    order = serializers.IntegerField(min_value=1, max_value=1000)
    target_date = serializers.DateField(required=False, allow_null=True)
    min_score = serializers.FloatField(required=False, allow_null=True, min_value=0, max_value=100)
    min_closed = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=100000)
    required_roles = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False, default=list, max_length=50
    )


class ProjectCreateSerializer(serializers.Serializer):
    template = serializers.SlugRelatedField(
        slug_field="id", queryset=GateTemplate.objects.all(), help_text="Id of the gate template to copy."
    )
    name = serializers.CharField(max_length=200)
    slug = serializers.SlugField(max_length=80, required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True, max_length=10000)
    target_launch_date = serializers.DateField(required=False, allow_null=True)
    stages = StageInputSerializer(many=True, required=False, help_text="Overrides the template's stages.")


class ProjectUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True, max_length=10000)
    target_launch_date = serializers.DateField(required=False, allow_null=True)
    lifecycle = serializers.ChoiceField(choices=Project.Lifecycle.choices, required=False)
    current_stage = serializers.CharField(required=False, help_text="Name of the stage to move the project to.")


# --- gates -------------------------------------------------------------------------------------


class GateSerializer(serializers.ModelSerializer):
    category = serializers.SlugRelatedField(slug_field="key", read_only=True)
    stage = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    owner = UsernameField()
    waiver_approver = UsernameField()
    evidence_url = serializers.CharField(read_only=True, help_text="An http(s) link, or empty.")
    effective_status = serializers.SerializerMethodField()
    is_overdue = serializers.BooleanField(read_only=True)

    class Meta:
        model = ProjectGate
        fields = (
            "code",
            "title",
            "category",
            "severity",
            "weight",
            "stage",
            "status",
            "effective_status",
            "owner",
            "due_date",
            "is_overdue",
            "guidance",
            "verification",
            "evidence_url",
            "evidence_note",
            "notes",
            "verified_at",
            "evidence_valid_days",
            "evidence_expires_at",
            "waiver_reason",
            "waiver_approver",
            "waiver_expires_at",
            "is_automated",
            "version",
            "updated_at",
        )
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=readiness.STATUSES))
    def get_effective_status(self, gate):
        return gate.effective(self.context.get("now")).effective_status

    def to_representation(self, gate):
        """The declared fields, built directly: the gate list is the API's hottest read.

        Takes a gate or a row of `GATE_ROW_FIELDS` values (what the list endpoint reads). Same
        output as the generic field-by-field path (a test compares the two).
        """
        row = gate if isinstance(gate, dict) else gate_values(gate)
        return gate_row_representation(row, self.context.get("now") or timezone.now())

    def generic_representation(self, gate):
        """The field-by-field path of DRF, kept to check the direct one against."""
        return super().to_representation(gate)


_DATETIME = serializers.DateTimeField()
_DATE = serializers.DateField()
_DONE = (readiness.CLOSED, readiness.WAIVED, readiness.NOT_APPLICABLE)

# What a gate row of the list needs, read with values() (no model instances per row).
GATE_ROW_FIELDS = (
    "code",
    "title",
    "category__key",
    "severity",
    "weight",
    "stage__name",
    "status",
    "owner__username",
    "due_date",
    "guidance",
    "verification",
    "evidence_url",
    "evidence_note",
    "notes",
    "verified_at",
    "evidence_valid_days",
    "evidence_expires_at",
    "waiver_reason",
    "waiver_approver__username",
    "waiver_expires_at",
    "is_automated",
    "version",
    "updated_at",
)


def gate_values(gate):
    """A gate instance as the row `GATE_ROW_FIELDS` would read."""
    return {
        **{f: getattr(gate, f) for f in GATE_ROW_FIELDS if "__" not in f},
        "category__key": gate.category.key,
        "stage__name": gate.stage.name if gate.stage_id else None,
        "owner__username": gate.owner.username if gate.owner_id else None,
        "waiver_approver__username": gate.waiver_approver.username if gate.waiver_approver_id else None,
    }


def gate_row_representation(row, now):
    dt, day = _DATETIME.to_representation, _DATE.to_representation
    effective = readiness.effective_status(
        readiness.GateInput(
            code=row["code"],
            title=row["title"],
            category=row["category__key"],
            severity=row["severity"],
            weight=row["weight"],
            status=row["status"],
            verified_at=row["verified_at"],
            evidence_valid_days=row["evidence_valid_days"],
            evidence_url=row["evidence_url"],
            evidence_note=row["evidence_note"],
            waiver_reason=row["waiver_reason"],
            waiver_expires_at=row["waiver_expires_at"],
        ),
        now,
    ).effective_status
    due = row["due_date"]
    return {
        "code": row["code"],
        "title": row["title"],
        "category": row["category__key"],
        "severity": row["severity"],
        "weight": row["weight"],
        "stage": row["stage__name"],
        "status": row["status"],
        "effective_status": effective,
        "owner": row["owner__username"],
        "due_date": day(due) if due else None,
        "is_overdue": bool(due and due < timezone.localdate() and row["status"] not in _DONE),
        "guidance": row["guidance"],
        "verification": row["verification"],
        "evidence_url": row["evidence_url"],
        "evidence_note": row["evidence_note"],
        "notes": row["notes"],
        "verified_at": dt(row["verified_at"]) if row["verified_at"] else None,
        "evidence_valid_days": row["evidence_valid_days"],
        "evidence_expires_at": dt(row["evidence_expires_at"]) if row["evidence_expires_at"] else None,
        "waiver_reason": row["waiver_reason"],
        "waiver_approver": row["waiver_approver__username"],
        "waiver_expires_at": dt(row["waiver_expires_at"]) if row["waiver_expires_at"] else None,
        "is_automated": row["is_automated"],
        "version": row["version"],
        "updated_at": dt(row["updated_at"]) if row["updated_at"] else None,
    }


class GateUpdateSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=[s for s in readiness.STATUSES if s != readiness.WAIVED], required=False)
    evidence_url = serializers.URLField(max_length=500, required=False, allow_blank=True)
    evidence_note = serializers.CharField(required=False, allow_blank=True, max_length=10000)
    notes = serializers.CharField(required=False, allow_blank=True, max_length=10000)
    owner = serializers.CharField(
        required=False, allow_null=True, max_length=150, help_text="Username of a project member, or null."
    )
    due_date = serializers.DateField(required=False, allow_null=True)

    def validate_owner(self, value):
        if value in (None, ""):
            return None
        user = user_by_username(value)
        if user is None:
            raise serializers.ValidationError("No user with that username.")
        return user

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError("Send at least one field to change.")
        return attrs


class GateWaiveSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=5000)
    expires_at = serializers.DateTimeField()


class GateUnwaiveSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=[readiness.OPEN, readiness.PARTIAL], default=readiness.OPEN)


class CheckResultInputSerializer(serializers.Serializer):
    passed = serializers.BooleanField()
    source = serializers.CharField(max_length=200, help_text="The system that ran the check, e.g. “ci/load-test”.")
    details = serializers.CharField(required=False, allow_blank=True, default="", max_length=20000)
    data = serializers.DictField(required=False, default=dict, help_text="Any JSON object worth keeping.")

    def validate_data(self, value):
        return storable_json(value)


DATA_MAX_BYTES = 64 * 1024


def storable_json(value):
    """A JSON value the database can keep: valid UTF-8 text without NUL characters, not too big."""
    import json

    def strings(node):
        if isinstance(node, str):
            yield node
        elif isinstance(node, dict):
            for key, item in node.items():
                yield str(key)
                yield from strings(item)
        elif isinstance(node, list):
            for item in node:
                yield from strings(item)

    if any("\x00" in text for text in strings(value)):
        raise serializers.ValidationError("Text in here may not contain NUL characters.")
    try:
        size = len(json.dumps(value, ensure_ascii=False).encode("utf-8"))
    except (UnicodeEncodeError, ValueError, TypeError):
        raise serializers.ValidationError("Text in here must be valid Unicode.") from None
    if size > DATA_MAX_BYTES:
        raise serializers.ValidationError(f"At most {DATA_MAX_BYTES // 1024} KB of JSON.")
    return value


class CheckResultSerializer(serializers.ModelSerializer):
    gate = serializers.CharField(source="gate.code", read_only=True)

    class Meta:
        model = CheckResult
        fields = ("id", "gate", "source", "passed", "details", "data", "received_at")
        read_only_fields = fields


# --- members, sign-offs ------------------------------------------------------------------------


class MembershipSerializer(serializers.ModelSerializer):
    user = UsernameField()
    signoff_roles = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)

    class Meta:
        model = Membership
        fields = ("id", "user", "role", "signoff_roles", "created_at")
        read_only_fields = fields


class MembershipInputSerializer(serializers.Serializer):
    user = serializers.CharField(max_length=150, help_text="Username.")
    role = serializers.ChoiceField(choices=Membership.Role.choices)
    signoff_roles = serializers.ListField(child=serializers.CharField(max_length=100), required=False, default=list)


class MembershipUpdateSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Membership.Role.choices)
    signoff_roles = serializers.ListField(child=serializers.CharField(max_length=100), required=False, default=list)


class SignOffSerializer(serializers.ModelSerializer):
    stage = serializers.SlugRelatedField(slug_field="name", read_only=True)
    role = serializers.SlugRelatedField(slug_field="name", read_only=True)
    user = UsernameField()

    class Meta:
        model = SignOff
        fields = ("id", "stage", "role", "user", "decision", "comment", "signed_at", "state_hash")
        read_only_fields = fields


class SignOffInputSerializer(serializers.Serializer):
    stage = serializers.CharField(max_length=100, help_text="Stage name.")
    role = serializers.CharField(max_length=100, help_text="Sign-off role name.")
    decision = serializers.ChoiceField(choices=readiness.DECISIONS)
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=10000)
    state_hash = serializers.CharField(
        required=False,
        max_length=64,
        help_text="The `state_hash` of the readiness you reviewed (GET …/readiness?stage=…). If the "
        "state moved since, nothing is signed and the answer is 409 with the current readiness.",
    )


class StageUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    target_date = serializers.DateField(required=False, allow_null=True)
    min_score = serializers.FloatField(required=False, allow_null=True, min_value=0, max_value=100)
    min_closed = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=100000)
    required_roles = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False, allow_null=True, max_length=50
    )


# --- history -----------------------------------------------------------------------------------


class SnapshotSerializer(serializers.ModelSerializer):
    class Meta:
        model = ReadinessSnapshot
        fields = ("id", "taken_at", "kind", "stage_name", "score", "verdict", "state_hash")
        read_only_fields = fields


class SnapshotDetailSerializer(SnapshotSerializer):
    class Meta(SnapshotSerializer.Meta):
        fields = (*SnapshotSerializer.Meta.fields, "reasons", "category_scores", "gates", "signoffs")
        read_only_fields = fields


class AuditEventSerializer(serializers.ModelSerializer):
    before = serializers.JSONField(read_only=True)
    after = serializers.JSONField(read_only=True)

    class Meta:
        model = AuditEvent
        fields = (
            "id",
            "created_at",
            "actor_label",
            "channel",
            "action",
            "object_type",
            "object_id",
            "object_repr",
            "before",
            "after",
            "hash",
        )
        read_only_fields = fields


# --- readiness ---------------------------------------------------------------------------------


class CategoryScoreSerializer(serializers.Serializer):
    category = serializers.CharField()
    closed = serializers.IntegerField()
    partial = serializers.IntegerField()
    open = serializers.IntegerField()
    waived = serializers.IntegerField()
    not_applicable = serializers.IntegerField()
    total = serializers.IntegerField()
    score = serializers.FloatField()


class SignOffStateSerializer(serializers.Serializer):
    role = serializers.CharField()
    state = serializers.CharField()
    decision = serializers.CharField(allow_null=True)
    signer = serializers.CharField(allow_blank=True)
    signed_at = serializers.DateTimeField(allow_null=True)
    state_hash = serializers.CharField(allow_null=True)
    comment = serializers.CharField(allow_blank=True)


class ReadinessSerializer(serializers.Serializer):
    """The readiness of a project for one stage (documentation of the readiness endpoint's body)."""

    project = serializers.CharField()
    stage = serializers.CharField(allow_null=True)
    score = serializers.FloatField()
    verdict = serializers.ChoiceField(choices=readiness.VERDICTS)
    reasons = serializers.ListField(child=serializers.CharField())
    categories = CategoryScoreSerializer(many=True)
    signoffs = SignOffStateSerializer(many=True)
    counts = serializers.DictField(child=serializers.IntegerField())
    state_hash = serializers.CharField()
    computed_at = serializers.DateTimeField(allow_null=True)
