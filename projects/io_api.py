"""/api/v1/ endpoints for Markdown import and for exports.

- `POST imports/preview`: what a document would import (into a project, or a new one); writes nothing.
- `POST projects/{slug}/import`: preview (`dry_run`) or apply a document to a project. Applying with
  the `fingerprint` of a preview refuses (409) if the project changed since that preview.
- `GET projects/{slug}/export?format=md|csv|json`: the decision pack (optionally of a snapshot), the
  gates as CSV, or the whole project as JSON (owners only).

Authentication, scopes, project access and errors come from `portal.api_common`.
"""

from django.http import Http404, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.api_common import READ, WRITE, api_actor, api_project_get

from . import exports, imports, readiness
from .markdown.parser import parse_markdown
from .models import SEVERITY_CHOICES, STATUS_CHOICES

MAX_MARKDOWN_CHARS = 2 * 1024 * 1024


class ImportInputSerializer(serializers.Serializer):
    markdown = serializers.CharField(
        max_length=MAX_MARKDOWN_CHARS, trim_whitespace=False, help_text="The readiness document, as Markdown text."
    )
    source = serializers.CharField(
        max_length=200, required=False, default="", help_text="A name for the audit history, e.g. the file name."
    )


class PreviewInputSerializer(ImportInputSerializer):
    project = serializers.SlugField(
        required=False, help_text="Preview an import into this project (you must be able to change it)."
    )


class ProjectImportInputSerializer(ImportInputSerializer):
    dry_run = serializers.BooleanField(required=False, default=False, help_text="Only preview; write nothing.")
    fingerprint = serializers.CharField(
        required=False,
        default="",
        max_length=64,
        help_text="The fingerprint of the preview you approved: the import is refused (409) if it changed.",
    )


class PreviewCountsSerializer(serializers.Serializer):
    gates = serializers.IntegerField()
    create = serializers.IntegerField()
    update = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    unreadable = serializers.IntegerField()
    discrepancies = serializers.IntegerField()
    open = serializers.IntegerField()
    partial = serializers.IntegerField()
    closed = serializers.IntegerField()
    waived = serializers.IntegerField()
    not_applicable = serializers.IntegerField()


class PreviewCategorySerializer(serializers.Serializer):
    name = serializers.CharField()
    key = serializers.CharField(allow_null=True, help_text="The built-in category, or null for a custom one.")
    open = serializers.IntegerField()
    partial = serializers.IntegerField()
    closed = serializers.IntegerField()
    waived = serializers.IntegerField()
    not_applicable = serializers.IntegerField()
    total = serializers.IntegerField()


class PreviewGateSerializer(serializers.Serializer):
    line_no = serializers.IntegerField(help_text="The line of the document the gate was read from (1-based).")
    line = serializers.CharField()
    action = serializers.ChoiceField(choices=["create", "update", "unchanged"])
    code = serializers.CharField()
    title = serializers.CharField()
    category = serializers.CharField()
    category_key = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=STATUS_CHOICES)
    severity = serializers.ChoiceField(choices=SEVERITY_CHOICES, allow_null=True)
    notes = serializers.CharField(allow_blank=True)
    changes = serializers.DictField(help_text='Per changed field: {"from": …, "to": …}.')


class UnreadableLineSerializer(serializers.Serializer):
    line_no = serializers.IntegerField()
    line = serializers.CharField(allow_blank=True)
    reason = serializers.CharField()


class DiscrepancySerializer(serializers.Serializer):
    line_no = serializers.IntegerField()
    line = serializers.CharField()
    text = serializers.CharField(help_text='What the document claims, e.g. "16/17 features ready".')
    scope = serializers.CharField()
    status = serializers.ChoiceField(choices=STATUS_CHOICES)
    claimed = serializers.IntegerField()
    total = serializers.IntegerField(allow_null=True)
    actual = serializers.IntegerField(help_text="What the items say.")
    actual_total = serializers.IntegerField(allow_null=True)


class PreviewSerializer(serializers.Serializer):
    title = serializers.CharField(allow_blank=True)
    repaired_encoding = serializers.BooleanField(help_text="Emoji garbled by a wrong encoding were repaired.")
    score = serializers.FloatField(allow_null=True, help_text="The score the document states, if any.")
    verdict = serializers.ChoiceField(choices=readiness.VERDICTS, allow_null=True)
    target = serializers.CharField(allow_null=True)
    signoff_roles = serializers.ListField(child=serializers.CharField())
    fingerprint = serializers.CharField(help_text="Send it back with the import to apply exactly this preview.")
    counts = PreviewCountsSerializer()
    categories = PreviewCategorySerializer(many=True)
    gates = PreviewGateSerializer(many=True)
    unreadable = UnreadableLineSerializer(many=True)
    discrepancies = DiscrepancySerializer(many=True)


