"""Web pages of projects. Thin: reads through `selectors`, writes through `services`."""

from dataclasses import dataclass, field

from allauth.account.decorators import reauthentication_required
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import FETCH_PEERS
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from audits.models import Channel
from audits.services import Actor
from portal.errors import Conflict, DomainError, StaleVersion

from . import readiness, selectors, services
from .charts import sparkline
from .forms import (
    STALE,
    WAIVER_EXPIRED,
    DashboardFilterForm,
    GateEditForm,
    GateFilterForm,
    GateStatusForm,
    MemberAddForm,
    MemberForm,
    NewProjectForm,
    SignOffForm,
    StageChangeForm,
    StageFormSet,
    UnwaiveForm,
    WaiveForm,
)

DASHBOARD_PAGE_SIZE = 100


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
    projects = selectors.dashboard_projects(
        request.user,
        verdict=filters.get("verdict", ""),
        stage=filters.get("stage", ""),
        owner=filters.get("owner", ""),
        within_days=filters.get("within"),
        sort=filters.get("sort") or "name",
        lifecycle=filters.get("lifecycle") or "active",
    )
    page = Paginator(projects, DASHBOARD_PAGE_SIZE).get_page(request.GET.get("page"))
    trends = selectors.score_trends([p.pk for p in page.object_list])
    attention_gates, attention_signoffs = selectors.attention_for_user(request.user)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "projects/dashboard.html",
        {
            "form": form,
            "page": page,
            "query": query.urlencode(),
            "rows": [_dashboard_row(p, trends.get(p.pk, [])) for p in page.object_list],
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


def _shown_status(gate):
    """The status the gate's row shows: its own, unless judged stale or with an expired waiver."""
    if gate.eff is not None and gate.eff.stale:
        return STALE
    if gate.eff is not None and gate.eff.waiver_expired:
        return WAIVER_EXPIRED
    return gate.status


def _filter_gates(gates, filters):
    status = filters.get("status")
    severity = filters.get("severity")
    owner = filters.get("owner")
    for gate in gates:
        if status and _shown_status(gate) != status:
            continue
        if severity and gate.severity != severity:
            continue
        if owner == "-" and gate.owner_id:
            continue
        if owner and owner != "-" and (not gate.owner_id or gate.owner.get_username() != owner):
            continue
        yield gate


def project_context(request, project, *, filter_data=None):
    """What the project page and its in-place updates render, in a fixed number of queries.

    `filter_data` (the page's query string) filters the gate list; the filter form is built
    after the gates are read, so the owner menu accepts the people who own gates.
    """
    result = selectors.project_readiness(project)
    effective = {g.code: g for g in result.gates}
    names = selectors.category_names()
    gates = list(selectors.gate_list(project).fetch_mode(FETCH_PEERS))
    owners = sorted({g.owner.get_username() for g in gates if g.owner_id})
    filter_form = GateFilterForm(filter_data or None, owners=owners)
    filters = filter_form.cleaned_data if filter_form.is_valid() else {}
    for gate in gates:
        gate.project = project
        gate.eff = effective.get(gate.code)
    groups = {}
    for gate in _filter_gates(gates, filters):
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
        "filter_form": filter_form,
        "filtered": any(filters.values()),
    }


@login_required
def project_detail(request, slug):
    project = selectors.project_get_for_user(request.user, slug)
    context = project_context(request, project, filter_data=request.GET)
    if context["can_own"]:
        context["stage_form"] = StageChangeForm(
            initial={"stage": str(project.current_stage_id or "")}, stages=selectors.stages_of(project)
        )
    return render(request, "projects/detail.html", context)


@login_required
@require_POST
def project_stage(request, slug):
    """Move the project to another of its stages (owners): readiness is then judged against it."""
    project = selectors.project_get_for_user(request.user, slug, own=True)
    form = StageChangeForm(request.POST, stages=selectors.stages_of(project))
    if form.is_valid():
        try:
            services.project_change_stage(actor=web_actor(request), project=project, stage=form.cleaned_data["stage"])
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"{project.name} is now judged against {form.cleaned_data['stage'].name}.")
    else:
        messages.error(request, "Choose one of the project's stages.")
    return redirect(project)


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


