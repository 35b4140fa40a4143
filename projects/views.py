"""Web pages of projects. Thin: reads through `selectors`, writes through `services`."""

from dataclasses import dataclass, field

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from audits.models import Channel
from audits.services import Actor
from portal.errors import DomainError, StaleVersion

from . import readiness, selectors, services
from .charts import sparkline
from .forms import DashboardFilterForm, GateFilterForm, GateStatusForm, NewProjectForm


def web_actor(request):
    return Actor(request.user, Channel.WEB)


# --- dashboard ----------------------------------------------------------------------------------


@dataclass
class DashboardRow:
    project: object
    closed: int
    total: int
    open_blockers: int
    trend: object


def _dashboard_row(project, scores):
    data = project.readiness or {}
    counts = data.get("counts", {})
    open_blockers = sum(
        1
        for gate in data.get("gates", [])
        if gate["severity"] == readiness.BLOCKER and gate["effective_status"] in (readiness.OPEN, readiness.PARTIAL)
    )
    return DashboardRow(
        project=project,
        closed=counts.get(readiness.CLOSED, 0),
        total=counts.get("total", 0),
        open_blockers=open_blockers,
        trend=sparkline(scores),
    )


@login_required
def dashboard(request):
    """The portfolio: every project the user may see, from the stored readiness."""
    stages, owners = selectors.dashboard_filter_choices(request.user)
    form = DashboardFilterForm(request.GET or None, stages=stages, owners=owners)
    filters = form.cleaned_data if form.is_valid() else {}
    projects = list(
        selectors.dashboard_projects(
            request.user,
            verdict=filters.get("verdict", ""),
            stage=filters.get("stage", ""),
            owner=filters.get("owner", ""),
            within_days=filters.get("within"),
            sort=filters.get("sort") or "name",
        )
    )
    trends = selectors.score_trends([p.pk for p in projects])
    attention_gates, attention_signoffs = selectors.attention_for_user(request.user)
    return render(
        request,
        "projects/dashboard.html",
        {
            "form": form,
            "rows": [_dashboard_row(p, trends.get(p.pk, [])) for p in projects],
            "attention_gates": attention_gates,
            "attention_signoffs": attention_signoffs,
            "filtered": bool(filters and any(v not in (None, "") for k, v in filters.items() if k != "sort")),
        },
    )


# --- project page -------------------------------------------------------------------------------


@dataclass
class CategoryGroup:
    key: str
    name: str
    gates: list = field(default_factory=list)


def _filter_gates(gates, filters):
    status = filters.get("status")
    severity = filters.get("severity")
    owner = filters.get("owner")
    for gate in gates:
        if status and gate.status != status:
            continue
        if severity and gate.severity != severity:
            continue
        if owner == "-" and gate.owner_id:
            continue
        if owner and owner != "-" and (not gate.owner_id or gate.owner.get_username() != owner):
            continue
        yield gate


def project_context(request, project, *, filters=None):
    """What the project page and its in-place updates render, in a fixed number of queries."""
    result = selectors.project_readiness(project)
    effective = {g.code: g for g in result.gates}
    names = selectors.category_names()
    gates = list(selectors.gate_list(project))
    owners = sorted({g.owner.get_username() for g in gates if g.owner_id})
    for gate in gates:
        gate.project = project
        gate.eff = effective.get(gate.code)
    groups = {}
    for gate in _filter_gates(gates, filters or {}):
        group = groups.get(gate.category_id)
        if group is None:
            group = groups[gate.category_id] = CategoryGroup(key=gate.category.key, name=gate.category.name)
        group.gates.append(gate)
    categories = [{"key": c.category, "name": names.get(c.category, c.category), "c": c} for c in result.categories]
    return {
        "project": project,
        "result": result,
        "verdict_label": readiness.VERDICT_LABELS[result.verdict],
        "categories": categories,
        "groups": list(groups.values()),
        "gate_count": len(gates),
        "owners": owners,
        "signoff_rows": selectors.signoff_rows(project, result),
        "can_write": selectors.user_can(request.user, project, selectors.WRITE),
        "can_sign": selectors.user_can(request.user, project, selectors.SIGN),
        "can_own": selectors.user_can(request.user, project, selectors.OWN),
        "status_choices": GateStatusForm.base_fields["status"].choices,
    }