class ImportResultSerializer(serializers.Serializer):
    applied = serializers.BooleanField(help_text="False for a dry run.")
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    preview = PreviewSerializer()


ERRORS = {
    400: OpenApiResponse(description="Invalid input (the one error shape, with field messages)."),
    403: OpenApiResponse(description="Not allowed for this user or token scope."),
    404: OpenApiResponse(description="No such project (or not visible to this user or token)."),
}
SLUG = OpenApiParameter("slug", str, OpenApiParameter.PATH, description="Project slug.")


def _input(serializer_class, request):
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


@extend_schema(tags=["import and export"])
class ImportPreviewView(APIView):
    required_scope = READ

    @extend_schema(request=PreviewInputSerializer, responses={200: PreviewSerializer, **ERRORS})
    def post(self, request):
        """Preview a Markdown import: counts by category and status, every gate with its source line,
        the lines that could not be read and the summary claims that disagree with the items.
        Nothing is written."""
        data = _input(PreviewInputSerializer, request)
        project = api_project_get(request, data["project"], write=True) if data.get("project") else None
        plan = imports.import_plan(document=parse_markdown(data["markdown"]), project=project)
        return Response(plan.preview())


@extend_schema(tags=["import and export"], parameters=[SLUG])
class ProjectImportView(APIView):
    required_scope = WRITE

    @extend_schema(
        request=ProjectImportInputSerializer,
        responses={
            200: ImportResultSerializer,
            409: OpenApiResponse(description="The project changed since the preview with this fingerprint."),
            **ERRORS,
        },
    )
    def post(self, request, slug):
        """Import a Markdown document into a project (owners and editors; waivers need an owner).
        Matching gates (by code, else title) are updated, the rest created, every change audited.
        With `dry_run` nothing is written."""
        project = api_project_get(request, slug, write=True)
        data = _input(ProjectImportInputSerializer, request)
        document = parse_markdown(data["markdown"])
        if data["dry_run"]:
            plan = imports.import_plan(document=document, project=project)
            applied = False
        else:
            plan = imports.import_into_project(
                actor=api_actor(request),
                project=project,
                document=document,
                source=data["source"] or "API",
                expected_fingerprint=data["fingerprint"] or None,
            )
            applied = True
        return Response(
            {
                "applied": applied,
                "created": plan.count("create"),
                "updated": plan.count("update"),
                "unchanged": plan.count("unchanged"),
                "preview": plan.preview(),
            }
        )


EXPORT_CONTENT_TYPES = {
    "md": "text/markdown; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
}


class FormatIsTheExport(DefaultContentNegotiation):
    """`?format=` names the export here, not a renderer: errors are still rendered as JSON."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


@extend_schema(tags=["import and export"])
class ProjectExportView(APIView):
    required_scope = READ
    content_negotiation_class = FormatIsTheExport

    @extend_schema(
        parameters=[
            SLUG,
            OpenApiParameter(
                "format", str, enum=["md", "csv", "json"], required=True, description="md, csv or json (owners)."
            ),
            OpenApiParameter("snapshot", int, required=False, description="Decision pack of this snapshot (md)."),
        ],
        responses={
            (200, "text/markdown"): OpenApiResponse(OpenApiTypes.STR, description="The decision pack."),
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="One row per gate."),
            (200, "application/json"): OpenApiResponse(OpenApiTypes.OBJECT, description="The whole project."),
            **ERRORS,
        },
    )
    def get(self, request, slug):
        """Export a project: the Markdown decision pack (of now or of a snapshot), the gates as CSV, or
        the whole project as JSON (owners only: restore it with `manage.py restore_project`)."""
        fmt = request.query_params.get("format", "")
        if fmt not in EXPORT_CONTENT_TYPES:
            raise ValidationError({"format": ["Choose md, csv or json."]})
        project = api_project_get(request, slug, own=fmt == "json")
        snapshot = None
        if request.query_params.get("snapshot"):
            if fmt != "md":
                raise ValidationError({"snapshot": ["Only the Markdown decision pack has snapshots."]})
            try:
                snapshot = project.snapshots.get(pk=int(request.query_params["snapshot"]))
            except (ValueError, project.snapshots.model.DoesNotExist):
                raise Http404("No such snapshot.") from None
        if fmt == "md":
            body = exports.export_markdown(project, snapshot=snapshot)
        elif fmt == "csv":
            body = exports.export_csv(project)
        else:
            body = exports.export_json_text(project)
        response = HttpResponse(body, content_type=EXPORT_CONTENT_TYPES[fmt])
        response["Content-Disposition"] = f'attachment; filename="{project.slug}.{fmt}"'
        return response
