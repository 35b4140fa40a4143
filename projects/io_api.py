"""/api/v1/ endpoints for Markdown import and for exports.

- `POST imports/preview`: what a document would import (into a project, or a new one); writes nothing.
- `POST imports/project`: preview (`dry_run`) or create a new project from a document; the
  token's user owns it.
- `POST imports/template`: preview (`dry_run`) or create a gate template from a document (staff).
- `POST projects/{slug}/import`: preview (`dry_run`) or apply a document to a project. Applying with
  the `fingerprint` of a preview refuses (409) if the project changed since that preview.
- `GET projects/{slug}/export?format=md|csv|json`: the decision pack (optionally of a snapshot), the
  gates as CSV, or the whole project as JSON (owners only).

Authentication, scopes, project access and errors come from `portal.api_common`.
"""

from django.http import Http404, HttpResponse
from django.utils.text import slugify
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.response import Response
from rest_framework.views import APIView

from gates.models import GateTemplate
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


class NewProjectImportInputSerializer(ImportInputSerializer):
    name = serializers.CharField(
        max_length=200, required=False, default="", allow_blank=True, help_text="Default: the document's title."
    )
    slug = serializers.SlugField(
        max_length=80, required=False, default="", allow_blank=True, help_text="Default: from the name."
    )
    template = serializers.SlugRelatedField(
        slug_field="id",
        queryset=GateTemplate.objects.all(),
        required=False,
        allow_null=True,
        default=None,
        help_text="Id of a gate template whose gates the document's items update (optional).",
    )
    dry_run = serializers.BooleanField(required=False, default=False, help_text="Only preview; write nothing.")


class TemplateImportInputSerializer(ImportInputSerializer):
    name = serializers.CharField(max_length=200, help_text="The template's name.")
    key = serializers.SlugField(
        max_length=80, required=False, default="", allow_blank=True, help_text="Default: from the name."
    )
    dry_run = serializers.BooleanField(required=False, default=False, help_text="Only preview; write nothing.")


class PreviewCountsSerializer(serializers.Serializer):
    gates = serializers.IntegerField()
    create = serializers.IntegerField()
    update = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    unreadable = serializers.IntegerField()
    skipped = serializers.IntegerField(help_text="Item-like lines left out on purpose (see `skipped`).")
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


class SkippedLinesSerializer(serializers.Serializer):
    line_no = serializers.IntegerField(help_text="The first of the lines (1-based).")
    last_line_no = serializers.IntegerField()
    line_nos = serializers.ListField(child=serializers.IntegerField(), help_text="Every line left out.")
    section = serializers.CharField(allow_blank=True, help_text="The headings they sit under, outermost first.")
    reason = serializers.CharField(
        help_text='Why they are not gates: "no status", "post-launch", "summary section", "summary table"…'
    )
    line = serializers.CharField(help_text="The first of the lines, as written.")


class DiscrepancySerializer(serializers.Serializer):
    line_no = serializers.IntegerField()
    line = serializers.CharField()
    text = serializers.CharField(help_text='What the document claims, e.g. "16/17 features ready".')
    scope = serializers.CharField()
    status = serializers.ChoiceField(choices=STATUS_CHOICES)
    claimed = serializers.IntegerField()
    total = serializers.IntegerField(allow_null=True)
    actual = serializers.IntegerField(help_text="What the items say.")
    actual_total = serializers.IntegerField(
        allow_null=True, help_text="The items in scope; for a percentage, the applicable ones (not waived nor N/A)."
    )
    percent = serializers.BooleanField(
        help_text='A percentage ("95% complete"): `claimed` is per cent of closed items.'
    )
    actual_percent = serializers.FloatField(
        allow_null=True, help_text="For a percentage: the closed share of the applicable items, in per cent."
    )


