"""What comes out of Preflight: a Markdown decision pack, a CSV of gates, a JSON project export.

- `export_markdown(project, snapshot=None)`: the pack leadership reads — score, verdict and
  reasons, the category summary, gates by category, blockers, waivers with expiry, sign-offs
  with their state, generated-at and the state hash — from the current state or from a snapshot.
  Its gate tables read back through the importer gate for gate (code, category, status).
- `export_csv(project)`: one row per gate.
- `export_json(project)` / `project_restore(actor=, data=)`: the whole project (template,
  categories, members, stages, gates, check results, snapshots, sign-offs, audit history) as one
  JSON document, and its restore into another database (backups, moving between instances).

Callers fetch the project through `selectors.project_get_for_user` first; these functions read
only that project's rows.
"""

import csv
import io
from datetime import UTC, datetime

from django.utils import timezone

from gates.models import Category

from . import readiness
from .markdown.vocabulary import is_signoff_heading, is_skip_heading
from .selectors import gate_list, project_readiness, stage_for

# --- The decision pack ------------------------------------------------------------------------


def _cell(value):
    """One Markdown table cell: no pipes or line breaks to break the row."""
    text = "" if value is None else str(value)
    text = " — ".join(part.strip() for part in text.replace("\r", "\n").split("\n") if part.strip())
    return text.replace("|", "\\|")


def _row(cells):
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def _table(header, rows):
    return [_row(header), "|" + "---|" * len(header), *(_row(r) for r in rows)]


def _when(value):
    if value is None:
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _number(value):
    return f"{value:.1f}".rstrip("0").rstrip(".") if value is not None else "—"


def decision_pack(project, *, snapshot=None, now=None):
    """The decision pack as plain data (what `export_markdown` renders).

    From a snapshot, the score, verdict, reasons, categories, gate statuses and sign-offs are the
    snapshot's; titles, notes and waiver details come from the gates as they are now (a snapshot
    keeps only each gate's code, category, severity and statuses).
    """
    now = now or timezone.now()
    categories = {c.key: c for c in Category.objects.all()}
    gates = {g.code: g for g in gate_list(project)}
    if snapshot is None:
        stage = stage_for(project)
        result = project_readiness(project, stage=stage, now=now).to_dict()
        stage_name = stage.name if stage else ""
        source = "the current state"
        listed = {g["code"]: g for g in result["gates"]}
        # Gates of later stages are not judged yet but are part of the project: list them too.
        for code, gate in gates.items():
            if code not in listed:
                listed[code] = {
                    **gate.effective(now).to_dict(),
                    "later_stage": True,
                }
        effective = list(listed.values())
    else:
        result = {
            "score": snapshot.score,
            "verdict": snapshot.verdict,
            "reasons": snapshot.reasons,
            "categories": snapshot.category_scores,
            "signoffs": snapshot.signoffs,
            "state_hash": snapshot.state_hash,
        }
        stage_name = snapshot.stage_name
        source = f"snapshot {snapshot.pk} ({snapshot.get_kind_display().lower()}) taken {_when(snapshot.taken_at)}"
        effective = list(snapshot.gates)

    def category_name(key):
        return categories[key].name if key in categories else key

    def category_rank(key):
        category = categories.get(key)
        return (category.order, category.name) if category else (10_000, key)

    rows = []
    for entry in effective:
        gate = gates.get(entry["code"])
        rows.append(
            {
                "code": entry["code"],
                "title": gate.title if gate else entry["code"],
                "category_key": entry["category"],
                "category": category_name(entry["category"]),
                "status": entry["status"],
                "effective_status": entry["effective_status"],
                "stale": entry.get("stale", False),
                "waiver_expired": entry.get("waiver_expired", False),
                "severity": entry["severity"],
                "notes": gate.notes if gate else "",
                "owner": gate.owner.get_username() if gate and gate.owner_id else "",
                "due_date": gate.due_date if gate else None,
                "waiver_reason": gate.waiver_reason if gate else "",
                "waiver_expires_at": gate.waiver_expires_at if gate else None,
                "waiver_approver": gate.waiver_approver.get_username() if gate and gate.waiver_approver_id else "",
                "later_stage": entry.get("later_stage", False),
            }
        )
    rows.sort(key=lambda r: (category_rank(r["category_key"]), readiness.natural_key(r["code"])))
    blockers = [
        r
        for r in rows
        if r["severity"] in (readiness.BLOCKER, readiness.CRITICAL)
        and r["effective_status"] not in (readiness.CLOSED, readiness.WAIVED, readiness.NOT_APPLICABLE)
        and not r["later_stage"]
    ]
    blockers.sort(key=lambda r: (readiness.SEVERITIES.index(r["severity"]), readiness.natural_key(r["code"])))
    return {
        "project": project,
        "stage": stage_name,
        "source": source,
        "generated_at": now,
        "score": result["score"],
        "verdict": result["verdict"],
        "reasons": list(result["reasons"]),
        "categories": [{**c, "name": category_name(c["category"])} for c in result["categories"]],
        "gates": rows,
        "blockers": blockers,
        "waivers": [r for r in rows if r["status"] == readiness.WAIVED],
        "signoffs": list(result["signoffs"]),
        "state_hash": result["state_hash"],
    }


