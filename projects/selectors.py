"""The one door for permission-sensitive reads of project data.

A non-member gets 404 (the project does not exist for them); a member without the right to
write gets 403. Staff see and manage every project (the back office).
"""

from collections import defaultdict
from datetime import timedelta

from django.core.exceptions import PermissionDenied
from django.db.models import FETCH_PEERS, BooleanField, ExpressionWrapper, F, Prefetch, Q, Window
from django.db.models.functions import RowNumber
from django.http import Http404
from django.utils import timezone

from gates.models import Category

from . import readiness
from .models import Membership, Project, ProjectGate, SignOff, Stage

# What each level of access needs, from the weakest to the strongest.
READ, SIGN, WRITE, OWN = "read", "sign", "write", "own"


def project_list_for_user(user, *, include_archived=False):
    """Projects the user may see: their memberships, or all for staff."""
    if not getattr(user, "is_authenticated", False):
        return Project.objects.none()
    qs = Project.objects.select_related("current_stage", "owner")
    if not user.is_staff:
        qs = qs.filter(memberships__user=user)
    if not include_archived:
        qs = qs.exclude(lifecycle=Project.Lifecycle.ARCHIVED)
    return qs


def membership_for(user, project):
    """The user's membership of the project, or None (memoised on the project object)."""
    if not getattr(user, "is_authenticated", False):
        return None
    cache = project.__dict__.setdefault("_membership_cache", {})
    if user.pk not in cache:
        cache[user.pk] = Membership.objects.filter(user=user, project=project).prefetch_related("signoff_roles").first()
    return cache[user.pk]


def user_can(user, project, need=READ):
    """Whether the user has `need` (read, sign, write, own) on the project."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_staff:
        return True
    membership = membership_for(user, project)
    if membership is None:
        return False
    if need == READ:
        return True
    if need == SIGN:
        return membership.signoff_roles.exists() if membership.pk else False
    if need == WRITE:
        return membership.can_write
    if need == OWN:
        return membership.is_owner
    raise ValueError(f"unknown access level {need!r}")


def project_get_for_user(user, slug, *, write=False, own=False, queryset=None):
    """Fetch a project by slug for this user: 404 if they may not see it, 403 if they may not write."""
    qs = queryset if queryset is not None else Project.objects.select_related("current_stage", "template", "owner")
    try:
        project = qs.get(slug=slug)
    except Project.DoesNotExist:
        raise Http404("No such project.") from None
    if not user_can(user, project, READ):
        raise Http404("No such project.")
    if own and not user_can(user, project, OWN):
        raise PermissionDenied("Only the project's owners may do this.")
    if write and not user_can(user, project, WRITE):
        raise PermissionDenied("You may view this project but not change it.")
    return project


def gate_list(project):
    """The project's gates in display order, with what the gate table shows."""
    return (
        ProjectGate.objects.filter(project=project)
        .select_related("category", "owner", "stage", "waiver_approver")
        .order_by("category__order", "category__name", "order", "code")
    )


def gate_get(project, code):
    if "\x00" in code:  # no gate has one, and PostgreSQL refuses the comparison outright
        raise Http404("No such gate.")
    try:
        return gate_list(project).get(code=code)
    except ProjectGate.DoesNotExist:
        raise Http404("No such gate.") from None


def stage_for(project, stage=None):
    """The stage to judge: the one asked for, else the current one, else the first."""
    if stage is not None:
        return stage
    if project.current_stage_id:
        return project.current_stage
    return project.stages.order_by("order").first()


def _stage_input(stage):
    if stage is None:
        return None
    return readiness.StageInput(
        name=stage.name,
        order=stage.order,
        min_score=stage.min_score,
        min_closed=stage.min_closed,
        required_roles=tuple(r.name for r in stage.required_roles.all()),
    )


