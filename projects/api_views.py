"""/api/v1/ views of projects, gates, stages, members, sign-offs, snapshots, audit events.

Reads: a queryset from `projects.selectors` (through `portal.api_common`, which adds the token's
project limits), a FilterSet, ordering and pagination. Writes: an input serializer, one service
call, an output serializer. Errors become the one JSON shape in `api_exception_handler`.
"""

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import FETCH_PEERS, Count, Prefetch
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from audits.models import AuditEvent, ReadinessSnapshot
from gates.models import Category, GateDefinition, GateTemplate
from portal.api_common import SIGNOFF, AuditCursorPagination, api_actor, api_project_get, api_project_list

from . import services
from .api_filters import AuditEventFilter, ProjectFilter, SnapshotFilter
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
from .models import Project, SignOffRole, Stage
from .selectors import (
    audit_events_for_project,
    membership_get,
    memberships_for_project,
    signoff_get,
    signoffs_for_project,
    snapshot_get,
    snapshot_list,
    stage_get,
    stage_list,
)

User = get_user_model()

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
            stage = project.stages.filter(name=stage_name).first()
            if stage is None:
                raise ValidationError({"current_stage": ["No stage of this project has that name."]})
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
    roles = list(SignOffRole.objects.filter(project=project, name__in=names))
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
        user = User.objects.filter(username=data["user"], is_active=True).first()
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


@extend_schema(tags=["sign-offs"], parameters=[SLUG])
class SignOffListView(generics.ListAPIView):
    """Sign-offs given on the project, by stage and role. Giving one needs a signoff-scoped token."""

    serializer_class = SignOffSerializer
    filter_backends = []
    required_scope = SIGNOFF_SCOPE

    def get_queryset(self):
        return signoffs_for_project(api_project_get(self.request, self.kwargs["slug"])).fetch_mode(FETCH_PEERS)

    @extend_schema(
        request=SignOffInputSerializer,
        responses={201: SignOffSerializer, **ERROR_RESPONSES},
    )
    def post(self, request, slug):
        """Sign a stage off for a role you hold, bound to the project's state at this moment."""
        project = api_project_get(request, slug)
        data = validated(SignOffInputSerializer, request.data)
        stage = project.stages.filter(name=data["stage"]).first()
        role = SignOffRole.objects.filter(project=project, name=data["role"]).first()
        errors = {}
        if stage is None:
            errors["stage"] = ["No stage of this project has that name."]
        if role is None:
            errors["role"] = ["No sign-off role of this project has that name."]
        if errors:
            raise ValidationError(errors)
        signoff = services.signoff_give(
            actor=api_actor(request),
            project=project,
            stage=stage,
            role=role,
            decision=data["decision"],
            comment=data["comment"],
        )
        return Response(SignOffSerializer(signoff_get(project, signoff.pk)).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["sign-offs"], parameters=[SLUG, OpenApiParameter("id", int, OpenApiParameter.PATH)])
class SignOffDetailView(generics.GenericAPIView):
    serializer_class = SignOffSerializer
    required_scope = SIGNOFF_SCOPE

    def get(self, request, slug, id):
        return Response(SignOffSerializer(signoff_get(api_project_get(request, slug), id)).data)

    @extend_schema(responses={204: None, **ERROR_RESPONSES})
    def delete(self, request, slug, id):
        """Revoke a sign-off (its signer, or a project owner)."""
        project = api_project_get(request, slug)
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
        return GateTemplate.objects.annotate(gate_count=Count("definitions")).order_by("name", "-version")


@extend_schema(tags=["catalog"], parameters=[OpenApiParameter("id", int, OpenApiParameter.PATH)])
class GateTemplateDetailView(generics.GenericAPIView):
    serializer_class = GateTemplateDetailSerializer

    def get(self, request, id):
        template = (
            GateTemplate.objects.annotate(gate_count=Count("definitions"))
            .prefetch_related(
                Prefetch("definitions", queryset=GateDefinition.objects.select_related("category").order_by("order"))
            )
            .filter(pk=id)
            .first()
        )
        if template is None:
            raise Http404("No such gate template.")
        return Response(GateTemplateDetailSerializer(template).data)


@extend_schema(tags=["catalog"])
class CategoryListView(generics.ListAPIView):
    """Gate categories, in display order."""

    serializer_class = CategorySerializer
    filter_backends = []

    def get_queryset(self):
        return Category.objects.order_by("order", "name")
