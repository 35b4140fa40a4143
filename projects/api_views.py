"""/api/v1/ views of projects, gates, stages, members, sign-offs, snapshots, audit events.

Reads: a queryset from `projects.selectors` (through `portal.api_common`, which adds the token's
project limits), a FilterSet, ordering and pagination. Writes: an input serializer, one service
call, an output serializer. Errors become the one JSON shape in `api_exception_handler`.
"""

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import FETCH_PEERS, Prefetch
from django.http import Http404
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from audits.models import AuditEvent, ReadinessSnapshot
from portal.api_common import (
    SIGNOFF,
    AuditCursorPagination,
    api_actor,
    api_project_get,
    api_project_list,
    request_token,
)

from . import services
from .api_filters import AuditEventFilter, ProjectFilter, SnapshotFilter
from .api_gates import readiness_body
from .api_serializers import (
    AuditEventSerializer,
    CategorySerializer,
    GateTemplateDetailSerializer,
    GateTemplateSerializer,
    MembershipInputSerializer,
    MembershipSerializer,
    MembershipUpdateSerializer,
    ProjectCreateSerializer,
    ProjectDetailSerializer,
    ProjectSerializer,
    ProjectUpdateSerializer,
    SignOffInputSerializer,
    SignOffSerializer,
    SnapshotDetailSerializer,
    SnapshotSerializer,
    StageSerializer,
    StageUpdateSerializer,
)
from .models import Project, Stage
from .selectors import (
    audit_events_for_project,
    category_list,
    gate_template_get,
    gate_template_list,
    membership_get,
    memberships_for_project,
    signoff_get,
    signoff_roles_by_name,
    signoffs_for_project,
    snapshot_get,
    snapshot_list,
    stage_by_name,
    stage_get,
    stage_list,
    stages_of,
    user_by_username,
)

ERROR_RESPONSES = {
    400: OpenApiResponse(description="Invalid input (the one error shape, with field messages)."),
    403: OpenApiResponse(description="Not allowed for this user or token scope."),
    404: OpenApiResponse(description="No such project (or not visible to this user or token)."),
}

SLUG = OpenApiParameter("slug", str, OpenApiParameter.PATH, description="Project slug.")


def project_detail_queryset():
    return Project.objects.select_related("current_stage", "template", "owner").prefetch_related(
        Prefetch("stages", queryset=Stage.objects.order_by("order").prefetch_related("required_roles"))
    )


@extend_schema(tags=["projects"])
class ProjectListView(generics.ListAPIView):
    """Projects the caller may see (a token's project limits apply), filtered and ordered."""

    serializer_class = ProjectSerializer
    filterset_class = ProjectFilter
    ordering_fields = ["name", "slug", "target_launch_date", "score", "verdict", "created_at", "updated_at"]
    ordering = ["name", "slug"]

    def get_queryset(self):
        return api_project_list(self.request).select_related("template").fetch_mode(FETCH_PEERS)

    @extend_schema(
        request=ProjectCreateSerializer,
        responses={201: ProjectDetailSerializer, **ERROR_RESPONSES},
        summary="Create a project from a gate template",
    )
    def post(self, request):
        data = validated(ProjectCreateSerializer, request.data)
        project = services.project_create_from_template(
            actor=api_actor(request),
            template=data["template"],
            name=data["name"],
            slug=data.get("slug", ""),
            description=data.get("description", ""),
            target_launch_date=data.get("target_launch_date"),
            stages=data.get("stages"),
        )
        project = project_detail_queryset().get(pk=project.pk)
        return Response(ProjectDetailSerializer(project).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["projects"], parameters=[SLUG])
class ProjectDetailView(generics.GenericAPIView):
    serializer_class = ProjectDetailSerializer

    @extend_schema(responses={200: ProjectDetailSerializer, 404: ERROR_RESPONSES[404]})
    def get(self, request, slug):
        project = api_project_get(request, slug, queryset=project_detail_queryset())
        return Response(ProjectDetailSerializer(project).data)

    @extend_schema(request=ProjectUpdateSerializer, responses={200: ProjectDetailSerializer, **ERROR_RESPONSES})
    def patch(self, request, slug):
        """Change name, description, launch date, lifecycle or current stage (project owners)."""
        project = api_project_get(request, slug, own=True)
        data = validated(ProjectUpdateSerializer, request.data)
        stage_name = data.pop("current_stage", None)
        stage = None
        if stage_name is not None:
            try:
                stage = stage_by_name(project, stage_name)
            except Http404:
                raise ValidationError({"current_stage": ["No stage of this project has that name."]}) from None
        actor = api_actor(request)
        with transaction.atomic():  # both changes or neither
            if data:
                services.project_update(actor=actor, project=project, **data)
            if stage is not None:
                services.project_change_stage(actor=actor, project=project, stage=stage)
        return Response(ProjectDetailSerializer(project_detail_queryset().get(pk=project.pk)).data)