def readiness_inputs(project_ids):
    """Everything the rules need for many projects, in a fixed number of queries.

    Returns {project_id: (stage_input, [GateInput], [SignOffInput], category_order, change_seq)}.
    Reads each project's change_seq first, so a write that lands while we read makes the
    result look older than it is (and so recomputed again), never newer.
    """
    project_ids = list(project_ids)
    projects = {
        p["id"]: p for p in Project.objects.filter(pk__in=project_ids).values("id", "current_stage_id", "change_seq")
    }
    stages_by_project = defaultdict(list)
    for stage in (
        Stage.objects.filter(project_id__in=projects).prefetch_related("required_roles").order_by("project_id", "order")
    ):
        stages_by_project[stage.project_id].append(stage)

    current = {}
    for pid, row in projects.items():
        stages = stages_by_project.get(pid, [])
        chosen = next((s for s in stages if s.pk == row["current_stage_id"]), stages[0] if stages else None)
        current[pid] = chosen

    stage_order_by_id = {s.pk: s.order for stages in stages_by_project.values() for s in stages}
    gates_by_project = defaultdict(list)
    category_order = {}
    rows = ProjectGate.objects.filter(project_id__in=projects).values_list(
        "project_id",
        "code",
        "title",
        "category__key",
        "category__order",
        "severity",
        "weight",
        "status",
        "stage_id",
        "verified_at",
        "evidence_valid_days",
        "evidence_url",
        "evidence_note",
        "waiver_reason",
        "waiver_expires_at",
        "owner__username",
    )
    for (
        pid,
        code,
        title,
        cat,
        cat_order,
        severity,
        weight,
        status,
        stage_id,
        verified_at,
        valid_days,
        ev_url,
        ev_note,
        w_reason,
        w_expires,
        owner,
    ) in rows.iterator(chunk_size=5000):
        category_order.setdefault(cat, cat_order)
        gates_by_project[pid].append(
            readiness.GateInput(
                code=code,
                title=title,
                category=cat,
                severity=severity,
                weight=weight,
                status=status,
                stage_order=stage_order_by_id.get(stage_id),
                verified_at=verified_at,
                evidence_valid_days=valid_days,
                evidence_url=ev_url,
                evidence_note=ev_note,
                waiver_reason=w_reason,
                waiver_expires_at=w_expires,
                owner=owner or "",
            )
        )
    ordered_categories = tuple(sorted(category_order, key=lambda k: (category_order[k], k)))

    signoffs_by_project = defaultdict(list)
    current_stage_ids = [s.pk for s in current.values() if s is not None]
    for pid, role, decision, state_hash, signer, signed_at, comment in SignOff.objects.filter(
        stage_id__in=current_stage_ids
    ).values_list("project_id", "role__name", "decision", "state_hash", "user__username", "signed_at", "comment"):
        signoffs_by_project[pid].append(
            readiness.SignOffInput(
                role=role,
                decision=decision,
                state_hash=state_hash,
                signer=signer,
                signed_at=signed_at,
                comment=comment,
            )
        )
    return {
        pid: (
            _stage_input(current[pid]),
            gates_by_project.get(pid, []),
            signoffs_by_project.get(pid, []),
            ordered_categories,
            row["change_seq"],
        )
        for pid, row in projects.items()
    }


def project_readiness(project, stage=None, now=None):
    """Evaluate one project live (not the cache), for the current stage or the one asked for."""
    stage = stage_for(project, stage)
    stage_orders = dict(project.stages.values_list("pk", "order"))
    gates = [
        g.as_rule_input(stage_order=stage_orders.get(g.stage_id))
        for g in ProjectGate.objects.filter(project=project).select_related("category")
    ]
    signoffs = []
    if stage is not None:
        signoffs = [s.as_rule_input() for s in SignOff.objects.filter(stage=stage).select_related("role", "user")]
    category_order = list(Category.objects.values_list("key", flat=True))
    return readiness.evaluate(
        gates, _stage_input(stage), signoffs, now or timezone.now(), category_order=category_order
    )


def signoffs_for_project(project):
    return (
        SignOff.objects.filter(project=project)
        .select_related("stage", "role", "user")
        .order_by("stage__order", "role__order", "-signed_at")
    )


def memberships_for_project(project):
    return (
        Membership.objects.filter(project=project)
        .select_related("user")
        .prefetch_related(Prefetch("signoff_roles"))
        .order_by("role", "user__username")
    )


# --- web UI reads: dashboard rows, attention panel, trends, sign-off staleness ------------------

DASHBOARD_SORTS = {
    "name": ("name",),
    "-name": ("-name",),
    "score": ("score", "name"),
    "-score": ("-score", "name"),
    "date": ("target_launch_date", "name"),
    "-date": ("-target_launch_date", "name"),
}


DASHBOARD_LIFECYCLES = ("active", "launched", "archived", "all")


