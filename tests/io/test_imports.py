"""Importing readiness documents: the five examples, the preview, re-imports, permissions, templates."""

import pytest

from audits.models import AuditEvent
from audits.services import Actor, audit_verify_chain
from gates.models import GateTemplate
from portal.errors import Conflict, InvalidInput, NotAllowed
from projects import imports, readiness, services
from projects.markdown.parser import parse_markdown
from projects.models import ProjectGate

from .conftest import example, example_text, row_counts

pytestmark = pytest.mark.django_db

# Per example: (closed, partial, open, total) as a careful reader counts the items.
PINNED = {
    "launch-gates.md": (11, 4, 18, 33),
    "implementation-status.md": (12, 0, 9, 21),
    "phase7-production-readiness.md": (20, 0, 16, 36),
    "platform-launch-readiness.md": (53, 1, 6, 60),
    "production-readiness-checklist.md": (54, 1, 325, 380),
}
# launch-gates.md, its Summary table: category → (closed, partial, open, total).
LAUNCH_GATES_SUMMARY = {
    "technical": (3, 0, 4, 7),
    "security": (4, 2, 1, 7),
    "observability": (2, 0, 3, 5),
    "gtm": (0, 1, 5, 6),
    "support": (1, 0, 3, 4),
    "recovery": (1, 0, 2, 3),
    "governance": (0, 1, 0, 1),
}


def status_counts(project):
    statuses = list(project.gates.values_list("status", flat=True))
    return (statuses.count("closed"), statuses.count("partial"), statuses.count("open"), len(statuses))


def gate(project, code):
    return ProjectGate.objects.select_related("project").get(project=project, code=code)


# --- The five examples ------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PINNED))
def test_each_example_imports_faithfully(name, import_new):
    project = import_new(example_text(name), name=name, source=name)
    assert status_counts(project) == PINNED[name]
    counts = project.readiness["counts"]
    assert (counts["closed"], counts["partial"], counts["open"], counts["total"]) == PINNED[name]
    assert project.gates.values("code").distinct().count() == PINNED[name][3]
    assert AuditEvent.objects.filter(project=project, action="gate.imported").count() == PINNED[name][3]


def test_launch_gates_matches_every_row_of_its_summary_table(import_new):
    project = import_new(example_text("launch-gates.md"))
    by_category = {
        c["category"]: (c["closed"], c["partial"], c["open"], c["total"]) for c in project.readiness["categories"]
    }
    assert by_category == LAUNCH_GATES_SUMMARY
    t4 = gate(project, "T4")
    assert (t4.title, t4.status, t4.notes) == ("DLQ wired in production", "open", "Code exists, needs deploy + test")
    # The document's preview agrees with its own summary table: no claim disagrees.
    assert imports.import_plan(document=example("launch-gates.md")).preview()["discrepancies"] == []


def test_reimporting_an_example_changes_nothing(import_new, owner):
    project = import_new(example_text("production-readiness-checklist.md"))
    before = row_counts()
    plan = imports.import_into_project(
        actor=Actor(owner), project=project, document=example("production-readiness-checklist.md")
    )
    assert (plan.count("create"), plan.count("update"), plan.count("unchanged")) == (0, 0, 380)
    assert row_counts() == before


# --- The preview ------------------------------------------------------------------------------


def test_preview_counts_lines_unreadable_and_disagreeing_claims():
    before = row_counts()
    preview = imports.import_plan(document=example("platform-launch-readiness.md")).preview()
    assert row_counts() == before
    counts = preview["counts"]
    assert (counts["closed"], counts["partial"], counts["open"], counts["gates"]) == (53, 1, 6, 60)
    assert (counts["create"], counts["update"], counts["unreadable"]) == (60, 0, 10)
    store = next(c for c in preview["categories"] if c["name"] == "Store Dashboard Features")
    assert (store["closed"], store["open"], store["total"]) == (16, 2, 18)
    email = next(g for g in preview["gates"] if g["title"] == "Email System")
    lines = example_text("platform-launch-readiness.md").split("\n")
    assert email["status"] == "partial" and "Email System" in lines[email["line_no"] - 1]
    assert email["line"] == lines[email["line_no"] - 1]
    assert {u["line_no"] for u in preview["unreadable"]} >= {85, 86, 87, 88, 89, 90, 103, 104, 147, 154}
    assert all(u["reason"] for u in preview["unreadable"])
    claims = [
        (d["line_no"], d["text"], d["claimed"], d["total"], d["actual"], d["actual_total"], d["actual_percent"])
        for d in preview["discrepancies"]
    ]
    assert claims == [
        (7, "95% Feature Complete", 95, None, 53, 60, 88.3),  # "Overall Status": the whole document
        (10, "95% complete", 95, None, 16, 18, 88.9),
        (10, "16/17 features ready", 16, 17, 16, 18, None),
        (11, "15/16 features ready", 15, 16, 14, 16, None),  # "90% complete" on this line agrees (87.5%)
        (12, "95% complete", 95, None, 11, 13, 84.6),
        (14, "95% Complete", 95, None, 16, 18, 88.9),
        (62, "95% Complete", 95, None, 11, 13, 84.6),
    ]
    assert counts["discrepancies"] == 7