def _apply_field_errors(form, exc):
    """Show a service's refusal on the form: beside the field it names, else above the form."""
    for name, errors in exc.field_errors.items():
        for error in errors:
            form.add_error(name if name in form.fields else None, error)
    if not exc.field_errors:
        form.add_error(None, exc.message)


def _gate_forms(gate, members, data=None, which=None):
    """The gate page's forms, bound to `data` only for the one that was submitted."""
    edit_initial = {
        "evidence_url": gate.evidence_url,
        "evidence_note": gate.evidence_note,
        "notes": gate.notes,
        "owner": str(gate.owner_id or ""),
        "due_date": gate.due_date,
        "version": gate.version,
    }
    return {
        "edit_form": GateEditForm(data if which == "edit" else None, initial=edit_initial, members=members),
        "waive_form": WaiveForm(data if which == "waive" else None, initial={"version": gate.version}),
        "unwaive_form": UnwaiveForm(data if which == "unwaive" else None, initial={"version": gate.version}),
    }


def _render_gate(request, project, gate, *, forms=None, conflict="", status=200):
    result = selectors.project_readiness(project)
    gate.project = project
    gate.eff = next((g for g in result.gates if g.code == gate.code), None)
    members = [m.user for m in selectors.memberships_for_project(project)]
    context = {
        "project": project,
        "gate": gate,
        "history": selectors.gate_history(gate)[:100],
        "check_results": selectors.gate_check_results(gate),
        "can_write": selectors.user_can(request.user, project, selectors.WRITE),
        "can_own": selectors.user_can(request.user, project, selectors.OWN),
        "conflict": conflict,
        **(forms or _gate_forms(gate, members)),
    }
    return render(request, "projects/gate.html", context, status=status)


@login_required
def gate_detail(request, slug, code):
    project = selectors.project_get_for_user(request.user, slug)
    gate = selectors.gate_get(project, code)
    return _render_gate(request, project, gate)


def _gate_write(request, slug, code, which, write):
    """Run one gate form through its service; on refusal re-render the page, never half-save."""
    project = selectors.project_get_for_user(request.user, slug, write=True, own=which in ("waive", "unwaive"))
    gate = selectors.gate_get(project, code)
    gate.project = project
    members = [m.user for m in selectors.memberships_for_project(project)]
    forms = _gate_forms(gate, members, request.POST, which)
    form = forms[f"{which}_form"]
    if form.is_valid():
        try:
            write(gate, form.cleaned_data)
        except StaleVersion:
            current = selectors.gate_get(project, code)
            forms = _gate_forms(current, members)
            conflict = (
                f"Someone else changed {current.code} while you were editing it. Nothing was saved: "
                "the current values are shown below; make your change again on top of them."
            )
            return _render_gate(request, project, current, forms=forms, conflict=conflict, status=409)
        except DomainError as exc:
            _apply_field_errors(form, exc)
        else:
            return redirect(gate)
    return _render_gate(request, project, gate, forms=forms, status=422)


@login_required
@require_POST
def gate_edit(request, slug, code):
    def write(gate, data):
        services.gate_update(
            actor=web_actor(request),
            gate=gate,
            version=data["version"],
            evidence_url=data["evidence_url"],
            evidence_note=data["evidence_note"],
            notes=data["notes"],
            owner=data["owner"],
            due_date=data["due_date"],
        )
        messages.success(request, f"{gate.code} was saved.")

    return _gate_write(request, slug, code, "edit", write)


@login_required
@require_POST
def gate_waive(request, slug, code):
    def write(gate, data):
        services.gate_waive(
            actor=web_actor(request),
            gate=gate,
            version=data["version"],
            reason=data["reason"],
            expires_at=services.parse_aware_datetime(data["expires_at"]),
        )
        messages.success(request, f"{gate.code} is waived until {data['expires_at']:%d %b %Y}.")

    return _gate_write(request, slug, code, "waive", write)


@login_required
@require_POST
def gate_unwaive(request, slug, code):
    def write(gate, data):
        services.gate_unwaive(actor=web_actor(request), gate=gate, version=data["version"], status=data["status"])
        messages.success(request, f"The waiver of {gate.code} was lifted.")

    return _gate_write(request, slug, code, "unwaive", write)