def dashboard_projects(
    user, *, verdict="", stage="", owner="", within_days=None, sort="name", lifecycle="active", today=None
):
    """The portfolio rows: visible projects with their stored readiness, filtered and sorted.

    `lifecycle` is one of DASHBOARD_LIFECYCLES: active projects by default, launched or archived
    ones when asked, or all of them. Reads the cached readiness only (no recompute on read), so
    the cost does not depend on how many gates the projects have beyond loading the stored document.
    """
    qs = project_list_for_user(user, include_archived=lifecycle in ("archived", "all"))
    qs = qs.select_related("current_stage", "owner")
    if lifecycle != "all":
        qs = qs.filter(lifecycle=lifecycle if lifecycle in DASHBOARD_LIFECYCLES else Project.Lifecycle.ACTIVE)
    if verdict:
        qs = qs.filter(verdict=verdict)
    if stage:
        qs = qs.filter(current_stage__name=stage)
    if owner:
        qs = qs.filter(owner__username=owner)
    if within_days is not None:
        today = today or timezone.localdate()
        qs = qs.filter(target_launch_date__gte=today, target_launch_date__lte=today + timedelta(days=within_days))
    # Any relation the page reads beyond these is loaded for all rows at once, not row by row.
    return qs.order_by(*DASHBOARD_SORTS.get(sort, DASHBOARD_SORTS["name"])).fetch_mode(FETCH_PEERS)


def dashboard_filter_choices(user):
    """Stage names and owners that occur among the user's projects (for the filter menus)."""
    visible = project_list_for_user(user, include_archived=True).order_by()
    stages = sorted(visible.exclude(current_stage=None).values_list("current_stage__name", flat=True).distinct())
    owners = sorted(visible.exclude(owner=None).values_list("owner__username", flat=True).distinct())
    return stages, owners


def score_trends(project_ids, *, points=12):
    """The last `points` snapshot scores of each project, oldest first, in one query."""
    from audits.models import ReadinessSnapshot

    ranked = (
        ReadinessSnapshot.objects.filter(project_id__in=list(project_ids))
        .annotate(recent=Window(RowNumber(), partition_by=[F("project_id")], order_by=F("taken_at").desc()))
        .filter(recent__lte=points)
        .values_list("project_id", "score", "taken_at")
    )
    trends = defaultdict(list)
    for project_id, score, _taken_at in sorted(ranked, key=lambda row: (row[0], row[2])):
        trends[project_id].append(score)
    return trends


def attention_for_user(user, *, now=None):
    """What needs this user: gates they own that are open, overdue or stale, and sign-offs they owe.

    Returns (gates, signoffs) where signoffs is a list of (project, role name, state) for the
    required roles the user holds whose sign-off is missing or stale, from the stored readiness.
    """
    now = now or timezone.now()
    today = timezone.localdate(now)
    visible = project_list_for_user(user)
    unsettled = [readiness.OPEN, readiness.PARTIAL]
    gates = (
        ProjectGate.objects.filter(owner=user, project__in=visible)
        .filter(
            Q(status__in=unsettled)
            | Q(due_date__lt=today) & ~Q(status__in=[readiness.CLOSED, readiness.WAIVED, readiness.NOT_APPLICABLE])
            | Q(status=readiness.CLOSED, evidence_expires_at__lt=now)
        )
        .annotate(
            evidence_is_stale=ExpressionWrapper(
                Q(status=readiness.CLOSED, evidence_expires_at__lt=now), output_field=BooleanField()
            )
        )
        .select_related("project", "category")
        .order_by("due_date", "project__name", "code")[:50]
    )
    waiting = []
    memberships = (
        Membership.objects.filter(user=user, project__in=visible)
        .select_related("project")
        .prefetch_related("signoff_roles")
        .order_by("project__name")
    )
    for membership in memberships:
        mine = {role.name for role in membership.signoff_roles.all()}
        if not mine:
            continue
        for state in membership.project.readiness.get("signoffs", []):
            if state["role"] in mine and state["state"] != readiness.CURRENT:
                waiting.append((membership.project, state["role"], state["state"]))
    return list(gates), waiting


# Fields of the audited gate state that enter the state hash: a change to one of them can make a
# sign-off stale; a change to the owner, due date or notes cannot.
_HASHED_GATE_FIELDS = ("status", "evidence_url", "evidence_note", "waiver_reason", "waiver_expires_at")


