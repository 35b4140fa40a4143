"""Importing a parsed Markdown readiness document: plan (the preview) first, then apply.

`import_plan` only reads: it says which gates an import would create, update or leave alone,
and `ImportPlan.preview()` is what the UI, the API and the command show before anything is
written. `import_into_project` re-plans inside its transaction (so a stale preview can never be
applied blindly), writes the gates and audits every one it touches. Re-importing into the same
project updates matching gates (by code, else by title) instead of duplicating them.
`import_new_project` and `import_as_template` are the two other destinations of a document.
"""

import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone
from django.utils.text import slugify

from audits.services import audit_append, audit_build, audit_record
from gates.models import GateTemplate
from gates.services import category_get_or_create, template_load
from portal.errors import Conflict, InvalidInput, NotAllowed

from . import readiness
from .markdown.encoding import encoding_notice
from .markdown.parser import ParsedDocument, ParsedItem
from .markdown.sections import GENERAL
from .models import Project, ProjectGate
from .selectors import OWN, WRITE
from .services import _gate_state, _mark_changed, _require, project_create_from_template

DEFAULT_ROLES = ["Backend Lead", "DevOps Lead", "Product Owner"]
# Fields an import writes on an existing gate (besides version and updated_at).
_UPDATED_FIELDS = (
    "status",
    "notes",
    "title",
    "severity",
    "weight",
    "category",
    "verified_at",
    "evidence_expires_at",
    "waiver_reason",
    "waiver_expires_at",
)


@dataclass
class PlannedGate:
    item: ParsedItem
    code: str
    gate: ProjectGate | None = None  # the existing gate it updates, if any
    changes: dict = field(default_factory=dict)

    @property
    def action(self):
        if self.gate is None:
            return "create"
        return "update" if self.changes else "unchanged"

    @property
    def touches_waiver(self):
        """Whether applying it waives a gate or lifts a waiver (owners only, as in the services)."""
        if self.action == "create":
            return self.item.status == readiness.WAIVED
        return "status" in self.changes and readiness.WAIVED in (self.gate.status, self.changes["status"])