def validated(serializer_class, data, **kwargs):
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def roles_by_name(project, names, field="signoff_roles"):
    """The project's sign-off roles with these names (400 naming the unknown ones)."""
    names = list(dict.fromkeys(names or []))
    roles = signoff_roles_by_name(project, names)
    unknown = sorted(set(names) - {r.name for r in roles})
    if unknown:
        raise ValidationError({field: [f"Unknown sign-off role(s): {', '.join(unknown)}."]})
    return roles


# --- stages ------------------------------------------------------------------------------------


@extend_schema(tags=["stages"], parameters=[SLUG])
class StageListView(generics.ListAPIView):
    """The project's stages with their criteria, in order."""

    serializer_class = StageSerializer
    filter_backends = []

    def get_queryset(self):
        return stage_list(api_project_get(self.request, self.kwargs["slug"]))


@extend_schema(tags=["stages"], parameters=[SLUG, OpenApiParameter("id", int, OpenApiParameter.PATH)])
class StageDetailView(generics.GenericAPIView):
    serializer_class = StageSerializer

    def get(self, request, slug, id):
        return Response(StageSerializer(stage_get(api_project_get(request, slug), id)).data)

    @extend_schema(request=StageUpdateSerializer, responses={200: StageSerializer, **ERROR_RESPONSES})
    def patch(self, request, slug, id):
        """Change a stage's name, target date or criteria (project owners)."""
        project = api_project_get(request, slug, own=True)
        stage = stage_get(project, id)
        data = validated(StageUpdateSerializer, request.data)
        roles = data.pop("required_roles", None)
        if roles is not None:
            roles = roles_by_name(project, roles, field="required_roles")
        services.stage_update(actor=api_actor(request), stage=stage, required_roles=roles, **data)
        return Response(StageSerializer(stage_get(project, id)).data)


# --- members -----------------------------------------------------------------------------------

USERNAME = OpenApiParameter("username", str, OpenApiParameter.PATH)


@extend_schema(tags=["members"], parameters=[SLUG])
class MemberListView(generics.ListAPIView):
    """The project's members, their roles and the sign-off roles they hold."""

    serializer_class = MembershipSerializer
    filter_backends = []

    def get_queryset(self):
        return memberships_for_project(api_project_get(self.request, self.kwargs["slug"])).fetch_mode(FETCH_PEERS)

    @extend_schema(
        request=MembershipInputSerializer,
        responses={201: MembershipSerializer, 409: OpenApiResponse(description="Already a member."), **ERROR_RESPONSES},
    )
    def post(self, request, slug):
        """Add a member (project owners)."""
        project = api_project_get(request, slug, own=True)
        data = validated(MembershipInputSerializer, request.data)
        user = user_by_username(data["user"], active_only=True)
        if user is None:
            raise ValidationError({"user": ["No active user with that username."]})
        services.member_add(
            actor=api_actor(request),
            project=project,
            user=user,
            role=data["role"],
            signoff_roles=roles_by_name(project, data["signoff_roles"]),
        )
        return Response(
            MembershipSerializer(membership_get(project, user.username)).data, status=status.HTTP_201_CREATED
        )


@extend_schema(tags=["members"], parameters=[SLUG, USERNAME])
class MemberDetailView(generics.GenericAPIView):
    serializer_class = MembershipSerializer

    def get(self, request, slug, username):
        return Response(MembershipSerializer(membership_get(api_project_get(request, slug), username)).data)

    @extend_schema(request=MembershipUpdateSerializer, responses={200: MembershipSerializer, **ERROR_RESPONSES})
    def patch(self, request, slug, username):
        """Change a member's role and sign-off roles (project owners; a project keeps an owner)."""
        project = api_project_get(request, slug, own=True)
        membership = membership_get(project, username)
        data = validated(MembershipUpdateSerializer, request.data)
        services.member_update(
            actor=api_actor(request),
            membership=membership,
            role=data["role"],
            signoff_roles=roles_by_name(project, data["signoff_roles"]),
        )
        return Response(MembershipSerializer(membership_get(project, username)).data)

    @extend_schema(responses={204: None, **ERROR_RESPONSES})
    def delete(self, request, slug, username):
        """Remove a member (project owners; the last owner stays)."""
        project = api_project_get(request, slug, own=True)
        services.member_remove(actor=api_actor(request), membership=membership_get(project, username))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- sign-offs ---------------------------------------------------------------------------------

SIGNOFF_SCOPE = {"POST": SIGNOFF, "DELETE": SIGNOFF}


def refuse_session_signoff(request, project):
    """Sign-offs over the API need a signoff-scoped token. A browser session would otherwise sign
    without the recent re-authentication the sign-off page asks for, so it is sent there."""
    if request_token(request) is None:
        page = reverse("projects:signoff", args=[project.slug])
        raise PermissionDenied(
            "Over the API, sign-offs are given and revoked only with a signoff-scoped token. "
            f"From the browser, use the sign-off page ({page}): it asks you to confirm who you are first."
        )


SIGNOFF_ERRORS = {
    **ERROR_RESPONSES,
    403: OpenApiResponse(
        description="No signoff-scoped token (sessions sign on the sign-off page), or no such sign-off role held."
    ),
}