@login_required
def project_detail(request, slug):
    project = selectors.project_get_for_user(request.user, slug)
    filter_form = GateFilterForm(request.GET or None)
    filters = filter_form.cleaned_data if filter_form.is_valid() else {}
    context = project_context(request, project, filters=filters)
    # Rebuilt with the owners now known, so the owner menu lists the people who own gates.
    filter_form = GateFilterForm(request.GET or None, owners=context["owners"])
    filter_form.is_valid()
    context["filter_form"] = filter_form
    context["filtered"] = any(filters.values()) if filters else False
    return render(request, "projects/detail.html", context)


@login_required
@require_POST
def gate_status(request, slug, code):
    """Change one gate's status in place. A stale version changes nothing and shows the current value."""
    project = selectors.project_get_for_user(request.user, slug, write=True)
    gate = selectors.gate_get(project, code)
    gate.project = project
    form = GateStatusForm(request.POST)
    row_error = conflict = ""
    status_code = 200
    if not form.is_valid():
        row_error = "Choose a status from the list."
        status_code = 422
    else:
        try:
            services.gate_update_status(
                actor=web_actor(request),
                gate=gate,
                version=form.cleaned_data["version"],
                status=form.cleaned_data["status"],
            )
        except StaleVersion as exc:
            current = exc.current or selectors.gate_get(project, code)
            conflict = (
                f"Someone else changed {current.code} while you were looking at it; it is now "
                f"“{readiness.STATUS_LABELS[current.status]}”. Your change was not saved."
            )
            status_code = 409
        except DomainError as exc:
            row_error = exc.message
            status_code = 422 if exc.status_code == 400 else exc.status_code

    if not request.htmx:
        if conflict:
            messages.error(request, conflict)
        elif row_error:
            messages.error(request, f"{gate.code}: {row_error}")
        else:
            messages.success(request, f"{gate.code} is now {readiness.STATUS_LABELS[form.cleaned_data['status']]}.")
        return redirect(f"{project.get_absolute_url()}#gate-{gate.pk}")

    context = project_context(request, project)
    context["gate"] = next(g for group in context["groups"] for g in group.gates if g.pk == gate.pk)
    context.update(row_error=row_error, conflict=conflict, oob=True)
    return render(request, "projects/detail.html#status_response", context, status=status_code)


# --- gate page ----------------------------------------------------------------------------------


@login_required
def gate_detail(request, slug, code):
    project = selectors.project_get_for_user(request.user, slug)
    gate = selectors.gate_get(project, code)
    gate.project = project
    result = selectors.project_readiness(project)
    gate.eff = next((g for g in result.gates if g.code == gate.code), None)
    return render(
        request,
        "projects/gate.html",
        {
            "project": project,
            "gate": gate,
            "history": selectors.gate_history(gate)[:100],
            "check_results": selectors.gate_check_results(gate),
            "can_write": selectors.user_can(request.user, project, selectors.WRITE),
            "can_own": selectors.user_can(request.user, project, selectors.OWN),
        },
    )


# --- new project --------------------------------------------------------------------------------


def _apply_field_errors(form, exc):
    for name, errors in exc.field_errors.items():
        for error in errors:
            form.add_error(name if name in form.fields else None, error)
    if not exc.field_errors:
        form.add_error(None, exc.message)


@login_required
def project_new(request):
    """Create a project from a template; its creator becomes its owner."""
    form = NewProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            project = services.project_create_from_template(
                actor=web_actor(request),
                template=data["template"],
                name=data["name"],
                slug=data["slug"],
                target_launch_date=data["target_launch_date"],
            )
        except DomainError as exc:
            _apply_field_errors(form, exc)
        else:
            messages.success(request, f"{project.name} was created with {project.gates.count()} gates.")
            return redirect(project)
    return render(request, "projects/new.html", {"form": form})