@dataclass
class ImportPlan:
    document: ParsedDocument
    gates: list[PlannedGate]
    project: Project | None = None

    def count(self, action):
        return sum(1 for g in self.gates if g.action == action)

    @property
    def counts_by_status(self):
        return Counter(g.item.status for g in self.gates)

    @property
    def writes(self):
        return self.count("create") + self.count("update")

    @property
    def fingerprint(self):
        """What applying this plan would do, as a hash: apply refuses when it no longer matches."""
        payload = [
            (g.action, g.code, g.gate.pk if g.gate else None, g.gate.version if g.gate else None, g.changes)
            for g in self.gates
        ]
        project = self.project.pk if self.project else None
        text = json.dumps([project, payload], sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def preview(self):
        """Plain data for a preview: counts by category and status, every gate with its source line,
        every unreadable line, the item-like lines left out and why, and every summary claim that
        disagrees with the items."""
        document = self.document
        statuses = dict.fromkeys(readiness.STATUSES, 0)
        statuses.update(document.counts_by_status())
        keys = {name: key for key, name in document.categories()}
        notice = encoding_notice(document.encoding)
        return {
            "title": document.title,
            "repaired_encoding": document.repaired_encoding,
            "encoding": document.encoding,
            "notices": [notice] if notice else [],
            "score": document.score,
            "verdict": document.verdict,
            "target": document.target,
            "signoff_roles": list(document.signoff_roles),
            "fingerprint": self.fingerprint,
            "counts": {
                "gates": len(self.gates),
                "create": self.count("create"),
                "update": self.count("update"),
                "unchanged": self.count("unchanged"),
                "unreadable": len(document.unreadable),
                "skipped": sum(len(group.line_nos) for group in document.skipped),
                "discrepancies": len(document.discrepancies),
                **statuses,
            },
            "categories": [
                {"name": name, "key": keys.get(name), **{s: row[s] for s in readiness.STATUSES}, "total": row["total"]}
                for name, row in document.counts_by_category().items()
            ],
            "gates": [
                {
                    "line_no": g.item.line_no,
                    "line": g.item.line,
                    "action": g.action,
                    "code": g.code,
                    "title": g.item.title,
                    "category": g.item.category_name,
                    "category_key": g.item.category_key,
                    "status": g.item.status,
                    "severity": g.item.severity,
                    "notes": g.item.notes,
                    "changes": {name: {"from": _shown(g.gate, name), "to": value} for name, value in g.changes.items()},
                }
                for g in self.gates
            ],
            "unreadable": [{"line_no": u.line_no, "line": u.line, "reason": u.reason} for u in document.unreadable],
            "skipped": [
                {
                    "line_no": group.line_no,
                    "last_line_no": group.last_line_no,
                    "line_nos": list(group.line_nos),
                    "section": group.section,
                    "reason": group.reason,
                    "line": group.line,
                }
                for group in document.skipped
            ],
            "discrepancies": [
                {
                    "line_no": c.line_no,
                    "line": c.line,
                    "text": c.text,
                    "scope": c.scope,
                    "status": c.status,
                    "claimed": c.claimed,
                    "total": c.total,
                    "actual": c.actual,
                    "actual_total": c.actual_total,
                    "percent": c.percent,
                    "actual_percent": c.actual_percent,
                }
                for c in document.discrepancies
            ],
        }


def _shown(gate, name):
    """A gate's current value of a field an import changes, as the preview shows it."""
    if name == "category":
        return gate.category.name if gate.category_id else None
    return getattr(gate, name)


def _natural_title(title):
    return re.sub(r"\W+", " ", title).strip().lower()


def _natural_notes(notes):
    """Notes compared loosely: an export joins lines with " — " and drops Markdown emphasis."""
    return re.sub(r"[\W_]+", " ", notes or "").strip().lower()


def _code_prefix(item):
    words = re.findall(r"[A-Za-z]+", item.category_name or item.category_key or "Gate")
    return ("".join(w[0] for w in words[:3]) or "G").upper()


def import_plan(*, document, project=None, template=None):
    """What importing `document` into `project` (or a new project) would do; writes nothing.

    An item updates the existing gate with its code, else the one with its title (each gate is
    matched at most once); the rest are created, with the document's code when it is free. For a
    new project made from `template`, the template's gates are what the items match.
    """
    if project is not None:
        existing = list(project.gates.select_related("category").order_by("pk"))
    elif template is not None:
        existing = _template_gates(template)
    else:
        existing = []
    by_code = {g.code.lower(): g for g in existing}
    by_title = {}
    for g in existing:
        by_title.setdefault(_natural_title(g.title), []).append(g)
    used_codes = {g.code.lower() for g in existing}
    matched = set()
    counters = Counter()
    planned = []
    for item in document.items:
        candidates = [by_code.get(item.code.lower())] if item.code else []
        candidates += by_title.get(_natural_title(item.title), [])
        gate = next((g for g in candidates if g is not None and g.pk not in matched), None)
        if gate is not None:
            matched.add(gate.pk)
            changes = _changes(gate, item)
            planned.append(PlannedGate(item=item, code=gate.code, gate=gate, changes=changes))
            continue
        code = (item.code or "")[:20]
        if not code or code.lower() in used_codes:
            prefix = _code_prefix(item)
            while True:
                counters[prefix] += 1
                code = f"{prefix}{counters[prefix]}"
                if code.lower() not in used_codes:
                    break
        used_codes.add(code.lower())
        planned.append(PlannedGate(item=item, code=code))
    return ImportPlan(document=document, gates=planned, project=project)


def _changes(gate, item):
    """What the document says differently about a gate it matches: {field: new value}.

    Only what the document states changes: an item without a priority keeps the gate's severity,
    one outside any heading keeps its category, and a title differing only in case or punctuation
    is the same title. The weight follows a new severity unless someone set it explicitly (it
    differs from the old severity's default).
    """
    changes = {}
    if gate.status != item.status:
        changes["status"] = item.status
    if item.notes and _natural_notes(item.notes) not in _natural_notes(gate.notes):
        changes["notes"] = item.notes
    title = item.title[:300]
    if title and _natural_title(title) != _natural_title(gate.title):
        changes["title"] = title
    if item.severity and item.severity != gate.severity:
        changes["severity"] = item.severity
        if gate.weight == readiness.default_weight(gate.severity):
            changes["weight"] = readiness.default_weight(item.severity)
    if _category_differs(gate, item):
        changes["category"] = item.category_name
    return changes


def _category_differs(gate, item):
    if item.category_key is None and item.category_name == GENERAL:
        return False  # the document puts the item under no heading at all
    if not gate.category_id:
        return True
    if item.category_key:
        return item.category_key != gate.category.key
    name = item.category_name or ""
    # The lookup category_get_or_create makes: the key from the name, else the name itself.
    return slugify(name)[:50] != gate.category.key and name.strip().lower() != gate.category.name.lower()


def _template_gates(template):
    """The gates a new project from `template` starts with, unsaved (negative ids keep them apart)."""
    return [
        ProjectGate(
            pk=-n,
            code=d.code,
            title=d.title,
            category=d.category,
            severity=d.severity,
            weight=d.weight,
            status=readiness.OPEN,
            notes="",
            version=1,
        )
        for n, d in enumerate(template.definitions.select_related("category").order_by("order", "code"), start=1)
    ]


def _waiver_reason(item):
    return f"Waived in the imported document (line {item.line_no})."


def _apply_changes(gate, planned, now, category=None):
    """Apply one planned update to a locked gate (the same fields the gate services write)."""
    item = planned.item
    for name, value in planned.changes.items():
        if name == "notes":
            value = f"{gate.notes}\n{value}".strip()
        elif name == "category":
            value = category
        setattr(gate, name, value)
    if "status" in planned.changes:
        gate.verified_at = now if gate.status == readiness.CLOSED else None
        if gate.status == readiness.WAIVED:
            gate.waiver_reason = gate.waiver_reason or _waiver_reason(item)
        else:  # leaving a waiver lifts it, as gate_unwaive does
            gate.waiver_reason, gate.waiver_expires_at, gate.waiver_approver = "", None, None
    gate.evidence_expires_at = (
        gate.verified_at + timedelta(days=gate.evidence_valid_days)
        if gate.verified_at and gate.evidence_valid_days
        else None
    )
    gate.version += 1
    gate.updated_at = now


@transaction.atomic
def import_into_project(*, actor, project, document, source="", expected_fingerprint=None):
    """Import a document into an existing project; returns the plan that was applied.

    The plan is made again inside the transaction with the project locked, so concurrent imports
    queue up; if `expected_fingerprint` (from the preview the user saw) no longer matches, nothing
    is written and `Conflict` says so. Every created gate gets its own audit event ("gate.imported"),
    every updated one the event the gate services write for that change ("gate.status_changed",
    "gate.updated", "gate.waived", "gate.unwaived"), and the import as a whole one more
    ("project.imported"). An import that would change nothing writes nothing.
    """
    _require(actor, project, WRITE)
    project = Project.objects.select_for_update().get(pk=project.pk)
    plan = import_plan(document=document, project=project)
    if expected_fingerprint and expected_fingerprint != plan.fingerprint:
        raise Conflict(
            "The project changed since this preview was made. Nothing was imported; preview the document again."
        )
    if any(g.touches_waiver for g in plan.gates):
        try:
            _require(actor, project, OWN)
        except NotAllowed:
            raise NotAllowed("Only the project's owners may import waived gates or lift waivers.") from None
    if not plan.writes:
        return plan

    now = timezone.now()
    creates = _new_gates(actor, project, plan, now)
    updated = _updated_gates(actor, plan, now)
    created = ProjectGate.objects.bulk_create(creates, batch_size=500)
    _write_updated_gates([gate for gate, _ in updated])
    events = [
        audit_build(actor=actor, action="gate.imported", project=project, obj=gate, after=_gate_state(gate))
        for gate in created
    ]
    events += [
        audit_build(
            actor=actor,
            action=_update_action(before, gate),
            project=project,
            obj=gate,
            before=before,
            after=_imported_state(gate),
        )
        for gate, before in updated
    ]
    audit_append(events)
    audit_record(
        actor=actor,
        action="project.imported",
        project=project,
        obj=project,
        after={
            "source": source,
            "created": len(created),
            "updated": len(updated),
            "unchanged": plan.count("unchanged"),
            "unreadable": len(document.unreadable),
        },
    )
    _mark_changed(project)
    return plan


def _update_action(before, gate):
    """The action the gate services record for the same change, so history, notifications and
    webhooks treat an imported change like any other."""
    if before["status"] == gate.status:
        return "gate.updated"
    if gate.status == readiness.WAIVED:
        return "gate.waived"
    if before["status"] == readiness.WAIVED:
        return "gate.unwaived"
    return "gate.status_changed"


def _write_updated_gates(gates):
    """Save the changed fields of many locked gates: one parameterised UPDATE per gate, sent as one
    batch. (bulk_update's CASE expressions take seconds to build for 2,000 gates.)"""
    if not gates:
        return
    fields = [
        ProjectGate._meta.get_field(name) for name in (*_UPDATED_FIELDS, "waiver_approver", "version", "updated_at")
    ]
    quote = connection.ops.quote_name
    sql = (
        f"UPDATE {quote(ProjectGate._meta.db_table)} SET "
        + ", ".join(f"{quote(f.column)} = %s" for f in fields)
        + f" WHERE {quote(ProjectGate._meta.pk.column)} = %s"
    )
    rows = [[f.get_db_prep_save(getattr(gate, f.attname), connection) for f in fields] + [gate.pk] for gate in gates]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def _new_gates(actor, project, plan, now):
    categories = {}
    first_stage = project.stages.order_by("order").first()
    order = project.gates.count()
    gates = []
    for planned in plan.gates:
        if planned.action != "create":
            continue
        item = planned.item
        key = (item.category_key, item.category_name)
        if key not in categories:
            categories[key] = category_get_or_create(
                actor=actor, name=item.category_name or "General", key=item.category_key or ""
            )
        severity = item.severity or readiness.MEDIUM
        gates.append(
            ProjectGate(
                project=project,
                code=planned.code,
                title=item.title[:300] or planned.code,
                category=categories[key],
                severity=severity,
                weight=readiness.default_weight(severity),
                status=item.status,
                notes=item.notes,
                waiver_reason=_waiver_reason(item) if item.status == readiness.WAIVED else "",
                verified_at=now if item.status == readiness.CLOSED else None,
                order=order,
                stage=first_stage,
            )
        )
        order += 1
    return gates


def _imported_state(gate):
    """The audited view of a gate an import changes: the gate services' view, plus the title,
    severity, weight and category a document may change too."""
    return {
        **_gate_state(gate),
        "title": gate.title,
        "severity": gate.severity,
        "weight": gate.weight,
        "category": gate.category.key,
    }


def _updated_gates(actor, plan, now):
    """Lock the gates the plan updates (one query) and apply its changes; [(gate, state before)]."""
    wanted = {g.gate.pk: g for g in plan.gates if g.action == "update"}
    if not wanted:
        return []
    locked = (
        ProjectGate.objects.select_for_update(of=("self",)).select_related("owner", "category").filter(pk__in=wanted)
    )
    categories = {}
    updated = []
    for gate in sorted(locked, key=lambda g: g.pk):
        planned = wanted[gate.pk]
        category = None
        if "category" in planned.changes:
            key = (planned.item.category_key, planned.item.category_name)
            if key not in categories:
                categories[key] = category_get_or_create(
                    actor=actor, name=planned.item.category_name, key=planned.item.category_key or ""
                )
            category = categories[key]
        before = _imported_state(gate)
        _apply_changes(gate, planned, now, category=category)
        updated.append((gate, before))
    return updated


@transaction.atomic
def import_new_project(*, actor, document, name, slug="", template=None, source=""):
    """Create a project from an imported document (and optionally a template), then apply it."""
    if not document.items:
        raise InvalidInput(
            "The document has no gates that could be read.", field_errors={"document": ["No gates found."]}
        )
    stages = None
    if template is None:
        roles = document.signoff_roles or DEFAULT_ROLES
        stages = [{"name": "Launch", "order": 1, "min_closed": document.min_closed, "required_roles": roles}]
    project = project_create_from_template(
        actor=actor,
        template=template,
        name=name,
        slug=slug or slugify(name),
        stages=stages,
        description=f"Imported from {source}." if source else "",
    )
    import_into_project(actor=actor, project=Project.objects.get(pk=project.pk), document=document, source=source)
    return Project.objects.get(pk=project.pk)


@transaction.atomic
def import_as_template(*, actor, document, name, key="", source=""):
    """Make a new gate template from a document (staff only; written through `gates.services`).

    Statuses are not part of a template: each item becomes a definition with its code, title,
    category, severity and notes (as guidance). An existing key gets the next version, so
    projects built from the earlier one keep it.
    """
    if actor.user is not None and not actor.user.is_staff:
        raise NotAllowed("Only the back office may add gate templates.")
    name = (name or "").strip()
    key = slugify(key or name)[:80]
    if not name or not key:
        raise InvalidInput("A template needs a name.", field_errors={"name": ["A template needs a name."]})
    if not document.items:
        raise InvalidInput(
            "The document has no gates that could be read.", field_errors={"document": ["No gates found."]}
        )
    plan = import_plan(document=document)
    categories = {}
    for planned in plan.gates:
        item = planned.item
        if (item.category_key, item.category_name) not in categories:
            category = category_get_or_create(
                actor=actor, name=item.category_name or "General", key=item.category_key or ""
            )
            categories[(item.category_key, item.category_name)] = category.key
    latest = GateTemplate.objects.filter(key=key).order_by("-version").first()
    roles = list(document.signoff_roles or DEFAULT_ROLES)
    data = {
        "key": key,
        "version": latest.version + 1 if latest else 1,
        "name": name,
        "description": f"Imported from {source}." if source else "Imported from a readiness document.",
        "signoff_roles": roles,
        "stages": [{"name": "Launch", "order": 1, "min_closed": document.min_closed, "required_roles": roles}],
        "gates": [
            {
                "code": planned.code,
                "title": planned.item.title[:300],
                "category": categories[(planned.item.category_key, planned.item.category_name)],
                "severity": planned.item.severity or readiness.MEDIUM,
                "guidance": planned.item.notes,
            }
            for planned in plan.gates
        ],
    }
    template, _ = template_load(actor=actor, data=data, source=source or "import", builtin=False)
    return template