@extend_schema(tags=["sign-offs"], parameters=[SLUG])
class SignOffListView(generics.ListAPIView):
    """Sign-offs given on the project, by stage and role. Giving one needs a signoff-scoped token."""

    serializer_class = SignOffSerializer
    filter_backends = []
    required_scope = SIGNOFF_SCOPE

    def get_queryset(self):
        return signoffs_for_project(api_project_get(self.request, self.kwargs["slug"])).fetch_mode(FETCH_PEERS)

    def render_current(self, result):
        """The readiness as it is now, when the `state_hash` sent is no longer current (409)."""
        project, stage = self.signing
        return readiness_body(project, stage, result.to_dict(), timezone.now())

    @extend_schema(
        request=SignOffInputSerializer,
        responses={
            201: SignOffSerializer,
            409: OpenApiResponse(
                description="The state moved since the `state_hash` sent: nothing was signed; `current` is the "
                "readiness now (as `GET …/readiness`)."
            ),
            **SIGNOFF_ERRORS,
        },
    )
    def post(self, request, slug):
        """Sign a stage off for a role you hold, bound to the project's state at this moment
        (signoff-scoped token only). Send the `state_hash` you reviewed to sign only that state."""
        project = api_project_get(request, slug)
        refuse_session_signoff(request, project)
        data = validated(SignOffInputSerializer, request.data)
        stage = next((s for s in stages_of(project) if s.name == data["stage"]), None)
        role = next(iter(signoff_roles_by_name(project, [data["role"]])), None)
        errors = {}
        if stage is None:
            errors["stage"] = ["No stage of this project has that name."]
        if role is None:
            errors["role"] = ["No sign-off role of this project has that name."]
        if errors:
            raise ValidationError(errors)
        self.signing = (project, stage)
        signoff = services.signoff_give(
            actor=api_actor(request),
            project=project,
            stage=stage,
            role=role,
            decision=data["decision"],
            comment=data["comment"],
            state_hash=data.get("state_hash"),
        )
        return Response(SignOffSerializer(signoff_get(project, signoff.pk)).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["sign-offs"], parameters=[SLUG, OpenApiParameter("id", int, OpenApiParameter.PATH)])
class SignOffDetailView(generics.GenericAPIView):
    serializer_class = SignOffSerializer
    required_scope = SIGNOFF_SCOPE

    def get(self, request, slug, id):
        return Response(SignOffSerializer(signoff_get(api_project_get(request, slug), id)).data)

    @extend_schema(responses={204: None, **SIGNOFF_ERRORS})
    def delete(self, request, slug, id):
        """Revoke a sign-off (its signer, or a project owner; signoff-scoped token only)."""
        project = api_project_get(request, slug)
        refuse_session_signoff(request, project)
        services.signoff_revoke(actor=api_actor(request), signoff=signoff_get(project, id))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- history -----------------------------------------------------------------------------------


@extend_schema(tags=["history"], parameters=[SLUG])
class SnapshotListView(generics.ListAPIView):
    """Frozen readiness snapshots of the project, newest first."""

    serializer_class = SnapshotSerializer
    queryset = ReadinessSnapshot.objects.none()  # the schema's model; requests use get_queryset
    filterset_class = SnapshotFilter

    def get_queryset(self):
        return snapshot_list(api_project_get(self.request, self.kwargs["slug"]))


@extend_schema(tags=["history"], parameters=[SLUG, OpenApiParameter("id", int, OpenApiParameter.PATH)])
class SnapshotDetailView(generics.GenericAPIView):
    serializer_class = SnapshotDetailSerializer

    def get(self, request, slug, id):
        return Response(SnapshotDetailSerializer(snapshot_get(api_project_get(request, slug), id)).data)


@extend_schema(tags=["history"], parameters=[SLUG])
class AuditEventListView(generics.ListAPIView):
    """The project's audit history, newest first, paged by cursor (stable while events are added)."""

    serializer_class = AuditEventSerializer
    queryset = AuditEvent.objects.none()
    filterset_class = AuditEventFilter
    pagination_class = AuditCursorPagination

    def get_queryset(self):
        return audit_events_for_project(api_project_get(self.request, self.kwargs["slug"]))


# --- catalog -----------------------------------------------------------------------------------


@extend_schema(tags=["catalog"])
class GateTemplateListView(generics.ListAPIView):
    """Gate templates a project can be created from."""

    serializer_class = GateTemplateSerializer
    filter_backends = []

    def get_queryset(self):
        return gate_template_list()


@extend_schema(tags=["catalog"], parameters=[OpenApiParameter("id", int, OpenApiParameter.PATH)])
class GateTemplateDetailView(generics.GenericAPIView):
    serializer_class = GateTemplateDetailSerializer

    def get(self, request, id):
        return Response(GateTemplateDetailSerializer(gate_template_get(id)).data)


@extend_schema(tags=["catalog"])
class CategoryListView(generics.ListAPIView):
    """Gate categories, in display order."""

    serializer_class = CategorySerializer
    filter_backends = []

    def get_queryset(self):
        return category_list()
