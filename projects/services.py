"""The one door for every write to a project.

Each service: keyword-only arguments with an explicit `actor` (an `audits.services.Actor`),
one transaction, validation before saving, a row lock or version check against lost updates,
the audit event in the same transaction, and a readiness recompute queued on commit.
"""

import contextlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import URLValidator
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.text import slugify

from audits.models import ReadinessSnapshot
from audits.services import audit_record, snapshot_build, snapshot_take
from portal.errors import Conflict, InvalidInput, NotAllowed, StaleVersion

from . import readiness
from .models import CheckResult, Membership, Project, ProjectGate, SignOff, SignOffRole, Stage
from .selectors import OWN, WRITE, project_readiness, readiness_inputs, user_can

log = logging.getLogger(__name__)

GATE_EDITABLE_FIELDS = ("status", "evidence_url", "evidence_note", "owner", "due_date", "notes")
RECOMPUTE_PENDING_KEY = "preflight:recompute-pending:{}"


# --- helpers -----------------------------------------------------------------------------------


def _require(actor, project, need):
    """Refuse a write the actor may not make. The system (no user) may do anything."""
    if actor.user is None:
        return
    if not user_can(actor.user, project, need):
        if need == OWN:
            raise NotAllowed("Only the project's owners may do this.")
        raise NotAllowed("You may view this project but not change it.")


def _mark_changed(project):
    """Bump the project's change counter and queue a recompute once the transaction commits."""
    Project.objects.filter(pk=project.pk).update(change_seq=F("change_seq") + 1)
    transaction.on_commit(partial(readiness_request_recompute, project.pk))


def _gate_state(gate):
    """The audited view of a gate: every field a person may change."""
    return {
        "status": gate.status,
        "evidence_url": gate.evidence_url,
        "evidence_note": gate.evidence_note,
        "owner": gate.owner.get_username() if gate.owner_id else None,
        "due_date": gate.due_date.isoformat() if gate.due_date else None,
        "notes": gate.notes,
        "verified_at": gate.verified_at.isoformat() if gate.verified_at else None,
        "waiver_reason": gate.waiver_reason,
        "waiver_expires_at": gate.waiver_expires_at.isoformat() if gate.waiver_expires_at else None,
        "version": gate.version,
    }


def _lock_gate(gate, expected_version):
    """Lock the gate row and check the caller saw its current version."""
    locked = (
        ProjectGate.objects.select_for_update(of=("self",))
        .select_related("project", "category", "owner")
        .get(pk=gate.pk)
    )
    if expected_version is not None and int(expected_version) != locked.version:
        raise StaleVersion(
            f"Gate {locked.code} was changed by someone else (now version {locked.version}, "
            f"you edited version {expected_version}). Nothing was saved; reload to see the current value.",
            current=locked,
        )
    return locked


def _save_gate(actor, gate, before, action):
    """Save a locked, changed gate: new version, audit event, recompute on commit."""
    gate.version += 1
    gate.save()
    audit_record(actor=actor, action=action, project=gate.project, obj=gate, before=before, after=_gate_state(gate))
    _mark_changed(gate.project)
    return gate


# --- projects ----------------------------------------------------------------------------------