def test_preview_of_a_reimport_says_what_changes(project):
    t1 = gate(project, "T1")
    document = parse_markdown(
        "## Technical\n| ID | Gate | Status | Notes |\n|---|---|---|---|\n"
        "| T1 | Health check green | Done | all green |\n"
        "|  | CI green on main | Open |  |\n"
        "| X9 | Brand new gate | WIP |  |\n"
    )
    preview = imports.import_plan(document=document, project=project).preview()
    rows = {g["code"]: (g["action"], g["changes"]) for g in preview["gates"]}
    assert rows["T1"] == (
        "update",
        {"status": {"from": "open", "to": "closed"}, "notes": {"from": "", "to": "all green"}},
    )
    assert rows["T2"] == ("unchanged", {})  # matched by title
    assert rows["X9"] == ("create", {})
    assert (preview["counts"]["create"], preview["counts"]["update"], preview["counts"]["unchanged"]) == (1, 1, 1)
    assert gate(project, "T1").version == t1.version  # a preview writes nothing


# --- Re-import into an existing project -------------------------------------------------------

REIMPORT = """# Apollo
## Technical
| ID | Gate | Status | Notes |
|---|---|---|---|
| T1 | Health check green | Done | /health/deep green |
| T9 | CI green on main | In progress | flaky suite |
## Security
- [x] Secrets in vault
- [ ] Pen test booked
"""


def test_reimport_updates_matching_gates_by_code_then_title_and_audits_each(project, editor, run_on_commit):
    before_t2 = gate(project, "T2")
    with run_on_commit():
        plan = imports.import_into_project(
            actor=Actor(editor), project=project, document=parse_markdown(REIMPORT), source="apollo.md"
        )
    assert (plan.count("create"), plan.count("update"), plan.count("unchanged")) == (1, 3, 0)
    t1, t2, s1 = gate(project, "T1"), gate(project, "T2"), gate(project, "S1")
    assert (t1.status, t1.notes, t1.version) == ("closed", "/health/deep green", 2)
    assert t1.verified_at is not None
    assert (t2.status, t2.notes, t2.version) == ("partial", "flaky suite", before_t2.version + 1)  # by title
    assert s1.status == "closed"
    new = project.gates.get(title="Pen test booked")
    assert (new.status, new.category.key) == ("open", "security")
    assert project.gates.count() == 7  # nothing duplicated
    # New gates are "gate.imported"; changes are recorded as the gate services record them.
    assert AuditEvent.objects.filter(project=project, action="gate.imported").get().object_id == str(new.pk)
    events = AuditEvent.objects.filter(project=project, action="gate.status_changed")
    assert events.count() == 3
    t1_event = events.get(object_id=str(t1.pk))
    assert (t1_event.before["status"], t1_event.after["status"], t1_event.actor_user) == ("open", "closed", editor)
    summary = AuditEvent.objects.get(project=project, action="project.imported")
    assert (summary.after["created"], summary.after["updated"], summary.after["source"]) == (1, 3, "apollo.md")
    project.refresh_from_db()
    assert project.computed_seq == project.change_seq  # recomputed after the import
    assert project.readiness["counts"]["closed"] == 2
    assert audit_verify_chain()[1] is None
    # The same document again changes nothing and writes nothing.
    before = row_counts()
    again = imports.import_into_project(actor=Actor(editor), project=project, document=parse_markdown(REIMPORT))
    assert again.writes == 0 and row_counts() == before