def _gate_heading(name, n):
    """A category heading the importer reads as plain (never a summary or sign-off section)."""
    if is_skip_heading(name) or is_signoff_heading(name) or not name.strip():
        return f"### Category {n}"
    return f"### {name}"


def export_markdown(project, *, snapshot=None, now=None):
    """The decision pack as Markdown (see the module docstring)."""
    pack = decision_pack(project, snapshot=snapshot, now=now)
    verdict = readiness.VERDICT_LABELS.get(pack["verdict"], pack["verdict"])
    lines = [
        f"# {project.name}: launch decision pack",
        "",
        "## Summary",
        "",
        f"**Score:** {_number(pack['score'])}/100",
        "",
        f"**Verdict:** {verdict}",
        "",
        f"- Stage: {pack['stage'] or '—'}",
        f"- Generated at: {_when(pack['generated_at'])}",
        f"- From: {pack['source']}",
        f"- State hash: `{pack['state_hash']}`",
        "",
        "### Reasons",
        "",
        *(f"- {reason}" for reason in pack["reasons"]),
        "",
        "### Categories",
        "",
        *_table(
            ["Category", "Closed", "Partial", "Open", "Waived", "N/A", "Total", "Score"],
            [
                [c["name"], c["closed"], c["partial"], c["open"], c["waived"], c["not_applicable"], c["total"]]
                + [_number(c["score"])]
                for c in pack["categories"]
            ],
        ),
        "",
        "### Blockers",
        "",
    ]
    if pack["blockers"]:
        lines += _table(
            ["Code", "Gate", "Severity", "Status", "Owner", "Due"],
            [
                [
                    b["code"],
                    b["title"],
                    readiness.SEVERITY_LABELS[b["severity"]],
                    readiness.STATUS_LABELS[b["effective_status"]] + (" (evidence stale)" if b["stale"] else ""),
                    b["owner"] or "—",
                    b["due_date"].isoformat() if b["due_date"] else "—",
                ]
                for b in pack["blockers"]
            ],
        )
    else:
        lines.append("No blocker or critical gate is open.")
    lines += ["", "### Waivers", ""]
    if pack["waivers"]:
        lines += _table(
            ["Code", "Gate", "Reason", "Approved by", "Expires"],
            [
                [
                    w["code"],
                    w["title"],
                    w["waiver_reason"] or "—",
                    w["waiver_approver"] or "—",
                    (_when(w["waiver_expires_at"]) if w["waiver_expires_at"] else "no expiry")
                    + (" (expired)" if w["waiver_expired"] else ""),
                ]
                for w in pack["waivers"]
            ],
        )
    else:
        lines.append("No gate is waived.")
    lines += ["", "## Gates", ""]
    seen = []
    for row in pack["gates"]:
        if row["category"] not in seen:
            seen.append(row["category"])
    for n, name in enumerate(seen, start=1):
        lines += [_gate_heading(name, n), ""]
        lines += _table(
            ["Code", "Gate", "Category", "Status", "Severity", "Notes"],
            [
                [
                    r["code"],
                    r["title"],
                    r["category"],
                    readiness.STATUS_LABELS[r["status"]],
                    readiness.SEVERITY_LABELS[r["severity"]],
                    r["notes"],
                ]
                for r in pack["gates"]
                if r["category"] == name
            ],
        )
        lines.append("")
    lines += ["## Sign-offs", ""]
    if pack["signoffs"]:
        lines += _table(
            ["Role", "State", "Decision", "Signer", "Signed at", "Comment"],
            [
                [
                    s["role"],
                    readiness.SIGNOFF_STATE_LABELS.get(s["state"], s["state"]),
                    readiness.DECISION_LABELS.get(s["decision"], "—") if s["decision"] else "—",
                    s["signer"] or "—",
                    _when(s["signed_at"]) if s["signed_at"] else "—",
                    s["comment"] or "—",
                ]
                for s in pack["signoffs"]
            ],
        )
    else:
        lines.append("No sign-off is required at this stage.")
    return "\n".join(lines).rstrip() + "\n"