@transaction.atomic
def project_create_from_template(
    *, actor, template, name, slug="", owner=None, description="", target_launch_date=None, stages=None
):
    """Create a project with the template's gates, sign-off roles and stages; its creator owns it.

    `stages` overrides the template's default stages: a list of dicts with name, order,
    target_date, min_score, min_closed and required_roles (role names).
    """
    name = (name or "").strip()
    slug = slugify(slug or name)
    errors = {}
    if not name:
        errors["name"] = ["A project needs a name."]
    if not slug:
        errors["slug"] = ["A project needs a slug (letters, digits and dashes)."]
    elif Project.objects.filter(slug=slug).exists():
        errors["slug"] = [f"The slug “{slug}” is taken."]
    stage_specs = list(stages if stages is not None else (template.stages if template else []))
    orders = [int(s.get("order", i + 1)) for i, s in enumerate(stage_specs)]
    if len(set(orders)) != len(orders) or len({s["name"] for s in stage_specs}) != len(stage_specs):
        errors["stages"] = ["Stage names and orders must be unique."]
    if errors:
        raise InvalidInput("The project could not be created.", field_errors=errors)

    owner = owner or actor.user
    project = Project.objects.create(
        name=name,
        slug=slug,
        description=description,
        owner=owner,
        template=template,
        target_launch_date=target_launch_date,
    )
    role_names = list(template.signoff_roles if template else [])
    for spec in stage_specs:
        role_names += [r for r in spec.get("required_roles", []) if r not in role_names]
    roles = {n: SignOffRole.objects.create(project=project, name=n, order=i) for i, n in enumerate(role_names)}
    stage_by_order = {}
    for i, spec in enumerate(stage_specs):
        stage = Stage.objects.create(
            project=project,
            name=spec["name"],
            order=int(spec.get("order", i + 1)),
            target_date=spec.get("target_date"),
            min_score=spec.get("min_score"),
            min_closed=spec.get("min_closed"),
        )
        stage.required_roles.set([roles[r] for r in spec.get("required_roles", [])])
        stage_by_order[stage.order] = stage
    if stage_by_order:
        project.current_stage = stage_by_order[min(stage_by_order)]
        if not project.target_launch_date:
            project.target_launch_date = project.current_stage.target_date
        project.save(update_fields=["current_stage", "target_launch_date"])

    if template is not None:
        from .checks import template_check_clean

        gates = [
            ProjectGate(
                project=project,
                definition=d,
                code=d.code,
                title=d.title,
                category=d.category,
                severity=d.severity,
                weight=d.weight,
                stage=stage_by_order.get(d.stage_order),
                guidance=d.guidance,
                verification=d.verification,
                evidence_valid_days=d.evidence_valid_days,
                is_automated=bool(d.check_spec),
                check_spec=template_check_clean(d),
                order=d.order,
            )
            for d in template.definitions.select_related("category").order_by("order", "code")
        ]
        ProjectGate.objects.bulk_create(gates)
    if owner is not None:
        membership = Membership.objects.create(user=owner, project=project, role=Membership.Role.OWNER)
        membership.signoff_roles.set(roles.values())
    audit_record(
        actor=actor,
        action="project.created",
        project=project,
        obj=project,
        after={
            "name": name,
            "slug": slug,
            "template": str(template) if template else None,
            "gates": project.gates.count(),
            "stages": [s["name"] for s in stage_specs],
        },
    )
    _mark_changed(project)
    return project


PROJECT_EDITABLE_FIELDS = ("name", "description", "target_launch_date", "lifecycle")


@transaction.atomic
def project_update(*, actor, project, **changes):
    """Change a project's name, description, launch date or lifecycle (owners only)."""
    _require(actor, project, OWN)
    unknown = set(changes) - set(PROJECT_EDITABLE_FIELDS)
    if unknown:
        raise InvalidInput(f"These fields cannot be changed here: {', '.join(sorted(unknown))}.")
    project = Project.objects.select_for_update().get(pk=project.pk)
    if "name" in changes and not (changes["name"] or "").strip():
        raise InvalidInput("The project could not be saved.", field_errors={"name": ["A project needs a name."]})
    if "lifecycle" in changes and changes["lifecycle"] not in Project.Lifecycle.values:
        raise InvalidInput("Unknown lifecycle.", field_errors={"lifecycle": ["Choose active, launched or archived."]})
    before = {f: getattr(project, f) for f in changes}
    for field, value in changes.items():
        setattr(project, field, value)
    project.save(update_fields=[*changes, "updated_at"])
    after = {f: getattr(project, f) for f in changes}
    if before != after:
        audit_record(actor=actor, action="project.updated", project=project, obj=project, before=before, after=after)
    return project


@transaction.atomic
def project_change_stage(*, actor, project, stage):
    """Move the project to another of its stages (owners only); readiness is judged against it."""
    _require(actor, project, OWN)
    if stage.project_id != project.pk:
        raise InvalidInput("That stage belongs to another project.", field_errors={"stage": ["Unknown stage."]})
    project = Project.objects.select_for_update(of=("self",)).select_related("current_stage").get(pk=project.pk)
    before = project.current_stage.name if project.current_stage else None
    if project.current_stage_id == stage.pk:
        return project
    project.current_stage = stage
    project.save(update_fields=["current_stage", "updated_at"])
    audit_record(
        actor=actor,
        action="project.stage_changed",
        project=project,
        obj=project,
        before={"stage": before},
        after={"stage": stage.name},
    )
    _mark_changed(project)
    return project