RECLASSIFIED = """# Apollo
## Technical
| ID | Gate | Status | Priority |
|---|---|---|---|
| T1 | Deep health check green | Open | Blocker |
| T2 | CI green on main | Open | |
## Security
| ID | Gate | Status | Priority |
|---|---|---|---|
| S1 | Secrets in vault | Open | Blocker |
| S2 | Rate limiting | Open | High |
| O1 | Error tracking wired | Open | Low |
"""


def test_reimport_updates_severity_title_and_category_the_document_states(project, editor, run_on_commit):
    s2 = gate(project, "S2")
    services_weight = 7  # set by someone, not the medium default: a new severity leaves it alone
    ProjectGate.objects.filter(pk=s2.pk).update(weight=services_weight)
    s1_weight = gate(project, "S1").weight
    document = parse_markdown(RECLASSIFIED)
    preview = imports.import_plan(document=document, project=project).preview()
    rows = {g["code"]: (g["action"], g["changes"]) for g in preview["gates"]}
    assert rows["S1"] == (
        "update",
        {
            "severity": {"from": "critical", "to": "blocker"},
            "weight": {"from": s1_weight, "to": readiness.default_weight("blocker")},
        },
    )
    assert rows["S2"] == ("update", {"severity": {"from": "medium", "to": "high"}})
    assert rows["T1"] == ("update", {"title": {"from": "Health check green", "to": "Deep health check green"}})
    assert rows["O1"] == ("update", {"category": {"from": "Observability", "to": "Security"}})
    assert rows["T2"] == ("unchanged", {})  # no priority given: the severity stays
    assert preview["counts"]["update"] == 4
    assert gate(project, "S1").severity == "critical"  # the preview wrote nothing

    with run_on_commit():
        imports.import_into_project(actor=Actor(editor), project=project, document=document)
    s1, s2, t1, o1 = (gate(project, code) for code in ("S1", "S2", "T1", "O1"))
    assert (s1.severity, s1.weight) == ("blocker", readiness.default_weight("blocker"))
    assert (s2.severity, s2.weight) == ("high", services_weight)
    assert t1.title == "Deep health check green"
    assert (o1.category.key, o1.status) == ("security", "open")
    event = AuditEvent.objects.get(project=project, action="gate.updated", object_id=str(s1.pk))
    assert (event.before["severity"], event.after["severity"], event.actor_user) == ("critical", "blocker", editor)
    event = AuditEvent.objects.get(project=project, action="gate.updated", object_id=str(o1.pk))
    assert (event.before["category"], event.after["category"]) == ("observability", "security")
    project.refresh_from_db()
    assert project.computed_seq == project.change_seq  # readiness recomputed with the new severities
    assert audit_verify_chain()[1] is None
    assert imports.import_plan(document=document, project=project).writes == 0


def test_duplicate_titles_each_match_their_own_gate(import_new, owner):
    text = "## Ops\n- [ ] Drill\n- [x] Drill\n"
    project = import_new(text)
    assert sorted(project.gates.values_list("status", flat=True)) == ["closed", "open"]
    plan = imports.import_plan(document=parse_markdown(text), project=project)
    assert [g.action for g in plan.gates] == ["unchanged", "unchanged"]


def test_viewers_and_outsiders_cannot_import(project, viewer, outsider):
    before = row_counts()
    for user in (viewer, outsider):
        with pytest.raises(NotAllowed):
            imports.import_into_project(actor=Actor(user), project=project, document=parse_markdown(REIMPORT))
    assert row_counts() == before


def test_waivers_in_a_document_need_an_owner_and_leaving_one_lifts_it(project, editor, owner):
    document = parse_markdown("| ID | Gate | Status |\n|---|---|---|\n| T1 | Health check green | Waived |\n")
    assert document.items[0].status == "waived"
    before = row_counts()
    with pytest.raises(NotAllowed):
        imports.import_into_project(actor=Actor(editor), project=project, document=document)
    assert row_counts() == before
    imports.import_into_project(actor=Actor(owner), project=project, document=document)
    t1 = gate(project, "T1")
    assert t1.status == "waived" and t1.waiver_reason.startswith("Waived in the imported document")
    imports.import_into_project(
        actor=Actor(owner), project=project, document=parse_markdown("- [ ] Health check green")
    )
    t1 = gate(project, "T1")
    assert (t1.status, t1.waiver_reason, t1.waiver_expires_at) == ("open", "", None)
    events = AuditEvent.objects.filter(project=project, object_type="projectgate", object_id=str(t1.pk))
    actions = list(events.values_list("action", flat=True))
    assert actions[:2] == ["gate.unwaived", "gate.waived"]  # newest first, as the services name them


