"""Importing a parsed Markdown readiness document into a project: plan first, then apply.

`import_plan` only reads: it says which gates an import would create, update or leave alone.
`import_apply` writes that plan through one transaction, auditing every gate it touches.
Re-importing into the same project updates matching gates (by code, else by title) instead
of duplicating them.
"""

import re
from collections import Counter
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from audits.services import audit_record
from gates.services import category_get_or_create
from portal.errors import InvalidInput

from . import readiness
from .markdown.parser import ParsedDocument, ParsedItem
from .models import Project, ProjectGate
from .selectors import OWN, WRITE
from .services import _gate_state, _mark_changed, _require, project_create_from_template

DEFAULT_ROLES = ["Backend Lead", "DevOps Lead", "Product Owner"]


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


@dataclass
class ImportPlan:
    document: ParsedDocument
    gates: list[PlannedGate]

    def count(self, action):
        return sum(1 for g in self.gates if g.action == action)

    @property
    def counts_by_status(self):
        return Counter(g.item.status for g in self.gates)


def _natural_title(title):
    return re.sub(r"\W+", " ", title).strip().lower()


def _code_prefix(item):
    words = re.findall(r"[A-Za-z]+", item.category_name or item.category_key or "Gate")
    return ("".join(w[0] for w in words[:3]) or "G").upper()


def import_plan(*, document, project=None):
    """What importing `document` into `project` (or a new project) would do; writes nothing."""
    existing = list(project.gates.select_related("category")) if project is not None else []
    by_code = {g.code.lower(): g for g in existing}
    by_title = {_natural_title(g.title): g for g in existing}
    used_codes = {g.code.lower() for g in existing}
    counters = Counter()
    planned = []
    for item in document.items:
        gate = None
        if item.code and item.code.lower() in by_code:
            gate = by_code[item.code.lower()]
        elif _natural_title(item.title) in by_title:
            gate = by_title[_natural_title(item.title)]
        if gate is not None:
            code = gate.code
            changes = {}
            if gate.status != item.status:
                changes["status"] = item.status
            if item.notes and item.notes not in gate.notes:
                changes["notes"] = item.notes
            planned.append(PlannedGate(item=item, code=code, gate=gate, changes=changes))
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
    return ImportPlan(document=document, gates=planned)


def _waiver_reason(item):
    return f"Waived in the imported document (line {item.line_no})."


@transaction.atomic
def import_apply(*, actor, plan, project, source=""):
    """Apply an import plan to an existing project (editors may import; waivers need an owner)."""
    _require(actor, project, WRITE)
    if any(g.item.status == readiness.WAIVED for g in plan.gates):
        _require(actor, project, OWN)
    categories = {}
    creates = []
    now = timezone.now()
    first_stage = project.stages.order_by("order").first()
    for order, planned in enumerate(plan.gates, start=project.gates.count()):
        item = planned.item
        if planned.action == "create":
            key = (item.category_key, item.category_name)
            if key not in categories:
                categories[key] = category_get_or_create(
                    actor=actor, name=item.category_name or "General", key=item.category_key or ""
                )
            severity = item.severity or readiness.MEDIUM
            creates.append(
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
        elif planned.action == "update":
            gate = ProjectGate.objects.select_for_update().get(pk=planned.gate.pk)
            before = _gate_state(gate)
            for name, value in planned.changes.items():
                if name == "notes":
                    value = f"{gate.notes}\n{value}".strip()
                setattr(gate, name, value)
            if gate.status == readiness.WAIVED and not gate.waiver_reason:
                gate.waiver_reason = _waiver_reason(item)
            if "status" in planned.changes:
                gate.verified_at = now if gate.status == readiness.CLOSED else None
            gate.version += 1
            gate.save()
            audit_record(
                actor=actor, action="gate.imported", project=project, obj=gate, before=before, after=_gate_state(gate)
            )
    created = ProjectGate.objects.bulk_create(creates)
    audit_record(
        actor=actor,
        action="project.imported",
        project=project,
        obj=project,
        after={
            "source": source,
            "created": len(created),
            "updated": plan.count("update"),
            "unchanged": plan.count("unchanged"),
            "unreadable": len(plan.document.unreadable),
            "codes_created": [g.code for g in created][:500],
        },
    )
    _mark_changed(project)
    return project


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
    plan = import_plan(document=document, project=project)
    return import_apply(actor=actor, plan=plan, project=Project.objects.get(pk=project.pk), source=source)