# --- gates -------------------------------------------------------------------------------------


def _clean_gate_changes(project, changes):
    errors = {}
    status = changes.get("status")
    if "status" in changes and status not in readiness.STATUSES:
        errors["status"] = [f"Choose one of: {', '.join(readiness.STATUSES)}."]
    if status == readiness.WAIVED:
        errors["status"] = ["Use the waiver form to waive a gate: it needs a reason and an expiry."]
    if changes.get("evidence_url"):
        try:
            URLValidator(schemes=["http", "https"])(changes["evidence_url"])
        except ValidationError:
            errors["evidence_url"] = ["Enter a full http(s) link."]
    owner = changes.get("owner")
    if owner is not None and not Membership.objects.filter(project=project, user=owner).exists():
        errors["owner"] = ["The owner must be a member of the project."]
    if "notes" in changes and changes["notes"] is None:
        changes["notes"] = ""
    if "evidence_note" in changes and changes["evidence_note"] is None:
        changes["evidence_note"] = ""
    if "evidence_url" in changes and changes["evidence_url"] is None:
        changes["evidence_url"] = ""
    if errors:
        raise InvalidInput("The gate was not saved.", field_errors=errors)


@transaction.atomic
def gate_update(*, actor, gate, version, **changes):
    """Change a gate's status, evidence, owner, due date or notes.

    `version` is the version the caller last saw: if the gate changed since, nothing is written
    and `StaleVersion` says so (pass None only for system writers that re-read the row).
    Closing a gate stamps `verified_at`; new evidence on a closed gate re-verifies it.
    """
    unknown = set(changes) - set(GATE_EDITABLE_FIELDS)
    if unknown:
        raise InvalidInput(f"These fields cannot be changed here: {', '.join(sorted(unknown))}.")
    _require(actor, gate.project, WRITE)
    gate = _lock_gate(gate, version)
    if changes.get("status") == gate.status:
        del changes["status"]  # restating the current status (a waived one too) changes nothing
    _clean_gate_changes(gate.project, changes)
    if gate.status == readiness.WAIVED and "status" in changes:
        # Lifting a waiver is an owner's decision (gate_unwaive), and it clears the waiver with it.
        raise Conflict(
            f"Gate {gate.code} is waived. An owner lifts the waiver first; the gate then reopens.",
            current=gate,
            field_errors={"status": ["Waived: an owner lifts the waiver first."]},
        )
    before = _gate_state(gate)
    changed = [f for f, v in changes.items() if getattr(gate, f) != v]
    if not changed:
        return gate
    for field in changed:
        setattr(gate, field, changes[field])
    now = timezone.now()
    evidence_changed = {"evidence_url", "evidence_note"} & set(changed)
    if gate.status == readiness.CLOSED and ("status" in changed or evidence_changed):
        gate.verified_at = now
    if "status" in changed and gate.status != readiness.CLOSED:
        gate.verified_at = None
    return _save_gate(actor, gate, before, "gate.status_changed" if "status" in changed else "gate.updated")


def gate_update_status(*, actor, gate, version, status):
    """Shortcut for the most common write: a new status."""
    return gate_update(actor=actor, gate=gate, version=version, status=status)


@transaction.atomic
def gate_waive(*, actor, gate, version, reason, expires_at):
    """Waive a gate (owners only): it leaves the score until `expires_at`, then counts as open."""
    _require(actor, gate.project, OWN)
    gate = _lock_gate(gate, version)
    errors = {}
    if not (reason or "").strip():
        errors["reason"] = ["Say why this gate may be waived."]
    if expires_at is None:
        errors["expires_at"] = ["A waiver needs an expiry."]
    elif expires_at <= timezone.now():
        errors["expires_at"] = ["The expiry must be in the future."]
    if errors:
        raise InvalidInput("The waiver was not saved.", field_errors=errors)
    before = _gate_state(gate)
    gate.status = readiness.WAIVED
    gate.waiver_reason = reason.strip()
    gate.waiver_expires_at = expires_at
    gate.waiver_approver = actor.user
    gate.verified_at = None
    return _save_gate(actor, gate, before, "gate.waived")