class PreviewSerializer(serializers.Serializer):
    title = serializers.CharField(allow_blank=True)
    repaired_encoding = serializers.BooleanField(help_text="Emoji garbled by a wrong encoding were repaired.")
    encoding = serializers.CharField(
        help_text='What the document was decoded as: "utf-8", or "cp1252" / "mac_roman" for an uploaded '
        "file that was not UTF-8 (text sent as JSON is always utf-8)."
    )
    notices = serializers.ListField(child=serializers.CharField(), help_text="What the reader should check.")
    score = serializers.FloatField(allow_null=True, help_text="The score the document states, if any.")
    verdict = serializers.ChoiceField(choices=readiness.VERDICTS, allow_null=True)
    target = serializers.CharField(allow_null=True)
    signoff_roles = serializers.ListField(child=serializers.CharField())
    fingerprint = serializers.CharField(help_text="Send it back with the import to apply exactly this preview.")
    counts = PreviewCountsSerializer()
    categories = PreviewCategorySerializer(many=True)
    gates = PreviewGateSerializer(many=True)
    unreadable = UnreadableLineSerializer(many=True)
    skipped = SkippedLinesSerializer(
        many=True, help_text="Item-like lines that are not gates on purpose, grouped by section and reason."
    )
    discrepancies = DiscrepancySerializer(many=True)


class ImportResultSerializer(serializers.Serializer):
    applied = serializers.BooleanField(help_text="False for a dry run.")
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    preview = PreviewSerializer()


class NewProjectImportResultSerializer(serializers.Serializer):
    applied = serializers.BooleanField(help_text="False for a dry run.")
    project = serializers.CharField(allow_null=True, help_text="The new project's slug (null for a dry run).")
    gates = serializers.IntegerField(help_text="Gates the project has (or would have, for a dry run).")
    preview = PreviewSerializer()


class TemplateImportResultSerializer(serializers.Serializer):
    applied = serializers.BooleanField(help_text="False for a dry run.")
    template = serializers.IntegerField(allow_null=True, help_text="The new template's id (null for a dry run).")
    key = serializers.CharField()
    version = serializers.IntegerField(allow_null=True)
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


def _new_project_name(data, document):
    return (data["name"] or document.title or "Imported project")[:200]


@extend_schema(tags=["import and export"])
class NewProjectImportView(APIView):
    required_scope = WRITE

    @extend_schema(
        request=NewProjectImportInputSerializer,
        responses={
            200: NewProjectImportResultSerializer,
            201: NewProjectImportResultSerializer,
            409: OpenApiResponse(description="The slug is taken."),
            **ERRORS,
        },
    )
    def post(self, request):
        """Create a new project from a Markdown document (optionally on a gate template); the
        token's user owns it. With `dry_run` (200) it only previews and writes nothing; otherwise the
        project is created (201) with every gate audited."""
        data = _input(NewProjectImportInputSerializer, request)
        document = parse_markdown(data["markdown"])
        template = data["template"]
        plan = imports.import_plan(document=document, template=template)
        if data["dry_run"]:
            # A template's gates all come along; the items that match none of them are added.
            gates = template.definitions.count() + plan.count("create") if template else len(plan.gates)
            body = {"applied": False, "project": None, "gates": gates}
            return Response({**body, "preview": plan.preview()})
        name = _new_project_name(data, document)
        project = imports.import_new_project(
            actor=api_actor(request),
            document=document,
            name=name,
            slug=data["slug"] or slugify(name)[:80],
            template=template,
            source=data["source"] or "API",
        )
        body = {"applied": True, "project": project.slug, "gates": project.gates.count(), "preview": plan.preview()}
        return Response(body, status=status.HTTP_201_CREATED)


@extend_schema(tags=["import and export"])
class TemplateImportView(APIView):
    required_scope = WRITE

    @extend_schema(
        request=TemplateImportInputSerializer,
        responses={200: TemplateImportResultSerializer, 201: TemplateImportResultSerializer, **ERRORS},
    )
    def post(self, request):
        """Make a gate template from a Markdown document (staff only). Statuses are not part of a
        template; an existing key gets its next version. With `dry_run` (200) nothing is written."""
        if not request.user.is_staff:
            raise PermissionDenied("Only the back office may add gate templates.")
        data = _input(TemplateImportInputSerializer, request)
        document = parse_markdown(data["markdown"])
        plan = imports.import_plan(document=document)
        key = slugify(data["key"] or data["name"])[:80]
        if data["dry_run"]:
            body = {"applied": False, "template": None, "key": key, "version": None}
            return Response({**body, "preview": plan.preview()})
        template = imports.import_as_template(
            actor=api_actor(request), document=document, name=data["name"], key=key, source=data["source"] or "API"
        )
        body = {"applied": True, "template": template.pk, "key": template.key, "version": template.version}
        return Response({**body, "preview": plan.preview()}, status=status.HTTP_201_CREATED)


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
