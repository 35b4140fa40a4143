"""The one door for permission-sensitive reads of project data.

A non-member gets 404 (the project does not exist for them); a member without the right to
write gets 403. Staff see and manage every project (the back office).
"""

from collections import defaultdict

from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch
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