@transaction.atomic
def gate_unwaive(*, actor, gate, version, status=readiness.OPEN):
    """Lift a waiver (owners, or the system when it expires); the gate returns to `status`."""
    _require(actor, gate.project, OWN)
    gate = _lock_gate(gate, version)
    if gate.status != readiness.WAIVED:
        raise Conflict(f"Gate {gate.code} is not waived.", current=gate)
    if status not in (readiness.OPEN, readiness.PARTIAL):
        raise InvalidInput(
            "A gate leaves its waiver as open or partial.", field_errors={"status": ["Open or partial."]}
        )
    before = _gate_state(gate)
    gate.status = status
    gate.waiver_reason = ""
    gate.waiver_expires_at = None
    gate.waiver_approver = None
    return _save_gate(actor, gate, before, "gate.unwaived")


# --- members -----------------------------------------------------------------------------------


def _membership_state(membership):
    return {
        "user": membership.user.get_username(),
        "role": membership.role,
        "signoff_roles": sorted(r.name for r in membership.signoff_roles.all()),
    }


def _check_roles(project, signoff_roles):
    roles = list(signoff_roles or [])
    if any(r.project_id != project.pk for r in roles):
        raise InvalidInput(
            "Sign-off roles must belong to this project.", field_errors={"signoff_roles": ["Unknown role."]}
        )
    return roles


@transaction.atomic
def member_add(*, actor, project, user, role, signoff_roles=()):
    """Add a user to a project with a role and the sign-off roles they may sign for (owners only)."""
    _require(actor, project, OWN)
    if role not in Membership.Role.values:
        raise InvalidInput("Unknown role.", field_errors={"role": ["Choose owner, editor, signer or viewer."]})
    roles = _check_roles(project, signoff_roles)
    try:
        with transaction.atomic():
            membership = Membership.objects.create(user=user, project=project, role=role)
    except IntegrityError:
        raise Conflict(
            f"{user.get_username()} is already a member of {project}.", field_errors={"user": ["Already a member."]}
        ) from None
    membership.signoff_roles.set(roles)
    audit_record(
        actor=actor, action="member.added", project=project, obj=membership, after=_membership_state(membership)
    )
    # Who may sign for which role is part of the sign-off state: recompute, as member_update does.
    _mark_changed(project)
    return membership


@transaction.atomic
def member_update(*, actor, membership, role, signoff_roles=()):
    """Change a member's role and sign-off roles (owners only); a project keeps at least one owner."""
    project = membership.project
    _require(actor, project, OWN)
    if role not in Membership.Role.values:
        raise InvalidInput("Unknown role.", field_errors={"role": ["Choose owner, editor, signer or viewer."]})
    roles = _check_roles(project, signoff_roles)
    membership = Membership.objects.select_for_update(of=("self",)).select_related("user").get(pk=membership.pk)
    if membership.role == Membership.Role.OWNER and role != Membership.Role.OWNER:
        _ensure_another_owner(membership)
    before = _membership_state(membership)
    membership.role = role
    membership.save(update_fields=["role"])
    membership.signoff_roles.set(roles)
    after = _membership_state(membership)
    if before != after:
        audit_record(actor=actor, action="member.updated", project=project, obj=membership, before=before, after=after)
        _mark_changed(project)
    return membership


def _ensure_another_owner(membership):
    others = Membership.objects.filter(project_id=membership.project_id, role=Membership.Role.OWNER).exclude(
        pk=membership.pk
    )
    if not others.exists():
        raise Conflict("A project must keep at least one owner.")


@transaction.atomic
def member_remove(*, actor, membership):
    """Remove a member (owners only). Their sign-offs stay in the history; the last owner stays."""
    project = membership.project
    _require(actor, project, OWN)
    membership = Membership.objects.select_for_update(of=("self",)).select_related("user").get(pk=membership.pk)
    if membership.role == Membership.Role.OWNER:
        _ensure_another_owner(membership)
    before = _membership_state(membership)
    audit_record(actor=actor, action="member.removed", project=project, obj=membership, before=before)
    membership.delete()
    _mark_changed(project)


