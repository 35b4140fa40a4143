"""/api/v1/ gates (ETag / If-Match), waivers, check results (Idempotency-Key) and readiness (ETag / 304).

A gate's ETag is its version. Every write to a gate must carry `If-Match` with the ETag the
caller read: without it the write is refused with 428, with a stale one with 412 and the current
gate in the body. Nothing is written in either case.

`If-Match: *` is refused with 428 too. RFC 9110 lets `*` match any current representation, so it
would let a write through whatever changed since the caller read the gate: the lost update the
header is required to prevent. If-Match compares strongly (RFC 9110 §13.1.1), so a weak tag
(`W/"3"`) never matches: 412, with the current gate and its (strong) ETag.
"""

import hashlib
import json

from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response

from portal.api_common import (
    PreconditionFailed,
    PreconditionRequired,
    api_actor,
    api_project_get,
    entity_tags,
    error_response,
    etag_value,
)

from . import services
from .api_filters import GateFilter
from .api_serializers import (
    GATE_ROW_FIELDS,
    CheckResultInputSerializer,
    CheckResultSerializer,
    GateSerializer,
    GateUnwaiveSerializer,
    GateUpdateSerializer,
    GateWaiveSerializer,
    ReadinessSerializer,
)
from .models import CheckResult, Project, ProjectGate
from .selectors import (
    check_results_for_gate,
    gate_get,
    gate_list,
    project_readiness,
    readiness_cache_is_current,
    stage_by_name,
    stage_for,
)

SLUG = OpenApiParameter("slug", str, OpenApiParameter.PATH, description="Project slug.")
CODE = OpenApiParameter("code", str, OpenApiParameter.PATH, description="Gate code, e.g. T4.")
IF_MATCH = OpenApiParameter(
    "If-Match",
    str,
    OpenApiParameter.HEADER,
    required=True,
    description='The gate\'s ETag as last read, e.g. `"3"`. Missing, or `*`: 428. Stale, or weak (`W/"3"`: '
    "If-Match compares strongly): 412 with the current gate.",
)
GATE_WRITE_ERRORS = {
    400: OpenApiResponse(description="Invalid input, with field messages."),
    403: OpenApiResponse(description="Viewer, or a token without the write scope."),
    404: OpenApiResponse(description="No such project or gate."),
    412: OpenApiResponse(
        description="Stale or weak If-Match: the body's `current` is the gate as it is now, `ETag` its version."
    ),
    428: OpenApiResponse(description="No If-Match header, or `If-Match: *` (a write must name the version it read)."),
}

IF_MATCH_ANY_REFUSED = (
    'If-Match: * is not accepted here: send the gate\'s ETag as you last read it (e.g. "3"), so that a '
    "change made since is not overwritten."
)
IF_MATCH_WEAK_REFUSED = (
    'If-Match compares ETags strongly, so a weak one (W/"…") never matches: send the gate\'s ETag as '
    'its ETag header gives it (e.g. "3"). Nothing was saved.'
)


def gate_etag(gate):
    return f'"{gate.version}"'


class GateViewMixin:
    """Shared by the gate views: how a gate is rendered, also as the `current` of a 412."""

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "now": timezone.now()}

    def render_current(self, gate):
        gate = gate_get(gate.project, gate.code)
        return GateSerializer(gate, context={"now": timezone.now()}).data

    def current_etag(self, gate):
        return gate_etag(gate)

    def gate_response(self, gate, status_code=200):
        data = GateSerializer(gate, context={"now": timezone.now()}).data
        return Response(data, status=status_code, headers={"ETag": gate_etag(gate)})

    def expected_version(self, request, gate):
        """The version the caller read, from If-Match: 428 without one or for `*`, 412 for weak
        tags only; a stale or malformed version is left to the service to refuse (412)."""
        tags = entity_tags(request.headers.get("If-Match", ""))
        if not tags:
            raise PreconditionRequired()
        if any(value is None for _, value in tags):  # the wildcard *
            raise PreconditionRequired(IF_MATCH_ANY_REFUSED, fields={"If-Match": ["Send the gate's ETag, not *."]})
        strong = [value for weak, value in tags if not weak]
        if not strong:
            raise PreconditionFailed(
                IF_MATCH_WEAK_REFUSED,
                current=self.render_current(gate),
                fields={"If-Match": [f"Weak ETags never match; send {gate_etag(gate)} if that is what you read."]},
                etag=gate_etag(gate),
            )
        if str(gate.version) in strong:
            return gate.version
        # Stale or malformed: let the service compare and refuse with the current state.
        for value in strong:
            if value.isdigit():
                return int(value)
        return 0


