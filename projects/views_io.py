"""Import and export pages. Thin: reads through `selectors`, writes through `imports`.

Import is two steps. Step 1 parses the pasted or uploaded document and shows the preview — nothing
is written. The preview carries the document itself, signed, and the plan's fingerprint; step 2
verifies the signature, parses the document again on the server and applies it only if the plan
is still the one the user saw.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.http import require_GET

from audits.models import Channel
from audits.services import Actor
from gates.models import GateTemplate
from portal.errors import Conflict, DomainError

from . import exports, imports, readiness, selectors
from .forms_io import (
    ApplyForm,
    DocumentForm,
    NewProjectImportForm,
    TemplateImportForm,
    sign_document,
    unsign_document,
)
from .markdown.parser import parse_markdown


def _actor(request):
    return Actor(request.user, Channel.WEB)


def _render(request, context, status=200):
    """The whole page, or only its form and preview when htmx asked for them."""
    template = "projects/import.html#area" if request.htmx else "projects/import.html"
    return render(request, template, context, status=status)


def _preview_context(request, plan, *, text, source, target, initial=None):
    preview = plan.preview()
    signed = sign_document(text=text, source=source, user=request.user, target=target, encoding=plan.document.encoding)
    apply_form = ApplyForm(initial={**(initial or {}), "document": signed, "fingerprint": preview["fingerprint"]})
    return {
        "plan": plan,
        "preview": preview,
        "source": source,
        "apply_form": apply_form,
        "statuses": [(s, readiness.STATUS_LABELS[s], preview["counts"][s]) for s in readiness.STATUSES],
    }


def _parse_document(form):
    """The uploaded or pasted document of a valid step-1 form, parsed."""
    return parse_markdown(form.cleaned_data["document"], encoding=form.cleaned_data["encoding"])


def _parse_signed(signed):
    """The previewed document, parsed again on the server."""
    return parse_markdown(signed["text"], encoding=signed.get("encoding"))


def _template_only(template, plan):
    """How many of the template's gates no item of the document matches."""
    return template.definitions.count() - plan.count("update") - plan.count("unchanged")


def _bad_copy(request, context):
    context["copy_error"] = (
        "This preview could not be verified: it is more than six hours old, was made for another page, or was "
        "changed on the way. Nothing was imported; paste or upload the document again."
    )
    return _render(request, context, status=400)


@login_required
def project_import(request, slug):
    """Import a document into an existing project (owners and editors; waivers need an owner)."""
    project = selectors.project_get_for_user(request.user, slug, write=True)
    target = f"project:{project.pk}"
    context = {"project": project, "form": DocumentForm()}
    if request.method == "POST" and "document" in request.POST:
        apply_form = ApplyForm(request.POST)
        signed = apply_form.is_valid() and unsign_document(
            apply_form.cleaned_data["document"], user=request.user, target=target
        )
        if not signed:
            return _bad_copy(request, context)
        document = _parse_signed(signed)
        try:
            applied = imports.import_into_project(
                actor=_actor(request),
                project=project,
                document=document,
                source=signed["source"],
                expected_fingerprint=apply_form.cleaned_data["fingerprint"],
            )
        except DomainError as exc:
            plan = imports.import_plan(document=document, project=project)
            context.update(_preview_context(request, plan, text=signed["text"], source=signed["source"], target=target))
            context["apply_error"] = exc.message
            return _render(request, context, status=409 if isinstance(exc, Conflict) else exc.status_code)
        if applied.writes:
            messages.success(
                request,
                f"Imported {signed['source']}: {applied.count('create')} gates created, "
                f"{applied.count('update')} updated, {applied.count('unchanged')} unchanged.",
            )
        else:
            messages.info(request, f"{signed['source']} matches the project already: nothing changed.")
        return redirect(project)
    if request.method == "POST":
        form = DocumentForm(request.POST, request.FILES)
        context["form"] = form
        if not form.is_valid():
            return _render(request, context, status=422)
        text, source = form.cleaned_data["document"], form.cleaned_data["source"]
        plan = imports.import_plan(document=_parse_document(form), project=project)
        context.update(_preview_context(request, plan, text=text, source=source, target=target))
    return _render(request, context)