# --- CSV -------------------------------------------------------------------------------------

CSV_COLUMNS = [
    "code", "title", "category", "status", "effective_status", "severity", "weight", "stage", "owner", "due_date",
    "evidence_url", "evidence_note", "verified_at", "evidence_valid_days", "waiver_reason", "waiver_approver",
    "waiver_expires_at", "notes", "version",
]  # fmt: skip


def _csv_safe(value):
    """Spreadsheets run cells starting with = + - @ as formulas: quote them as text."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def export_csv(project, *, now=None):
    """Every gate of the project, one row each, in display order."""
    now = now or timezone.now()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for gate in gate_list(project):
        values = {
            "code": gate.code,
            "title": gate.title,
            "category": gate.category.name,
            "status": gate.status,
            "effective_status": gate.effective(now).effective_status,
            "severity": gate.severity,
            "weight": gate.weight,
            "stage": gate.stage.name if gate.stage_id else "",
            "owner": gate.owner.get_username() if gate.owner_id else "",
            "due_date": gate.due_date.isoformat() if gate.due_date else "",
            "evidence_url": gate.evidence_url,
            "evidence_note": gate.evidence_note,
            "verified_at": gate.verified_at.isoformat() if gate.verified_at else "",
            "evidence_valid_days": gate.evidence_valid_days if gate.evidence_valid_days is not None else "",
            "waiver_reason": gate.waiver_reason,
            "waiver_approver": gate.waiver_approver.get_username() if gate.waiver_approver_id else "",
            "waiver_expires_at": gate.waiver_expires_at.isoformat() if gate.waiver_expires_at else "",
            "notes": gate.notes,
            "version": gate.version,
        }
        writer.writerow([_csv_safe(values[c]) for c in CSV_COLUMNS])
    return out.getvalue()


# --- JSON: the whole project -------------------------------------------------------------------

JSON_FORMAT = "preflight.project"
JSON_VERSION = 1


def _iso(value):
    return value.isoformat() if value is not None else None


def _username(user):
    return user.get_username() if user is not None else None


def export_json(project, *, now=None):
    """The whole project as JSON-ready data; `restore.project_restore` reads it back exactly.

    Rows refer to each other by natural keys (usernames, category keys, stage and role names, gate
    codes); snapshots and audit events keep their original ids (`pk`) so sign-offs and the history
    can point at them. Users come with name and e-mail only, never a password or staff flag.
    Webhook subscriptions are not part of it: their signing secrets do not belong in a backup
    file, and their URLs may not be reachable from another instance; owners subscribe again.
    """
    from audits.models import AuditEvent, ReadinessSnapshot

    from .models import CheckResult, Membership, SignOff, SignOffRole, Stage

    project = type(project).objects.select_related("owner", "template", "current_stage").get(pk=project.pk)
    users = {}

    def user_ref(user):
        if user is None:
            return None
        users.setdefault(user.pk, user)
        return user.get_username()

    roles = list(SignOffRole.objects.filter(project=project).order_by("order", "name"))
    stages = list(Stage.objects.filter(project=project).prefetch_related("required_roles").order_by("order"))
    memberships = list(
        Membership.objects.filter(project=project).select_related("user").prefetch_related("signoff_roles")
    )
    gates = list(
        gate_list(project).select_related("definition").order_by("category__order", "category__key", "order", "code")
    )
    results = list(
        CheckResult.objects.filter(gate__project=project).select_related("gate").order_by("received_at", "pk")
    )
    snapshots = list(ReadinessSnapshot.objects.filter(project=project).order_by("taken_at", "pk"))
    signoffs = list(
        SignOff.objects.filter(project=project).select_related("stage", "role", "user").order_by("signed_at", "pk")
    )
    events = list(AuditEvent.objects.filter(project=project).select_related("actor_user").order_by("pk"))

    category_keys = {g.category.key for g in gates}
    template = None
    if project.template_id:
        tpl = project.template
        definitions = list(tpl.definitions.select_related("category").order_by("order", "code"))
        category_keys |= {d.category.key for d in definitions}
        template = {
            "key": tpl.key,
            "version": tpl.version,
            "name": tpl.name,
            "description": tpl.description,
            "is_builtin": tpl.is_builtin,
            "signoff_roles": tpl.signoff_roles,
            "stages": tpl.stages,
            "gates": [
                {
                    "code": d.code,
                    "title": d.title,
                    "category": d.category.key,
                    "severity": d.severity,
                    "weight": d.weight,
                    "guidance": d.guidance,
                    "verification": d.verification,
                    "evidence_valid_days": d.evidence_valid_days,
                    "stage": d.stage_order,
                    "check": d.check_spec,
                }
                for d in definitions
            ],
        }
    data = {
        "format": JSON_FORMAT,
        "version": JSON_VERSION,
        "exported_at": _iso(now or timezone.now()),
        "categories": [
            {
                "pk": c.pk,
                "key": c.key,
                "name": c.name,
                "description": c.description,
                "order": c.order,
                "is_builtin": c.is_builtin,
            }
            for c in Category.objects.filter(key__in=category_keys).order_by("order", "key")
        ],
        "template": template,
        "project": {
            "pk": project.pk,
            "name": project.name,
            "slug": project.slug,
            "description": project.description,
            "owner": user_ref(project.owner),
            "target_launch_date": _iso(project.target_launch_date),
            "lifecycle": project.lifecycle,
            "current_stage": project.current_stage.name if project.current_stage_id else None,
            "score": project.score,
            "verdict": project.verdict,
            "readiness": project.readiness,
            "state_hash": project.state_hash,
            "computed_at": _iso(project.computed_at),
            "change_seq": project.change_seq,
            "computed_seq": project.computed_seq,
            "created_at": _iso(project.created_at),
            "updated_at": _iso(project.updated_at),
        },
        "signoff_roles": [{"pk": r.pk, "name": r.name, "order": r.order} for r in roles],
        "stages": [
            {
                "pk": s.pk,
                "name": s.name,
                "order": s.order,
                "target_date": _iso(s.target_date),
                "min_score": s.min_score,
                "min_closed": s.min_closed,
                "required_roles": sorted(r.name for r in s.required_roles.all()),
            }
            for s in stages
        ],
        "memberships": sorted(
            (
                {
                    "pk": m.pk,
                    "user": user_ref(m.user),
                    "role": m.role,
                    "signoff_roles": sorted(r.name for r in m.signoff_roles.all()),
                    "created_at": _iso(m.created_at),
                }
                for m in memberships
            ),
            key=lambda m: m["user"],
        ),
        "gates": [
            {
                "pk": g.pk,
                "code": g.code,
                "definition": g.definition.code
                if g.definition_id and g.definition.template_id == project.template_id
                else None,
                "title": g.title,
                "category": g.category.key,
                "severity": g.severity,
                "weight": g.weight,
                "stage": g.stage.name if g.stage_id else None,
                "status": g.status,
                "owner": user_ref(g.owner),
                "due_date": _iso(g.due_date),
                "guidance": g.guidance,
                "verification": g.verification,
                "evidence_url": g.evidence_url,
                "evidence_note": g.evidence_note,
                "notes": g.notes,
                "verified_at": _iso(g.verified_at),
                "evidence_valid_days": g.evidence_valid_days,
                "evidence_expires_at": _iso(g.evidence_expires_at),
                "waiver_reason": g.waiver_reason,
                "waiver_approver": user_ref(g.waiver_approver),
                "waiver_expires_at": _iso(g.waiver_expires_at),
                "is_automated": g.is_automated,
                "check_spec": g.check_spec,
                "check_probed_at": _iso(g.check_probed_at),
                "evidence_lapse_handled_at": _iso(g.evidence_lapse_handled_at),
                "order": g.order,
                "version": g.version,
                "created_at": _iso(g.created_at),
                "updated_at": _iso(g.updated_at),
            }
            for g in gates
        ],
        "check_results": [
            {
                "pk": r.pk,
                "gate": r.gate.code,
                "source": r.source,
                "passed": r.passed,
                "details": r.details,
                "data": r.data,
                "idempotency_key": r.idempotency_key,
                "request_fingerprint": r.request_fingerprint,
                "received_at": _iso(r.received_at),
            }
            for r in results
        ],
        "snapshots": [
            {
                "pk": s.pk,
                "stage_name": s.stage_name,
                "kind": s.kind,
                "taken_at": _iso(s.taken_at),
                "day": _iso(s.day),
                "score": s.score,
                "verdict": s.verdict,
                "reasons": s.reasons,
                "category_scores": s.category_scores,
                "gates": s.gates,
                "signoffs": s.signoffs,
                "state_hash": s.state_hash,
            }
            for s in snapshots
        ],
        "signoffs": [
            {
                "pk": s.pk,
                "stage": s.stage.name,
                "role": s.role.name,
                "user": user_ref(s.user),
                "decision": s.decision,
                "comment": s.comment,
                "signed_at": _iso(s.signed_at),
                "state_hash": s.state_hash,
                "snapshot": s.snapshot_id,
            }
            for s in signoffs
        ],
        "audit_events": [
            {
                "pk": e.pk,
                "created_at": _iso(e.created_at),
                "actor_user": user_ref(e.actor_user),
                "actor_label": e.actor_label,
                "channel": e.channel,
                "action": e.action,
                "object_type": e.object_type,
                "object_id": e.object_id,
                "object_repr": e.object_repr,
                "before": e.before,
                "after": e.after,
            }
            for e in events
        ],
    }
    data["users"] = [
        {
            "username": u.get_username(),
            "email": u.email,
            "first_name": u.first_name,
            "last_name": u.last_name,
            "is_active": u.is_active,
        }
        for u in sorted(users.values(), key=lambda u: u.get_username())
    ]
    return data


def export_json_text(project, *, now=None):
    import json

    from django.core.serializers.json import DjangoJSONEncoder

    return json.dumps(export_json(project, now=now), cls=DjangoJSONEncoder, indent=2, ensure_ascii=False) + "\n"