@extend_schema(tags=["gates"], parameters=[SLUG])
class GateListView(GateViewMixin, generics.ListAPIView):
    """The project's gates in display order; filter by status, category, severity, owner, overdue, stale."""

    serializer_class = GateSerializer
    queryset = ProjectGate.objects.none()  # the schema's model; requests use get_queryset
    filterset_class = GateFilter
    ordering_fields = ["code", "status", "severity", "weight", "due_date", "updated_at"]

    def get_queryset(self):
        # Only the project's id is needed here: a lean row, and its membership in the same query.
        project = api_project_get(self.request, self.kwargs["slug"], queryset=Project.objects.only("pk", "slug"))
        return gate_list(project)

    def list(self, request, *args, **kwargs):
        # Rows as values(), not model instances: the representation reads plain columns.
        rows = self.paginate_queryset(self.filter_queryset(self.get_queryset()).values(*GATE_ROW_FIELDS))
        return self.get_paginated_response(self.get_serializer(rows, many=True).data)


@extend_schema(tags=["gates"], parameters=[SLUG, CODE])
class GateDetailView(GateViewMixin, generics.GenericAPIView):
    serializer_class = GateSerializer

    @extend_schema(
        responses={200: GateSerializer, 304: OpenApiResponse(description="Unchanged since the If-None-Match ETag.")}
    )
    def get(self, request, slug, code):
        """A gate, with its version as ETag (send it back as If-Match to change the gate)."""
        gate = gate_get(api_project_get(request, slug), code)
        inm = request.headers.get("If-None-Match", "")
        if inm and str(gate.version) in [etag_value(v) for v in inm.split(",")]:
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": gate_etag(gate)})
        return self.gate_response(gate)

    @extend_schema(
        parameters=[IF_MATCH], request=GateUpdateSerializer, responses={200: GateSerializer, **GATE_WRITE_ERRORS}
    )
    def patch(self, request, slug, code):
        """Change status, evidence, owner, due date or notes. Needs If-Match."""
        gate = gate_get(api_project_get(request, slug, write=True), code)
        version = self.expected_version(request, gate)
        serializer = GateUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.gate_update(actor=api_actor(request), gate=gate, version=version, **serializer.validated_data)
        return self.gate_response(gate_get(gate.project, code))


@extend_schema(tags=["gates"], parameters=[SLUG, CODE, IF_MATCH])
class GateWaiveView(GateViewMixin, generics.GenericAPIView):
    serializer_class = GateWaiveSerializer

    @extend_schema(request=GateWaiveSerializer, responses={200: GateSerializer, **GATE_WRITE_ERRORS})
    def post(self, request, slug, code):
        """Waive a gate until an expiry, with a reason (project owners). Needs If-Match."""
        gate = gate_get(api_project_get(request, slug, write=True), code)
        version = self.expected_version(request, gate)
        serializer = GateWaiveSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        services.gate_waive(
            actor=api_actor(request), gate=gate, version=version, reason=data["reason"], expires_at=data["expires_at"]
        )
        return self.gate_response(gate_get(gate.project, code))


@extend_schema(tags=["gates"], parameters=[SLUG, CODE, IF_MATCH])
class GateUnwaiveView(GateViewMixin, generics.GenericAPIView):
    serializer_class = GateUnwaiveSerializer

    @extend_schema(
        request=GateUnwaiveSerializer,
        responses={200: GateSerializer, 409: OpenApiResponse(description="Not waived."), **GATE_WRITE_ERRORS},
    )
    def post(self, request, slug, code):
        """Lift a gate's waiver (project owners); it returns to open or partial. Needs If-Match."""
        gate = gate_get(api_project_get(request, slug, write=True), code)
        version = self.expected_version(request, gate)
        serializer = GateUnwaiveSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.gate_unwaive(
            actor=api_actor(request), gate=gate, version=version, status=serializer.validated_data["status"]
        )
        return self.gate_response(gate_get(gate.project, code))


# --- check results -----------------------------------------------------------------------------

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="Makes retries safe: the same key and body return the first response and record nothing new; "
    "the same key with another body is refused with 409.",
)