@login_required
def project_new_from_import(request):
    """Create a project from a document (any signed-in user; they own it)."""
    target = "new-project"
    context = {"project": None, "form": NewProjectImportForm()}
    if request.method == "POST" and "document" in request.POST:
        apply_form = ApplyForm(request.POST)
        signed = apply_form.is_valid() and unsign_document(
            apply_form.cleaned_data["document"], user=request.user, target=target
        )
        if not signed:
            return _bad_copy(request, context)
        document = _parse_signed(signed)
        data = apply_form.cleaned_data
        template = GateTemplate.objects.filter(pk=data["template"]).first() if data["template"] else None
        try:
            project = imports.import_new_project(
                actor=_actor(request),
                document=document,
                name=data["name"],
                slug=data["slug"],
                template=template,
                source=signed["source"],
            )
        except DomainError as exc:
            plan = imports.import_plan(document=document, template=template)
            initial = {"name": data["name"], "slug": data["slug"], "template": data["template"]}
            context.update(
                _preview_context(
                    request, plan, text=signed["text"], source=signed["source"], target=target, initial=initial
                )
            )
            context["template"] = template
            if template is not None:
                context["template_only"] = _template_only(template, plan)
            context["apply_error"] = exc.message
            context["apply_field_errors"] = exc.field_errors
            return _render(request, context, status=422 if exc.status_code == 400 else exc.status_code)
        messages.success(
            request, f"{project.name} was created from {signed['source']} with {project.gates.count()} gates."
        )
        return redirect(project)
    if request.method == "POST":
        form = NewProjectImportForm(request.POST, request.FILES)
        context["form"] = form
        if not form.is_valid():
            return _render(request, context, status=422)
        text, source = form.cleaned_data["document"], form.cleaned_data["source"]
        document = _parse_document(form)
        template = form.cleaned_data["template"]
        plan = imports.import_plan(document=document, template=template)
        name = form.cleaned_data["name"] or document.title or "Imported project"
        initial = {
            "name": name[:200],
            "slug": form.cleaned_data["slug"] or slugify(name)[:80],
            "template": template.pk if template else None,
        }
        context.update(_preview_context(request, plan, text=text, source=source, target=target, initial=initial))
        context["template"] = template
        if template is not None:
            context["template_only"] = _template_only(template, plan)
    return _render(request, context)


@login_required
def template_import(request):
    """Make a gate template from a document, preview first (staff only, like the back office)."""
    if not request.user.is_staff:
        raise PermissionDenied("Only the back office may add gate templates.")
    target = "new-template"
    context = {"form": TemplateImportForm()}
    if request.method == "POST" and "document" in request.POST:
        apply_form = ApplyForm(request.POST)
        signed = apply_form.is_valid() and unsign_document(
            apply_form.cleaned_data["document"], user=request.user, target=target
        )
        if not signed:
            context["copy_error"] = (
                "This preview could not be verified: it is more than six hours old, was made for another page, "
                "or was changed on the way. Nothing was imported; paste or upload the document again."
            )
            return render(request, "projects/template_import.html", context, status=400)
        document = _parse_signed(signed)
        data = apply_form.cleaned_data
        try:
            template = imports.import_as_template(
                actor=_actor(request), document=document, name=data["name"], key=data["slug"], source=signed["source"]
            )
        except DomainError as exc:
            plan = imports.import_plan(document=document)
            initial = {"name": data["name"], "slug": data["slug"]}
            context.update(
                _preview_context(
                    request, plan, text=signed["text"], source=signed["source"], target=target, initial=initial
                )
            )
            context["apply_error"] = exc.message
            return render(request, "projects/template_import.html", context, status=422)
        messages.success(
            request,
            f"The template “{template.name}” (version {template.version}) was made from {signed['source']} "
            f"with {template.definitions.count()} gates.",
        )
        return redirect(reverse("admin:gates_gatetemplate_change", args=[template.pk]))
    if request.method == "POST":
        form = TemplateImportForm(request.POST, request.FILES)
        context["form"] = form
        if not form.is_valid():
            return render(request, "projects/template_import.html", context, status=422)
        text, source = form.cleaned_data["document"], form.cleaned_data["source"]
        plan = imports.import_plan(document=_parse_document(form))
        initial = {"name": form.cleaned_data["name"], "slug": form.cleaned_data["key"]}
        context.update(_preview_context(request, plan, text=text, source=source, target=target, initial=initial))
    return render(request, "projects/template_import.html", context)


# --- exports -----------------------------------------------------------------------------------

EXPORT_TYPES = {
    "md": ("text/markdown; charset=utf-8", "decision-pack", "md"),
    "csv": ("text/csv; charset=utf-8", "gates", "csv"),
    "json": ("application/json", "project", "json"),
}


@login_required
@require_GET
def project_export(request, slug, fmt):
    """Download the decision pack (of now or of `?snapshot=ID`) or the gates as CSV (members), or
    the whole project as JSON (owners: it carries the members' e-mail addresses and the history)."""
    if fmt not in EXPORT_TYPES:
        raise Http404("No such export.")
    project = selectors.project_get_for_user(request.user, slug, own=fmt == "json")
    content_type, what, extension = EXPORT_TYPES[fmt]
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    if fmt == "md":
        snapshot = None
        if request.GET.get("snapshot"):
            try:
                snapshot = project.snapshots.get(pk=int(request.GET["snapshot"]))
            except (ValueError, project.snapshots.model.DoesNotExist):
                raise Http404("No such snapshot.") from None
            stamp = f"snapshot-{snapshot.pk}"
        body = exports.export_markdown(project, snapshot=snapshot)
    elif fmt == "csv":
        body = exports.export_csv(project)
    else:
        body = exports.export_json_text(project)
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{project.slug}-{what}-{stamp}.{extension}"'
    return response