# --- sign-offs ---------------------------------------------------------------------------------


@transaction.atomic
def signoff_give(*, actor, project, stage, role, decision, comment="", state_hash=None):
    """Sign a stage off for one role, bound to the state hash of this moment.

    Only a member holding that sign-off role may sign for it. A decision other than GO needs a
    comment. Signing again for the same role replaces the earlier decision (both are audited).
    `state_hash` is the hash of the state the signer was shown: it is compared under the project
    lock (which every change to the project's readiness also takes), and if the state moved since,
    nothing is signed and `Conflict` carries the readiness as it is now.
    """
    user = actor.user
    if user is None:
        raise NotAllowed("Sign-offs are given by people, not by the system.")
    project = Project.objects.select_for_update().get(pk=project.pk)
    if stage.project_id != project.pk or role.project_id != project.pk:
        raise InvalidInput("That stage or role belongs to another project.")
    membership = Membership.objects.filter(project=project, user=user, signoff_roles=role).first()
    if membership is None:
        raise NotAllowed(f"You do not hold the sign-off role “{role.name}” on {project}.")
    if decision not in readiness.DECISIONS:
        raise InvalidInput("Unknown decision.", field_errors={"decision": ["Choose GO, CONDITIONAL GO or NO-GO."]})
    comment = (comment or "").strip()
    if decision != readiness.GO and not comment:
        raise InvalidInput(
            "A comment is required unless the decision is GO.",
            field_errors={"comment": ["Say what must happen before this is a GO."]},
        )
    now = timezone.now()
    result = project_readiness(project, stage=stage, now=now)
    if state_hash is not None and state_hash != result.state_hash:
        raise Conflict(
            "The gates changed since you read them. Nothing was signed: review the current state and sign again.",
            current=result,
            field_errors={"state_hash": ["Not the current state of this stage."]},
        )
    snapshot = snapshot_take(
        project=project, result=result, kind=ReadinessSnapshot.Kind.SIGNOFF, stage_name=stage.name, now=now
    )
    existing = SignOff.objects.select_for_update().filter(project=project, stage=stage, role=role, user=user).first()
    before = None
    if existing is not None:
        before = {"decision": existing.decision, "comment": existing.comment, "state_hash": existing.state_hash}
        existing.delete()
    signoff = SignOff.objects.create(
        project=project,
        stage=stage,
        role=role,
        user=user,
        decision=decision,
        comment=comment,
        signed_at=now,
        state_hash=result.state_hash,
        snapshot=snapshot,
    )
    audit_record(
        actor=actor,
        action="signoff.given",
        project=project,
        obj=signoff,
        before=before,
        after={
            "stage": stage.name,
            "role": role.name,
            "decision": decision,
            "comment": comment,
            "state_hash": result.state_hash,
            "score": result.score,
            "verdict": result.verdict,
        },
    )
    _mark_changed(project)
    return signoff


@transaction.atomic
def signoff_revoke(*, actor, signoff):
    """Withdraw a sign-off: its signer, or a project owner, may."""
    project = signoff.project
    if actor.user is None or (actor.user.pk != signoff.user_id and not user_can(actor.user, project, OWN)):
        raise NotAllowed("Only the signer or a project owner may revoke a sign-off.")
    signoff = SignOff.objects.select_for_update(of=("self",)).select_related("stage", "role", "user").get(pk=signoff.pk)
    audit_record(
        actor=actor,
        action="signoff.revoked",
        project=project,
        obj=signoff,
        before={
            "stage": signoff.stage.name,
            "role": signoff.role.name,
            "user": signoff.user.get_username(),
            "decision": signoff.decision,
            "state_hash": signoff.state_hash,
        },
    )
    signoff.delete()
    _mark_changed(project)


# --- readiness ---------------------------------------------------------------------------------


