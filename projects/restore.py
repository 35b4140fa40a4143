"""Restore a project from its JSON export (`exports.export_json`): backups and moves between instances.

The restore recreates every row of the project with the same field values — timestamps, versions,
cached readiness and snapshots included — so exporting the restored project gives the same
document back. Users missing in this database are created without a usable password (they set one
through password reset). The project's audit history is appended to this database's hash chain in
its original order and with its original times, actors and contents; the ids it mentions are
mapped to the restored rows, and it is not fanned out to notifications and webhooks again. One
more event, "project.restored", records the restore itself.
"""

from datetime import UTC

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.dateparse import parse_date, parse_datetime

from audits.models import AuditChainHead, AuditEvent, ReadinessSnapshot
from audits.services import audit_append, audit_record
from gates.models import Category, GateTemplate
from gates.services import template_load
from portal.errors import Conflict, InvalidInput, NotAllowed

from . import readiness
from .exports import JSON_FORMAT, JSON_VERSION
from .models import CheckResult, Membership, Project, ProjectGate, SignOff, SignOffRole, Stage


def _dt(value):
    if value is None:
        return None
    parsed = parse_datetime(value)
    if parsed is None:
        raise ValueError(f"not a date and time: {value!r}")
    return parsed.astimezone(UTC)


def _date(value):
    if value is None:
        return None
    parsed = parse_date(value)
    if parsed is None:
        raise ValueError(f"not a date: {value!r}")
    return parsed


def project_restore(*, actor, data, source=""):
    """Recreate a project from `export_json` data (the back office and the command line only).

    Refuses a document of another format or version, a slug that is taken, and malformed data,
    with nothing written.
    """
    if actor.user is not None and not actor.user.is_staff:
        raise NotAllowed("Only the back office may restore projects.")
    if not isinstance(data, dict) or data.get("format") != JSON_FORMAT:
        raise InvalidInput(f"This is not a Preflight project export (expected format {JSON_FORMAT!r}).")
    if data.get("version") != JSON_VERSION:
        raise InvalidInput(
            f"Unsupported project export version {data.get('version')!r} (this one reads {JSON_VERSION})."
        )
    slug = (data.get("project") or {}).get("slug")
    if Project.objects.filter(slug=slug).exists():
        raise Conflict(f"A project with the slug “{slug}” already exists here; nothing was restored.")
    try:
        return _restore(actor, data, source)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InvalidInput(f"The project export is incomplete or malformed ({type(exc).__name__}: {exc}).") from exc