# --- sign-off -----------------------------------------------------------------------------------


def _signoff_context(request, project, form=None):
    stage = selectors.stage_for(project)
    result = selectors.project_readiness(project, stage=stage)
    effective = {g.code: g for g in result.gates}
    gates = [g for g in selectors.gate_list(project) if g.code in effective]
    for gate in gates:
        gate.project = project
        gate.eff = effective[gate.code]
    my_roles = selectors.signoff_roles_of(request.user, project)
    if stage is not None:
        required = {r.pk for r in stage.required_roles.all()}
        my_roles.sort(key=lambda r: (r.pk not in required, r.order, r.name))
    if form is None and my_roles and stage is not None:
        form = SignOffForm(initial={"state_hash": result.state_hash}, roles=my_roles)
    return {
        "project": project,
        "stage": stage,
        "result": result,
        "verdict_label": readiness.VERDICT_LABELS[result.verdict],
        "open_gates": [g for g in gates if g.eff.effective_status == readiness.OPEN],
        "partial_gates": [g for g in gates if g.eff.effective_status == readiness.PARTIAL],
        "waived_gates": [g for g in gates if g.status == readiness.WAIVED],
        "signoff_rows": selectors.signoff_rows(project, result, stage),
        "my_signoffs": [s for s in selectors.signoffs_for_project(project) if s.user_id == request.user.pk],
        "form": form,
    }


@login_required
def signoff(request, slug):
    """Shows exactly what is signed; a decision needs a recent authentication and the state seen.

    Membership and the right to sign are checked before the recent-authentication step, so an
    outsider gets 404 and a viewer 403 rather than a prompt to log in again.
    """
    project = selectors.project_get_for_user(request.user, slug)
    if request.method != "POST":
        return render(request, "projects/signoff.html", _signoff_context(request, project))
    if not selectors.user_can(request.user, project, selectors.SIGN):
        raise PermissionDenied("You hold no sign-off role on this project.")
    return _signoff_decide(request, project)


@reauthentication_required
def _signoff_decide(request, project):
    stage = selectors.stage_for(project)
    roles = selectors.signoff_roles_of(request.user, project)
    form = SignOffForm(request.POST, roles=roles)
    status = 422
    if stage is None:
        form.add_error(None, "This project has no stage to sign off.")
    elif form.is_valid():
        data = form.cleaned_data
        try:
            # The service compares the hash the signer saw under the project lock, so a change
            # landing between this page's read and the signature cannot slip in unseen.
            services.signoff_give(
                actor=web_actor(request),
                project=project,
                stage=stage,
                role=data["role"],
                decision=data["decision"],
                comment=data["comment"],
                state_hash=data["state_hash"],
            )
        except Conflict as exc:
            # The state moved since the page was read: show the form again over the current state.
            form.add_error(
                None,
                "The gates changed while you were reading this page. Nothing was signed: "
                "review what is shown now and sign again.",
            )
            if exc.current is not None:
                form.data = form.data.copy()
                form.data["state_hash"] = exc.current.state_hash
            status = 409
        except DomainError as exc:
            _apply_field_errors(form, exc)
        else:
            label = readiness.DECISION_LABELS[data["decision"]]
            messages.success(request, f"You signed {stage.name} {label} as {data['role'].name}.")
            return redirect(project)
    return render(request, "projects/signoff.html", _signoff_context(request, project, form), status=status)


@login_required
@require_POST
def signoff_revoke(request, slug, pk):
    project = selectors.project_get_for_user(request.user, slug)
    signoff = get_object_or_404(selectors.signoffs_for_project(project), pk=pk)
    try:
        services.signoff_revoke(actor=web_actor(request), signoff=signoff)
    except DomainError as exc:
        raise PermissionDenied(exc.message) from None
    messages.success(request, f"Your sign-off as {signoff.role.name} was withdrawn.")
    return redirect("projects:signoff", slug=project.slug)


# --- members ------------------------------------------------------------------------------------


