"""/api/v1/ views of projects, gates, stages, members, sign-offs, snapshots, audit events.

Reads: a queryset from `projects.selectors` (through `portal.api_common`, which adds the token's
project limits), a FilterSet, ordering and pagination. Writes: an input serializer, one service
call, an output serializer. Errors become the one JSON shape in `api_exception_handler`.
"""

from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.response import Response

from portal.api_common import api_actor, api_project_get, api_project_list

from . import services
from .api_filters import ProjectFilter
from .api_serializers import ProjectCreateSerializer, ProjectDetailSerializer, ProjectSerializer
from .models import Project, Stage

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
        return api_project_list(self.request).select_related("template")

    @extend_schema(
        request=ProjectCreateSerializer,
        responses={201: ProjectDetailSerializer, **ERROR_RESPONSES},
        summary="Create a project from a gate template",
    )
    def post(self, request):
        data = self._validated(ProjectCreateSerializer, request.data)
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

    @staticmethod
    def _validated(serializer_class, data):
        serializer = serializer_class(data=data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


@extend_schema(tags=["projects"], parameters=[SLUG])
class ProjectDetailView(generics.GenericAPIView):
    serializer_class = ProjectDetailSerializer

    @extend_schema(responses={200: ProjectDetailSerializer, 404: ERROR_RESPONSES[404]})
    def get(self, request, slug):
        project = api_project_get(request, slug, queryset=project_detail_queryset())
        return Response(ProjectDetailSerializer(project).data)