def signoff_rows(project, result, stage=None):
    """Every required sign-off role of the stage with its state, its sign-off and, when stale,
    the codes of the gates that changed since it was given.

    `result` is the project's live `readiness.Readiness` for the stage. A gate counts as changed
    when its effective status differs from the snapshot the sign-off was bound to, or when an
    audited change to a hashed field (status, evidence, waiver) happened after the signing.
    """
    from audits.models import AuditEvent

    stage = stage_for(project, stage)
    if stage is None:
        return []
    signoffs = {}
    for signoff in (
        SignOff.objects.filter(project=project, stage=stage)
        .select_related("role", "user", "snapshot")
        .order_by("signed_at", "pk")
    ):
        signoffs[signoff.role.name] = signoff  # the latest per role wins, as in the rules
    current_status = {gate.code: gate.effective_status for gate in result.gates}
    stale = [signoffs[s.role] for s in result.signoffs if s.state == readiness.STALE and s.role in signoffs]
    changed_by_role = {}
    if stale:
        since = min(s.signed_at for s in stale)
        gate_codes = dict(ProjectGate.objects.filter(project=project).values_list("pk", "code"))
        events = list(
            AuditEvent.objects.filter(project=project, object_type="projectgate", created_at__gt=since).values_list(
                "object_id", "created_at", "before", "after"
            )
        )
        for signoff in stale:
            codes = set()
            if signoff.snapshot is not None:
                then = {g["code"]: g["effective_status"] for g in signoff.snapshot.gates}
                codes |= {c for c in then.keys() | current_status.keys() if then.get(c) != current_status.get(c)}
            for object_id, created_at, before, after in events:
                if created_at <= signoff.signed_at:
                    continue
                before, after = before or {}, after or {}
                if any(before.get(f) != after.get(f) for f in _HASHED_GATE_FIELDS):
                    code = gate_codes.get(int(object_id)) if object_id.isdigit() else None
                    if code in current_status:
                        codes.add(code)
            changed_by_role[signoff.role.name] = sorted(codes, key=readiness.natural_key)
    rows = []
    for state in result.signoffs:
        rows.append(
            {
                "role": state.role,
                "state": state.state,
                "state_label": readiness.SIGNOFF_STATE_LABELS[state.state],
                "signoff": signoffs.get(state.role),
                "changed": changed_by_role.get(state.role, []),
            }
        )
    return rows


def category_names():
    return dict(Category.objects.values_list("key", "name"))


def gate_history(gate):
    """The audit events of one gate, newest first."""
    from audits.models import AuditEvent

    return AuditEvent.objects.filter(
        project_id=gate.project_id, object_type="projectgate", object_id=str(gate.pk)
    ).select_related("actor_user")


def gate_check_results(gate, *, limit=50):
    return gate.check_results.order_by("-received_at")[:limit]


def audit_events_for_project(project, *, actor="", action="", since=None, until=None):
    """The project's audit timeline, newest first, filtered by actor label, action and date range."""
    from audits.models import AuditEvent

    qs = AuditEvent.objects.filter(project=project)
    if actor:
        qs = qs.filter(actor_label=actor)
    if action:
        qs = qs.filter(action=action)
    if since:
        qs = qs.filter(created_at__date__gte=since)
    if until:
        qs = qs.filter(created_at__date__lte=until)
    return qs.order_by("-id")


def audit_filter_choices(project):
    """Actor labels and actions that occur in the project's history (for the filter menus)."""
    from audits.models import AuditEvent

    events = AuditEvent.objects.filter(project=project).order_by()
    actors = sorted(events.values_list("actor_label", flat=True).distinct())
    actions = sorted(events.values_list("action", flat=True).distinct())
    return actors, actions


def score_history(project, *, limit=500):
    """(taken_at, score) of the project's latest `limit` snapshots, oldest first."""
    from audits.models import ReadinessSnapshot

    rows = ReadinessSnapshot.objects.filter(project=project).order_by("-taken_at").values_list("taken_at", "score")
    return list(reversed(rows[:limit]))


def signoff_roles_of(user, project):
    """The sign-off roles this user holds on the project (none for non-members)."""
    membership = membership_for(user, project)
    if membership is None:
        return []
    return list(membership.signoff_roles.all())


def project_signoff_roles(project):
    return list(project.signoff_roles.order_by("order", "name"))


def waived_gates(project):
    return gate_list(project).filter(status=readiness.WAIVED)


# --- API reads: the per-project lists and objects of /api/v1/ ------------------------------------


def stage_list(project):
    """The project's stages in order, with their required sign-off roles."""
    return Stage.objects.filter(project=project).prefetch_related("required_roles").order_by("order")


def stage_get(project, stage_id):
    try:
        return stage_list(project).get(pk=stage_id)
    except (Stage.DoesNotExist, ValueError, TypeError):
        raise Http404("No such stage.") from None


def stage_by_name(project, name):
    stage = Stage.objects.filter(project=project, name=name).first()
    if stage is None:
        raise Http404("No such stage.")
    return stage