def _members_context(request, project, add_form=None, forms=None):
    roles = selectors.project_signoff_roles(project)
    memberships = list(selectors.memberships_for_project(project))
    can_own = selectors.user_can(request.user, project, selectors.OWN)
    rows = []
    for m in memberships:
        form = (forms or {}).get(m.pk) or MemberForm(
            initial={"role": m.role, "signoff_roles": [str(r.pk) for r in m.signoff_roles.all()]},
            roles=roles,
            prefix=f"m{m.pk}",
        )
        rows.append({"membership": m, "form": form})
    return {
        "project": project,
        "rows": rows,
        "can_own": can_own,
        "add_form": add_form or MemberAddForm(roles=roles, prefix="add"),
    }


@login_required
def members(request, slug):
    project = selectors.project_get_for_user(request.user, slug)
    return render(request, "projects/members.html", _members_context(request, project))


@login_required
@require_POST
def member_add(request, slug):
    project = selectors.project_get_for_user(request.user, slug, own=True)
    form = MemberAddForm(request.POST, roles=selectors.project_signoff_roles(project), prefix="add")
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.member_add(
                actor=web_actor(request),
                project=project,
                user=data["user"],
                role=data["role"],
                signoff_roles=data["signoff_roles"],
            )
        except DomainError as exc:
            _apply_field_errors(form, exc)
        else:
            messages.success(request, f"{data['user'].get_username()} was added as {data['role']}.")
            return redirect("projects:members", slug=project.slug)
    return render(request, "projects/members.html", _members_context(request, project, add_form=form), status=422)


def _membership(project, pk):
    return get_object_or_404(selectors.memberships_for_project(project), pk=pk)


@login_required
@require_POST
def member_update(request, slug, pk):
    project = selectors.project_get_for_user(request.user, slug, own=True)
    membership = _membership(project, pk)
    membership.project = project
    form = MemberForm(request.POST, roles=selectors.project_signoff_roles(project), prefix=f"m{pk}")
    if form.is_valid():
        try:
            services.member_update(
                actor=web_actor(request),
                membership=membership,
                role=form.cleaned_data["role"],
                signoff_roles=form.cleaned_data["signoff_roles"],
            )
        except DomainError as exc:
            _apply_field_errors(form, exc)
        else:
            messages.success(request, f"{membership.user.get_username()} was updated.")
            return redirect("projects:members", slug=project.slug)
    context = _members_context(request, project, forms={membership.pk: form})
    return render(request, "projects/members.html", context, status=422)


@login_required
@require_POST
def member_remove(request, slug, pk):
    project = selectors.project_get_for_user(request.user, slug, own=True)
    membership = _membership(project, pk)
    membership.project = project
    try:
        services.member_remove(actor=web_actor(request), membership=membership)
    except DomainError as exc:
        messages.error(request, f"{membership.user.get_username()} was not removed: {exc.message}")
    else:
        messages.success(request, f"{membership.user.get_username()} was removed from {project.name}.")
    return redirect("projects:members", slug=project.slug)


# --- new project --------------------------------------------------------------------------------


@login_required
def project_new(request):
    """Create a project from a template; its creator becomes its owner.

    Stages listed on the form replace the template's stages (each then requires every sign-off
    role of the template); with none listed, the template's stages are used.
    """
    form = NewProjectForm(request.POST or None)
    stages = StageFormSet(request.POST or None, prefix="stages")
    if request.method == "POST" and form.is_valid() and stages.is_valid():
        data = form.cleaned_data
        template = data["template"]
        stage_specs = [
            {
                "name": s["name"].strip(),
                "order": i,
                "target_date": s.get("target_date"),
                "min_score": s.get("min_score"),
                "min_closed": s.get("min_closed"),
                "required_roles": list(template.signoff_roles),
            }
            for i, s in enumerate((s for s in stages.cleaned_data if s.get("name")), start=1)
        ]
        try:
            project = services.project_create_from_template(
                actor=web_actor(request),
                template=template,
                name=data["name"],
                slug=data["slug"],
                target_launch_date=data["target_launch_date"],
                stages=stage_specs or None,
            )
        except DomainError as exc:
            _apply_field_errors(form, exc)
        else:
            messages.success(request, f"{project.name} was created with {project.gates.count()} gates.")
            return redirect(project)
    status = 422 if request.method == "POST" else 200
    return render(request, "projects/new.html", {"form": form, "stages": stages}, status=status)