@transaction.atomic
def _restore(actor, data, source):
    ids = {}  # (object_type, old id as str) → new id as str, for the audit history

    def remember(object_type, old, new):
        if old is not None:
            ids[(object_type, str(old))] = str(new.pk)

    users = _restore_users(data["users"])
    for spec in data["categories"]:
        category = Category.objects.filter(key=spec["key"]).first() or Category.objects.create(
            key=spec["key"],
            name=spec["name"],
            description=spec.get("description", ""),
            order=spec.get("order", 200),
            is_builtin=spec.get("is_builtin", False),
        )
        remember("category", spec.get("pk"), category)
    categories = {c.key: c for c in Category.objects.filter(key__in=[c["key"] for c in data["categories"]])}
    template = None
    if data.get("template"):
        spec = data["template"]
        template = GateTemplate.objects.filter(key=spec["key"], version=spec["version"]).first()
        if template is None:
            template, _ = template_load(
                actor=actor, data=spec, source=source or "project restore", builtin=spec.get("is_builtin", False)
            )
    definitions = {d.code: d for d in template.definitions.all()} if template else {}

    spec = data["project"]
    project = Project.objects.create(
        name=spec["name"],
        slug=spec["slug"],
        description=spec["description"],
        owner=users.get(spec["owner"]),
        template=template,
        target_launch_date=_date(spec["target_launch_date"]),
        lifecycle=spec["lifecycle"],
        score=spec["score"],
        verdict=spec["verdict"],
        readiness=spec["readiness"],
        state_hash=spec["state_hash"],
        computed_at=_dt(spec["computed_at"]),
        change_seq=spec["change_seq"],
        computed_seq=spec["computed_seq"],
    )
    remember("project", spec.get("pk"), project)

    roles = {}
    for role_spec in data["signoff_roles"]:
        role = SignOffRole.objects.create(project=project, name=role_spec["name"], order=role_spec["order"])
        roles[role.name] = role
        remember("signoffrole", role_spec.get("pk"), role)
    stages = {}
    for stage_spec in data["stages"]:
        stage = Stage.objects.create(
            project=project,
            name=stage_spec["name"],
            order=stage_spec["order"],
            target_date=_date(stage_spec["target_date"]),
            min_score=stage_spec["min_score"],
            min_closed=stage_spec["min_closed"],
        )
        stage.required_roles.set([roles[name] for name in stage_spec["required_roles"]])
        stages[stage.name] = stage
        remember("stage", stage_spec.get("pk"), stage)
    Project.objects.filter(pk=project.pk).update(
        current_stage=stages.get(spec["current_stage"]),
        created_at=_dt(spec["created_at"]),
        updated_at=_dt(spec["updated_at"]),
    )

    for member_spec in data["memberships"]:
        membership = Membership.objects.create(
            user=users[member_spec["user"]], project=project, role=member_spec["role"]
        )
        membership.signoff_roles.set([roles[name] for name in member_spec["signoff_roles"]])
        Membership.objects.filter(pk=membership.pk).update(created_at=_dt(member_spec["created_at"]))
        remember("membership", member_spec.get("pk"), membership)

    gate_specs = data["gates"]
    gates = ProjectGate.objects.bulk_create(
        [
            ProjectGate(
                project=project,
                definition=definitions.get(g["definition"]) if g["definition"] else None,
                code=g["code"],
                title=g["title"],
                category=categories[g["category"]],
                severity=g["severity"],
                weight=g["weight"],
                stage=stages.get(g["stage"]) if g["stage"] else None,
                status=g["status"],
                owner=users.get(g["owner"]),
                due_date=_date(g["due_date"]),
                guidance=g["guidance"],
                verification=g["verification"],
                evidence_url=g["evidence_url"],
                evidence_note=g["evidence_note"],
                notes=g["notes"],
                verified_at=_dt(g["verified_at"]),
                evidence_valid_days=g["evidence_valid_days"],
                evidence_expires_at=_dt(g["evidence_expires_at"]),
                # Only a waived gate keeps a waiver (a database constraint): an export taken while
                # a status change could leave one behind on an unwaived gate restores without it.
                waiver_reason=g["waiver_reason"] if g["status"] == readiness.WAIVED else "",
                waiver_approver=users.get(g["waiver_approver"]) if g["status"] == readiness.WAIVED else None,
                waiver_expires_at=_dt(g["waiver_expires_at"]) if g["status"] == readiness.WAIVED else None,
                is_automated=g["is_automated"],
                check_spec=g["check_spec"],
                # Absent from exports made before these fields existed: never probed, never lapsed.
                check_probed_at=_dt(g.get("check_probed_at")),
                evidence_lapse_handled_at=_dt(g.get("evidence_lapse_handled_at")),
                order=g["order"],
                version=g["version"],
            )
            for g in gate_specs
        ],
        batch_size=500,
    )
    for gate, g in zip(gates, gate_specs, strict=True):
        gate.created_at, gate.updated_at = _dt(g["created_at"]), _dt(g["updated_at"])
        remember("projectgate", g.get("pk"), gate)
    # bulk_create stamps auto_now(_add) fields with the present; bulk_update writes the originals.
    ProjectGate.objects.bulk_update(gates, ["created_at", "updated_at"], batch_size=500)
    by_code = {gate.code: gate for gate in gates}

    result_specs = data["check_results"]
    results = CheckResult.objects.bulk_create(
        [
            CheckResult(
                gate=by_code[r["gate"]],
                source=r["source"],
                passed=r["passed"],
                details=r["details"],
                data=r["data"],
                idempotency_key=r["idempotency_key"],
                request_fingerprint=r["request_fingerprint"],
                received_at=_dt(r["received_at"]),
            )
            for r in result_specs
        ],
        batch_size=500,
    )
    for result, r in zip(results, result_specs, strict=True):
        remember("checkresult", r.get("pk"), result)

    snapshot_specs = data["snapshots"]
    snapshots = ReadinessSnapshot.objects.bulk_create(
        [
            ReadinessSnapshot(
                project=project,
                stage_name=s["stage_name"],
                kind=s["kind"],
                taken_at=_dt(s["taken_at"]),
                day=_date(s["day"]),
                score=s["score"],
                verdict=s["verdict"],
                reasons=s["reasons"],
                category_scores=s["category_scores"],
                gates=s["gates"],
                signoffs=s["signoffs"],
                state_hash=s["state_hash"],
            )
            for s in snapshot_specs
        ],
        batch_size=500,
    )
    snapshot_by_old = {}
    for snapshot, s in zip(snapshots, snapshot_specs, strict=True):
        snapshot_by_old[s["pk"]] = snapshot
        remember("readinesssnapshot", s["pk"], snapshot)

    for s in data["signoffs"]:
        signoff = SignOff.objects.create(
            project=project,
            stage=stages[s["stage"]],
            role=roles[s["role"]],
            user=users[s["user"]],
            decision=s["decision"],
            comment=s["comment"],
            signed_at=_dt(s["signed_at"]),
            state_hash=s["state_hash"],
            snapshot=snapshot_by_old.get(s["snapshot"]),
        )
        remember("signoff", s.get("pk"), signoff)

    events = [
        AuditEvent(
            created_at=_dt(e["created_at"]),
            actor_user=users.get(e["actor_user"]),
            actor_label=e["actor_label"],
            channel=e["channel"],
            project=project,
            action=e["action"],
            object_type=e["object_type"],
            # An id of a row that no longer exists would point at an unrelated row here.
            object_id=ids.get((e["object_type"], e["object_id"]), "") if e["object_id"] else "",
            object_repr=e["object_repr"],
            before=e["before"],
            after=e["after"],
        )
        for e in data["audit_events"]
    ]
    _append_history_quietly(events)
    audit_record(
        actor=actor,
        action="project.restored",
        project=project,
        obj=project,
        after={
            "source": source,
            "exported_at": data.get("exported_at"),
            "gates": len(gates),
            "snapshots": len(snapshots),
            "signoffs": len(data["signoffs"]),
            "audit_events": len(events),
        },
    )
    return Project.objects.get(pk=project.pk)