def membership_get(project, username):
    if "\x00" in username:
        raise Http404("No such member.")
    try:
        return memberships_for_project(project).get(user__username=username)
    except Membership.DoesNotExist:
        raise Http404("No such member.") from None


def signoff_get(project, signoff_id):
    try:
        return signoffs_for_project(project).get(pk=signoff_id)
    except (SignOff.DoesNotExist, ValueError, TypeError):
        raise Http404("No such sign-off.") from None


def check_results_for_gate(gate):
    """Every result of one gate, newest first (the API pages through them)."""
    from .models import CheckResult

    return CheckResult.objects.filter(gate=gate).order_by("-received_at", "-id")


def snapshot_list(project):
    """The project's readiness snapshots, newest first, without the heavy per-gate documents."""
    from audits.models import ReadinessSnapshot

    return (
        ReadinessSnapshot.objects.filter(project=project)
        .defer("reasons", "category_scores", "gates", "signoffs")
        .order_by("-taken_at", "-id")
    )


def snapshot_get(project, snapshot_id):
    from audits.models import ReadinessSnapshot

    try:
        return ReadinessSnapshot.objects.get(project=project, pk=snapshot_id)
    except (ReadinessSnapshot.DoesNotExist, ValueError, TypeError):
        raise Http404("No such snapshot.") from None


def readiness_cache_is_current(project, now=None):
    """Whether the project's cached readiness still holds: computed after its last change, and no
    evidence or waiver of its gates expired since it was computed (expiry changes the verdict
    without any write)."""
    if project.computed_at is None or project.computed_seq < project.change_seq:
        return False
    now = now or timezone.now()
    expired_since = Q(evidence_expires_at__gt=project.computed_at, evidence_expires_at__lte=now) | Q(
        waiver_expires_at__gt=project.computed_at, waiver_expires_at__lte=now
    )
    return not ProjectGate.objects.filter(project=project).filter(expired_since).exists()


def project_get_with_membership(user, slug, queryset=None):
    """The project by slug with the user's membership read in the same query (404 if none).

    Primes the cache `membership_for` reads, so the access checks that follow (`user_can`) cost
    no further query. Visibility is decided by `user_can`, exactly as in `project_get_for_user`.
    """
    from django.db.models import FilteredRelation

    qs = queryset if queryset is not None else Project.objects.select_related("current_stage", "template", "owner")
    if getattr(user, "is_authenticated", False):
        qs = qs.annotate(
            _mine=FilteredRelation("memberships", condition=Q(memberships__user=user)),
            _member_id=F("_mine__id"),
            _member_role=F("_mine__role"),
        )
    try:
        project = qs.get(slug=slug)
    except Project.DoesNotExist:
        raise Http404("No such project.") from None
    if getattr(user, "is_authenticated", False):
        membership = None
        if project._member_id is not None:
            membership = Membership(pk=project._member_id, user=user, project=project, role=project._member_role)
        project.__dict__.setdefault("_membership_cache", {})[user.pk] = membership
    if not user_can(user, project, READ):
        raise Http404("No such project.")
    return project


def stages_of(project):
    return list(Stage.objects.filter(project=project).order_by("order"))


# --- API reads: the catalog, and names given in requests -----------------------------------------


def gate_template_list():
    """Gate templates a project can be created from, with their number of gates."""
    from django.db.models import Count

    from gates.models import GateTemplate

    return GateTemplate.objects.annotate(gate_count=Count("definitions")).order_by("name", "-version")


def gate_template_get(template_id):
    """One gate template with its number of gates and its definitions in order (404 if none)."""
    from gates.models import GateDefinition

    definitions = GateDefinition.objects.select_related("category").order_by("order")
    template = gate_template_list().prefetch_related(Prefetch("definitions", queryset=definitions))
    try:
        return template.get(pk=template_id)
    except (template.model.DoesNotExist, ValueError, TypeError):
        raise Http404("No such gate template.") from None


def category_list():
    """Gate categories in display order."""
    return Category.objects.order_by("order", "name")


def signoff_roles_by_name(project, names):
    """The project's sign-off roles among these names (names it has no role for are left out)."""
    from .models import SignOffRole

    return list(SignOffRole.objects.filter(project=project, name__in=list(names)))


def user_by_username(username, *, active_only=False):
    """The user with this username (only an active one if asked), or None."""
    from django.contrib.auth import get_user_model

    if not username or "\x00" in username:  # PostgreSQL refuses a NUL in a comparison outright
        return None
    users = get_user_model().objects.filter(username=username)
    if active_only:
        users = users.filter(is_active=True)
    return users.first()