def readiness_request_recompute(project_id):
    """Queue a recompute of one project, coalescing bursts.

    Without a broker the task runs right here. With one, the first change of a burst sets a
    pending flag in the shared cache and queues the task a moment later; changes that arrive
    while the flag is up ride along. If the cache or broker is down the write still stands:
    the periodic sweep finds the project behind (computed_seq < change_seq) and catches up.
    """
    from .tasks import recompute_readiness

    if recompute_readiness.app.conf.task_always_eager:
        recompute_readiness.delay(project_id)
        return
    key = RECOMPUTE_PENDING_KEY.format(project_id)
    try:
        if not cache.add(key, 1, timeout=max(60, int(settings.PREFLIGHT_RECOMPUTE_DELAY * 10))):
            return  # a recompute is already queued and will read this change too
    except Exception:  # a down cache must not fail a committed write
        log.warning("Could not queue a recompute of project %s; the sweep will catch up.", project_id, exc_info=True)
        return
    try:
        recompute_readiness.apply_async(args=[project_id], countdown=settings.PREFLIGHT_RECOMPUTE_DELAY)
    except Exception:  # nor a down broker
        log.warning("Could not queue a recompute of project %s; the sweep will catch up.", project_id, exc_info=True)
        # Nothing is queued, so the flag must not hold back the next change's attempt.
        with contextlib.suppress(Exception):
            cache.delete(key)


def readiness_recompute(*, project_ids, now=None, force=False, batch_size=500):
    """Recompute the cached readiness of many projects in a fixed number of queries per batch.

    Idempotent: it reads the latest state, skips projects whose cache is already current (unless
    `force`), and a snapshot is taken only when the state hash, score or verdict moved. Safe to
    run concurrently (a sweep beside a queued task): only the run that advances a project's
    cache writes it, so one change yields one snapshot and one announcement.
    Returns the number of projects written.
    """
    now = now or timezone.now()
    project_ids = list(project_ids)
    written = 0
    for start in range(0, len(project_ids), batch_size):
        evaluated = _recompute_evaluate(project_ids[start : start + batch_size], now=now, force=force)
        written += _recompute_write(evaluated, now=now, force=force)
    return written


@dataclass(frozen=True)
class _Evaluated:
    """One project's readiness as computed from the state read at `seq` (its change_seq then)."""

    project_id: int
    stage_name: str
    result: object  # readiness.Readiness
    seq: int


def _recompute_evaluate(batch, *, now, force):
    """Evaluate the projects of a batch that are behind (all of them with `force`); no writes."""
    cached = Project.objects.filter(pk__in=batch).values_list("id", "computed_seq", "change_seq")
    due = [pid for pid, computed_seq, change_seq in cached if force or computed_seq < change_seq]
    if not due:
        return []
    evaluated = []
    for pid, (stage, gates, signoffs, category_order, seq) in readiness_inputs(due).items():
        result = readiness.evaluate(gates, stage, signoffs, now, category_order=category_order)
        evaluated.append(_Evaluated(pid, stage.name if stage else "", result, seq))
    return evaluated


def _recompute_write(evaluated, *, now, force):
    """Write the evaluated projects this run advances; snapshot and announce those that moved.

    The rows are locked and their cache re-read in the writing transaction: a project another
    run already brought to this change (or further) is left alone, and a row locked by someone
    else is skipped rather than waited on (the holder is a write that queues its own recompute,
    or a recompute writing the same change; the sweep catches up on anything left behind).
    """
    if not evaluated:
        return 0
    computed_at = connection.ops.adapt_datetimefield_value(now)
    with transaction.atomic():
        locked = {
            row["id"]: row
            for row in Project.objects.select_for_update(skip_locked=True)
            .filter(pk__in=[e.project_id for e in evaluated])
            .order_by("pk")
            .values("id", "state_hash", "score", "verdict", "computed_seq")
        }
        rows, snapshots, moved_from = [], [], []
        for e in evaluated:
            old = locked.get(e.project_id)
            if old is None or old["computed_seq"] > e.seq or (old["computed_seq"] == e.seq and not force):
                continue
            result, data = e.result, e.result.to_dict()
            rows.append(
                (
                    result.score,
                    result.verdict,
                    json.dumps(data, cls=DjangoJSONEncoder),
                    result.state_hash,
                    computed_at,
                    e.seq,
                    e.project_id,
                )
            )
            if (old["state_hash"], old["score"], old["verdict"]) != (result.state_hash, result.score, result.verdict):
                moved_from.append({k: old[k] for k in ("state_hash", "score", "verdict")})
                snapshots.append(
                    snapshot_build(
                        project_id=e.project_id,
                        result=data,
                        kind=ReadinessSnapshot.Kind.RECOMPUTE,
                        stage_name=e.stage_name,
                        now=now,
                    )
                )
        _write_readiness(rows)
        ReadinessSnapshot.objects.bulk_create(snapshots)
        _announce_moves(snapshots, moved_from)
    return len(rows)