def test_a_stale_preview_is_refused_and_nothing_is_written(project, editor):
    document = parse_markdown(REIMPORT)
    fingerprint = imports.import_plan(document=document, project=project).fingerprint
    t1 = gate(project, "T1")
    services.gate_update(actor=Actor(editor), gate=t1, version=t1.version, notes="changed meanwhile")
    before = row_counts()
    with pytest.raises(Conflict):
        imports.import_into_project(
            actor=Actor(editor), project=project, document=document, expected_fingerprint=fingerprint
        )
    assert row_counts() == before
    fresh = imports.import_plan(document=document, project=project).fingerprint
    plan = imports.import_into_project(
        actor=Actor(editor), project=project, document=document, expected_fingerprint=fresh
    )
    assert plan.count("update") == 3


def test_a_new_project_needs_readable_gates(owner):
    before = row_counts()
    with pytest.raises(InvalidInput):
        imports.import_new_project(actor=Actor(owner), document=parse_markdown("just prose"), name="Empty")
    assert row_counts() == before


def test_a_new_project_takes_roles_and_target_from_the_document(import_new):
    project = import_new(example_text("launch-gates.md"), name="Dealix")
    stage = project.stages.get()
    assert stage.min_closed == 24  # "Target: 24/30 gates closed"
    assert project.signoff_roles.count() >= 1
    assert project.memberships.get().role == "owner"


SIGNED_BY_OTHERS = """# Checkout launch
## Security
- [x] Pen test
- [ ] Rate limiting

## Sign-off
- [ ] Head of Security
- [ ] Finance Director — approves pricing
- [ ] Support Manager
"""


def test_a_new_project_takes_the_sign_off_roles_the_document_lists(import_new, staff):
    document = parse_markdown(SIGNED_BY_OTHERS)
    expected = ["Head of Security", "Finance Director", "Support Manager"]
    assert set(expected).isdisjoint(imports.DEFAULT_ROLES)  # so ignoring the list cannot pass
    assert document.signoff_roles == expected
    project = import_new(SIGNED_BY_OTHERS, name="Checkout")
    assert list(project.signoff_roles.order_by("order").values_list("name", flat=True)) == expected
    stage = project.stages.get()
    assert sorted(stage.required_roles.values_list("name", flat=True)) == sorted(expected)
    assert [g.title for g in project.gates.order_by("order")] == ["Pen test", "Rate limiting"]  # roles are not gates
    template = imports.import_as_template(actor=Actor(staff), document=document, name="Checkout gates")
    assert template.signoff_roles == expected
    assert template.stages[0]["required_roles"] == expected


# --- As a gate template -----------------------------------------------------------------------


def test_import_as_template_through_the_catalog_services(staff):
    document = example("launch-gates.md")
    template = imports.import_as_template(actor=Actor(staff), document=document, name="Dealix gates")
    assert (template.key, template.version, template.is_builtin) == ("dealix-gates", 1, False)
    definitions = list(template.definitions.select_related("category").order_by("order"))
    assert len(definitions) == 33
    t4 = next(d for d in definitions if d.code == "T4")
    assert (t4.title, t4.category.key, t4.guidance) == (
        "DLQ wired in production",
        "technical",
        "Code exists, needs deploy + test",
    )
    assert AuditEvent.objects.filter(action="template.loaded", object_id=str(template.pk)).exists()
    again = imports.import_as_template(actor=Actor(staff), document=document, name="Dealix gates")
    assert again.version == 2 and GateTemplate.objects.filter(key="dealix-gates").count() == 2


def test_templates_with_custom_categories(staff):
    template = imports.import_as_template(
        actor=Actor(staff), document=example("implementation-status.md"), name="Atelier"
    )
    names = set(template.definitions.values_list("category__name", flat=True))
    assert names == {"Storefront & Checkout", "Fulfillment & Operations", "Client Experience"}


def test_only_the_back_office_adds_templates(owner):
    before = GateTemplate.objects.count()
    with pytest.raises(NotAllowed):
        imports.import_as_template(actor=Actor(owner), document=example("launch-gates.md"), name="Mine")
    assert GateTemplate.objects.count() == before


def test_statuses_read_from_the_document_are_valid_everywhere(import_new):
    project = import_new(example_text("phase7-production-readiness.md"))
    assert set(project.gates.values_list("status", flat=True)) <= set(readiness.STATUSES)
    assert audit_verify_chain()[1] is None