def _append_history_quietly(events):
    """Append the restored history without fanning it out again.

    Those events happened before, elsewhere: their notifications and webhooks went out then. The
    dispatcher follows the audit chain with a cursor, so: hold the chain head (no other event can
    be appended meanwhile), fan out whatever is still pending, append the history, and move the
    cursor past it. The "project.restored" event recorded after it is dispatched as usual.
    """
    if not events or not apps.is_installed("notifications"):
        audit_append(events)
        return
    from notifications.models import EventCursor
    from notifications.services import AUDIT_CURSOR, events_dispatch

    AuditChainHead.objects.select_for_update().get_or_create(pk=1)
    events_dispatch()
    audit_append(events)
    EventCursor.objects.filter(name=AUDIT_CURSOR).update(last_id=events[-1].pk)


def _restore_users(specs):
    """Usernames → users, creating the missing ones without a usable password."""
    User = get_user_model()
    users = {u.get_username(): u for u in User.objects.filter(username__in=[s["username"] for s in specs])}
    for spec in specs:
        if spec["username"] in users:
            continue
        user = User(
            username=spec["username"],
            email=spec.get("email", ""),
            first_name=spec.get("first_name", ""),
            last_name=spec.get("last_name", ""),
            is_active=spec.get("is_active", True),
        )
        user.set_unusable_password()
        user.save()
        users[user.get_username()] = user
    return users