def _announce_moves(snapshots, moved_from):
    """After commit, tell people and webhooks about readiness that moved (not a first compute)."""
    from notifications.tasks import readiness_moved

    for snapshot, before in zip(snapshots, moved_from, strict=True):
        if before["state_hash"] and snapshot.pk:
            readiness_moved.delay_on_commit(snapshot.pk, before)


def _write_readiness(rows):
    """Write many projects' cached readiness in one executemany.

    The ORM's bulk_update builds a CASE expression per row and field, which costs more than the
    evaluation itself at a thousand projects; a parameterised UPDATE per row, sent as one batch,
    does not. rows: (score, verdict, readiness json, state_hash, computed_at, computed_seq, id).
    """
    if not rows:
        return
    table = connection.ops.quote_name(Project._meta.db_table)
    as_json = "::jsonb" if connection.vendor == "postgresql" else ""
    sql = (
        f"UPDATE {table} SET score = %s, verdict = %s, readiness = %s{as_json}, state_hash = %s, "
        "computed_at = %s, computed_seq = %s WHERE id = %s"
    )
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def readiness_recompute_due(*, now=None):
    """Recompute every active project whose cached readiness is behind its last change (the sweep)."""
    # Answered by the partial index project_recompute_due (it holds only the projects behind).
    ids = (
        Project.objects.filter(computed_seq__lt=F("change_seq"))
        .exclude(lifecycle=Project.Lifecycle.ARCHIVED)
        .order_by()
        .values_list("pk", flat=True)
    )
    return readiness_recompute(project_ids=sorted(ids), now=now)


def parse_aware_datetime(value):
    """Accept a date, naive or aware datetime and return an aware datetime (end of day for dates)."""
    if value is None or isinstance(value, datetime) and timezone.is_aware(value):
        return value
    if isinstance(value, datetime):
        return timezone.make_aware(value)
    return timezone.make_aware(datetime.combine(value, datetime.min.time())) + timedelta(days=1, seconds=-1)


# --- stages ------------------------------------------------------------------------------------

STAGE_EDITABLE_FIELDS = ("name", "target_date", "min_score", "min_closed")


@transaction.atomic
def stage_update(*, actor, stage, required_roles=None, **changes):
    """Change a stage's name, target date or criteria (owners only); readiness is recomputed."""
    project = stage.project
    _require(actor, project, OWN)
    unknown = set(changes) - set(STAGE_EDITABLE_FIELDS)
    if unknown:
        raise InvalidInput(f"These fields cannot be changed here: {', '.join(sorted(unknown))}.")
    stage = Stage.objects.select_for_update().get(pk=stage.pk)
    errors = {}
    if "name" in changes and not (changes["name"] or "").strip():
        errors["name"] = ["A stage needs a name."]
    if changes.get("min_score") is not None and not 0 <= changes["min_score"] <= 100:
        errors["min_score"] = ["Between 0 and 100."]
    if errors:
        raise InvalidInput("The stage was not saved.", field_errors=errors)
    before = {f: getattr(stage, f) for f in changes}
    before["required_roles"] = sorted(stage.required_roles.values_list("name", flat=True))
    for field, value in changes.items():
        setattr(stage, field, value)
    try:
        with transaction.atomic():
            stage.save()
    except IntegrityError:
        raise Conflict("Another stage of this project has that name.", field_errors={"name": ["Taken."]}) from None
    if required_roles is not None:
        stage.required_roles.set(_check_roles(project, required_roles))
    after = {f: getattr(stage, f) for f in changes}
    after["required_roles"] = sorted(stage.required_roles.values_list("name", flat=True))
    if before != after:
        audit_record(actor=actor, action="stage.updated", project=project, obj=stage, before=before, after=after)
        _mark_changed(project)
    return stage