def request_fingerprint(data):
    """A stable digest of a validated request body (key order and whitespace do not matter)."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder)
    return hashlib.sha256(canonical.encode()).hexdigest()


@extend_schema(tags=["check results"], parameters=[SLUG, CODE])
class CheckResultListView(generics.ListAPIView):
    """Results pushed or probed for one gate, newest first."""

    serializer_class = CheckResultSerializer
    queryset = CheckResult.objects.none()

    def get_queryset(self):
        gate = gate_get(api_project_get(self.request, self.kwargs["slug"]), self.kwargs["code"])
        self.gate = gate
        return check_results_for_gate(gate).select_related("gate")

    @extend_schema(
        parameters=[IDEMPOTENCY_KEY],
        request=CheckResultInputSerializer,
        responses={
            201: CheckResultSerializer,
            400: OpenApiResponse(description="Invalid input, with field messages."),
            403: OpenApiResponse(description="Viewer, or a token without the write scope."),
            404: OpenApiResponse(description="No such project or gate."),
            409: OpenApiResponse(description="Idempotency-Key already used with a different body."),
        },
    )
    def post(self, request, slug, code):
        """Record a pass or fail from an automated source; an automated gate's status follows it."""
        gate = gate_get(api_project_get(request, slug, write=True), code)
        key = request.headers.get("Idempotency-Key", "").strip()
        if len(key) > services.CHECK_IDEMPOTENCY_KEY_MAX or not key.isprintable():
            return error_response(
                400,
                "The Idempotency-Key header is invalid.",
                fields={"Idempotency-Key": [f"At most {services.CHECK_IDEMPOTENCY_KEY_MAX} printable characters."]},
            )
        serializer = CheckResultInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = services.check_result_record(
            actor=api_actor(request),
            gate=gate,
            passed=data["passed"],
            source=data["source"],
            details=data["details"],
            data=data["data"],
            idempotency_key=key,
            request_fingerprint=request_fingerprint(data) if key else "",
        )
        headers = {"Idempotent-Replayed": "false" if result.created else "true"}
        return Response(CheckResultSerializer(result).data, status=status.HTTP_201_CREATED, headers=headers)


# --- readiness ---------------------------------------------------------------------------------


def readiness_body(project, stage, data, computed_at):
    return {
        "project": project.slug,
        "stage": stage.name if stage is not None else None,
        "score": data["score"],
        "verdict": data["verdict"],
        "reasons": data["reasons"],
        "categories": data["categories"],
        "signoffs": data["signoffs"],
        "counts": data["counts"],
        "state_hash": data["state_hash"],
        "computed_at": computed_at,
    }


def readiness_etag(body):
    # computed_at is left out: the same readiness computed twice is the same representation.
    content = {k: v for k, v in body.items() if k != "computed_at"}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder)
    return '"' + hashlib.sha256(canonical.encode()).hexdigest()[:40] + '"'


class ReadinessQuerySerializer(serializers.Serializer):
    stage = serializers.CharField(
        required=False, allow_blank=True, max_length=100, help_text="Stage name; empty or absent: the current stage."
    )


@extend_schema(tags=["readiness"], parameters=[SLUG])
class ReadinessView(generics.GenericAPIView):
    """Score, verdict, reasons, category breakdown, sign-off state and state hash, for a deploy gate."""

    serializer_class = ReadinessSerializer
    filter_backends = []
    pagination_class = None

    @extend_schema(
        parameters=[
            ReadinessQuerySerializer,
            OpenApiParameter("If-None-Match", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False),
        ],
        responses={
            200: ReadinessSerializer,
            304: OpenApiResponse(description="Unchanged since the If-None-Match ETag."),
            400: OpenApiResponse(description="Unknown stage."),
            404: OpenApiResponse(description="No such project."),
        },
    )
    def get(self, request, slug):
        project = api_project_get(request, slug)
        query = ReadinessQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        stage = None
        if query.validated_data.get("stage"):
            try:
                stage = stage_by_name(project, query.validated_data["stage"])
            except Http404:
                return error_response(400, "No such stage in this project.", fields={"stage": ["Unknown stage."]})
        now = timezone.now()
        judged = stage or project.current_stage
        if (stage is None or stage.pk == project.current_stage_id) and readiness_cache_is_current(project, now):
            body = readiness_body(project, judged, project.readiness, project.computed_at)
        else:
            result = project_readiness(project, stage=stage, now=now)
            judged = stage_for(project, stage)
            body = readiness_body(project, judged, result.to_dict(), now)
        etag = readiness_etag(body)
        headers = {"ETag": etag, "Cache-Control": "private, no-cache", "Vary": "Authorization, Cookie"}
        inm = request.headers.get("If-None-Match", "")
        if inm and (inm.strip() == "*" or etag_value(etag) in [etag_value(v) for v in inm.split(",")]):
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers=headers)
        return Response(body, headers=headers)