# --- check results -----------------------------------------------------------------------------

CHECK_SOURCE_MAX = 200
CHECK_IDEMPOTENCY_KEY_MAX = 200


def _check_result_state(result):
    return {
        "source": result.source,
        "passed": result.passed,
        "details": result.details[:500],
        "idempotency_key": result.idempotency_key,
    }


def _check_result_replay(gate, idempotency_key, request_fingerprint):
    """The result already recorded under this key, or None; a different request under it is a conflict."""
    existing = CheckResult.objects.select_related("gate").filter(gate=gate, idempotency_key=idempotency_key).first()
    if existing is None:
        return None
    if existing.request_fingerprint != request_fingerprint:
        raise Conflict(
            f"The Idempotency-Key “{idempotency_key}” was already used for a different check result on gate "
            f"{gate.code}. Use a new key for a new result.",
            field_errors={"idempotency_key": ["Already used with a different request."]},
        )
    existing.created = False
    return existing


def check_result_record(
    *, actor, gate, passed, source, details="", data=None, idempotency_key="", request_fingerprint=""
):
    """Record a pass/fail from an automated source; an automated gate follows it.

    A passing result closes an automated gate, a failing one reopens it, through the same gate
    save as every other change (new version, audit event, recompute on commit). Waived and
    not-applicable gates keep their status. With an `idempotency_key`, a retry carrying the same
    `request_fingerprint` returns the result recorded first (with `.created = False`) and writes
    nothing; the same key with another fingerprint raises Conflict. Returns the CheckResult, with
    `.created` telling whether it is new.
    """
    source = (source or "").strip()
    idempotency_key = (idempotency_key or "").strip()
    errors = {}
    if not source:
        errors["source"] = ["Say which system produced this result."]
    elif len(source) > CHECK_SOURCE_MAX:
        errors["source"] = [f"At most {CHECK_SOURCE_MAX} characters."]
    if len(idempotency_key) > CHECK_IDEMPOTENCY_KEY_MAX:
        errors["idempotency_key"] = [f"At most {CHECK_IDEMPOTENCY_KEY_MAX} characters."]
    if not isinstance(passed, bool):
        errors["passed"] = ["true or false."]
    if data is not None and not isinstance(data, dict):
        errors["data"] = ["A JSON object."]
    if errors:
        raise InvalidInput("The check result was not recorded.", field_errors=errors)
    _require(actor, gate.project, WRITE)
    if idempotency_key:
        replay = _check_result_replay(gate, idempotency_key, request_fingerprint)
        if replay is not None:
            return replay
    try:
        with transaction.atomic():
            return _check_result_write(
                actor=actor,
                gate=gate,
                passed=passed,
                source=source,
                details=details or "",
                data=data or {},
                idempotency_key=idempotency_key,
                request_fingerprint=request_fingerprint,
            )
    except IntegrityError:
        # A concurrent retry with the same key committed first: answer as a replay of it.
        if not idempotency_key:
            raise
        replay = _check_result_replay(gate, idempotency_key, request_fingerprint)
        if replay is None:
            raise
        return replay


def _check_result_write(*, actor, gate, passed, source, details, data, idempotency_key, request_fingerprint):
    gate = _lock_gate(gate, None)
    result = CheckResult.objects.create(
        gate=gate,
        source=source,
        passed=passed,
        details=details,
        data=data,
        idempotency_key=idempotency_key,
        request_fingerprint=request_fingerprint,
        received_at=timezone.now(),
    )
    audit_record(
        actor=actor,
        action="check.recorded",
        project=gate.project,
        obj=result,
        object_repr=str(result)[:300],
        after=_check_result_state(result),
    )
    target = readiness.CLOSED if passed else readiness.OPEN
    if gate.is_automated and gate.status not in (readiness.WAIVED, readiness.NOT_APPLICABLE) and gate.status != target:
        before = _gate_state(gate)
        gate.status = target
        gate.verified_at = result.received_at if passed else None
        _save_gate(actor, gate, before, "gate.status_changed")
    result.gate = gate
    result.created = True
    return result
