"""Exports: the Markdown decision pack (current state and snapshots, round trip), CSV, JSON and its restore."""

import csv
import io
import json
from datetime import UTC, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audits.models import AuditEvent, Channel, ReadinessSnapshot
from audits.services import Actor, audit_verify_chain
from gates.models import Category, GateDefinition, GateTemplate
from portal.errors import Conflict, InvalidInput, NotAllowed
from projects import exports, imports, readiness, services
from projects.markdown.parser import parse_markdown
from projects.models import CheckResult, Membership, Project, ProjectGate, SignOff, SignOffRole, Stage
from projects.restore import project_restore
from projects.selectors import project_readiness

from .conftest import EXAMPLES, example_text

pytestmark = pytest.mark.django_db


def gate(project, code):
    return ProjectGate.objects.select_related("project").get(project=project, code=code)


@pytest.fixture
def busy_project(project, owner, editor, signer, run_on_commit):
    """Apollo with history: closed and partial gates, a waiver, an owner and due date, a check
    result, a sign-off bound to a snapshot, notes with line breaks and a formula-like cell."""
    with run_on_commit():
        t2 = gate(project, "T2")
        services.gate_update(
            actor=Actor(editor),
            gate=t2,
            version=t2.version,
            status="closed",
            evidence_url="https://ci.example.com/runs/7",
            notes="Green for 7 days\nsee the dashboard",
        )
        s1 = gate(project, "S1")
        services.gate_update(actor=Actor(editor), gate=s1, version=s1.version, status="partial", owner=editor)
        o1 = gate(project, "O1")
        services.gate_update(
            actor=Actor(editor), gate=o1, version=o1.version, due_date=timezone.localdate(), notes="=HYPERLINK(1)"
        )
        s2 = gate(project, "S2")
        services.gate_waive(
            actor=Actor(owner),
            gate=s2,
            version=s2.version,
            reason="Behind the CDN's limits for the beta",
            expires_at=timezone.now() + timedelta(days=30),
        )
        CheckResult.objects.create(gate=gate(project, "T1"), source="ci", passed=False, details="503", data={"n": 1})
        services.signoff_give(
            actor=Actor(signer),
            project=project,
            stage=project.stages.get(order=1),
            role=SignOffRole.objects.get(project=project, name="Product Owner"),
            decision=readiness.CONDITIONAL_GO,
            comment="Once T1 is green",
        )
    project.refresh_from_db()
    return project


# --- The decision pack ------------------------------------------------------------------------


def test_decision_pack_has_everything_leadership_reads(busy_project):
    now = timezone.now()
    text = exports.export_markdown(busy_project, now=now)
    result = project_readiness(busy_project, now=now)
    assert text.startswith("# Apollo: launch decision pack\n")
    assert f"**Score:** {result.score:g}/100" in text
    assert f"**Verdict:** {readiness.VERDICT_LABELS[result.verdict]}" in text
    for reason in result.reasons:
        assert f"- {reason}" in text
    assert f"- State hash: `{result.state_hash}`" in text
    assert f"- Generated at: {now.astimezone(UTC):%Y-%m-%d %H:%M} UTC" in text
    assert "| Category | Closed | Partial | Open | Waived | N/A | Total | Score |" in text
    for category in result.categories:
        assert f"| {category.closed} | {category.partial} | {category.open} | {category.waived} |" in text
    # Blockers: the open blocker, the partial critical gate; waivers with reason and expiry.
    blockers = text.split("### Blockers")[1].split("### Waivers")[0]
    assert "| T1 | Health check green | Blocker | Open |" in blockers
    assert "| S1 | Secrets in vault | Critical | Partial | eddie-editor |" in blockers
    waivers = text.split("### Waivers")[1].split("## Gates")[0]
    expiry = gate(busy_project, "S2").waiver_expires_at
    assert f"| S2 | Rate limiting | Behind the CDN's limits for the beta | olivia-owner | {expiry:%Y-%m-%d}" in waivers
    # Sign-offs with their state.
    signoffs = text.split("## Sign-offs")[1]
    assert "| Product Owner | Current | CONDITIONAL GO | sam-signer |" in signoffs
    assert "| Backend Lead | Missing | — |" in signoffs
    # Gates by category, notes on one line.
    assert "### Technical" in text and "### Security" in text
    assert "| T2 | CI green on main | Technical | Closed | Medium | Green for 7 days — see the dashboard |" in text


def test_decision_pack_round_trips_to_the_same_gate_states(busy_project, owner, import_new):
    text = exports.export_markdown(busy_project)
    document = parse_markdown(text)
    assert document.unreadable == [] and document.discrepancies == []
    plan = imports.import_plan(document=document, project=busy_project)
    assert {g.action for g in plan.gates} == {"unchanged"}
    assert len(plan.gates) == busy_project.gates.count()
    # Into a new project: the same gates with the same statuses, categories and severities.
    copy = import_new(text, name="Apollo copy")
    assert sorted(copy.gates.values_list("code", "status", "category__key", "severity")) == sorted(
        busy_project.gates.values_list("code", "status", "category__key", "severity")
    )
    assert (document.score, document.verdict) == (busy_project.score, busy_project.verdict)
    required = busy_project.current_stage.required_roles.values_list("name", flat=True)
    assert set(document.signoff_roles) == set(required)  # the roles this stage needs


EXAMPLE_NAMES = sorted(p.name for p in EXAMPLES.glob("*.md"))


def test_all_five_examples_take_the_round_trip():
    assert len(EXAMPLE_NAMES) == 5


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_imported_examples_export_and_import_back_unchanged(name, import_new):
    project = import_new(example_text(name), name=name)
    text = exports.export_markdown(project)
    document = parse_markdown(text)
    assert document.unreadable == []
    assert len(document.items) == project.gates.count()
    plan = imports.import_plan(document=document, project=project)
    assert plan.writes == 0
    # Into another project through the database: the same gates in the same states.
    copy = import_new(text, name=f"{name} copy")
    assert sorted(copy.gates.values_list("code", "title", "status", "category__key", "severity")) == sorted(
        project.gates.values_list("code", "title", "status", "category__key", "severity")
    )


_STATUSES = st.sampled_from(readiness.STATUSES)
_TITLES = st.lists(
    st.sampled_from(["Backups", "restore", "drill", "CI", "SLO", "p95", "load", "test", "DNS"]), min_size=1, max_size=5
)
_NOTES = st.lists(
    st.sampled_from(["needs drill", "a|b", "50%", "line\nbreak", "**bold**", "see RUNBOOK.md", ""]), max_size=3
)
_CATEGORIES = st.sampled_from(["Technical", "Security", "Payments", "Store Dashboard", "Customer Experience"])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(_TITLES, _CATEGORIES, _STATUSES, _NOTES), min_size=1, max_size=15))
def test_any_gate_states_round_trip_through_the_decision_pack(owner, gates):
    lines = []
    for n, (words, category, _status, _notes) in enumerate(gates):
        lines.append(
            f"## {category}\n| ID | Gate | Status |\n|---|---|---|\n| Q-{n} | {' '.join(words)} {n} | Open |\n"
        )
    with transaction.atomic():
        project = imports.import_new_project(actor=Actor(owner), document=parse_markdown("\n".join(lines)), name="P")
        for n, (_words, _category, status, notes) in enumerate(gates):
            g = gate(project, f"Q-{n}")
            g.notes = "\n".join(notes)  # set directly: any text a gate may hold
            if status == readiness.WAIVED:
                g.waiver_reason = "accepted"
            g.status = status
            g.save()
        expected = sorted(project.gates.values_list("code", "status", "category__key"))
        document = parse_markdown(exports.export_markdown(project))
        assert imports.import_plan(document=document, project=project).writes == 0
        copy = imports.import_new_project(actor=Actor(owner), document=document, name="Copy")
        assert sorted(copy.gates.values_list("code", "status", "category__key")) == expected
        transaction.set_rollback(True)


def test_decision_pack_from_a_snapshot(busy_project, editor, run_on_commit):
    snapshot = ReadinessSnapshot.objects.filter(project=busy_project, kind="signoff").get()
    t1 = gate(busy_project, "T1")
    with run_on_commit():
        services.gate_update(actor=Actor(editor), gate=t1, version=t1.version, status="closed")
    busy_project.refresh_from_db()
    assert busy_project.state_hash != snapshot.state_hash
    text = exports.export_markdown(busy_project, snapshot=snapshot)
    assert f"- State hash: `{snapshot.state_hash}`" in text
    assert f"**Score:** {snapshot.score:g}/100" in text
    assert f"- From: snapshot {snapshot.pk} (sign-off) taken" in text
    assert "| T1 | Health check green | Technical | Open | Blocker |" in text  # as it was then
    document = parse_markdown(text)
    assert {i.code: i.status for i in document.items} == {g["code"]: g["status"] for g in snapshot.gates}
    # The current pack shows the change.
    assert "| T1 | Health check green | Technical | Closed | Blocker |" in exports.export_markdown(busy_project)


def test_decision_pack_lists_gates_of_later_stages_too(project, owner):
    ga = project.stages.get(order=2)
    t2 = gate(project, "T2")
    ProjectGate.objects.filter(pk=t2.pk).update(stage=ga)
    text = exports.export_markdown(project)
    assert "| T2 | CI green on main | Technical | Open |" in text
    assert len(parse_markdown(text).items) == 6


# --- CSV --------------------------------------------------------------------------------------


def test_csv_has_one_row_per_gate_and_defuses_formulas(busy_project):
    rows = list(csv.DictReader(io.StringIO(exports.export_csv(busy_project))))
    assert [r["code"] for r in rows] == [
        g.code for g in busy_project.gates.order_by("category__order", "order", "code")
    ]
    assert list(rows[0]) == exports.CSV_COLUMNS
    by_code = {r["code"]: r for r in rows}
    assert (by_code["T2"]["status"], by_code["T2"]["evidence_url"]) == ("closed", "https://ci.example.com/runs/7")
    assert by_code["T2"]["notes"] == "Green for 7 days\nsee the dashboard"
    assert (by_code["S2"]["status"], by_code["S2"]["waiver_approver"]) == ("waived", "olivia-owner")
    assert by_code["S1"]["owner"] == "eddie-editor"
    assert by_code["O1"]["notes"] == "'=HYPERLINK(1)"


# --- JSON export and restore ------------------------------------------------------------------


def comparable(data):
    """An export without what a restore cannot keep: database ids and the export time."""
    data = json.loads(json.dumps(data))
    data.pop("exported_at")
    snapshot_index = {s["pk"]: n for n, s in enumerate(data["snapshots"])}
    gate_code = {str(g["pk"]): g["code"] for g in data["gates"]}
    for signoff in data["signoffs"]:
        signoff["snapshot"] = snapshot_index.get(signoff["snapshot"])
    for event in data["audit_events"]:
        if event["object_type"] == "projectgate":
            event["object_id"] = gate_code.get(event["object_id"], "")
        elif event["object_type"] == "project":
            event["object_id"] = "the project" if event["object_id"] == str(data["project"]["pk"]) else ""
        else:
            event["object_id"] = bool(event["object_id"])
    for key in ("categories", "signoff_roles", "stages", "memberships", "gates", "check_results", "snapshots"):
        for row in data[key]:
            row.pop("pk", None)
    for row in (data["project"], *data["signoffs"], *data["audit_events"]):
        row.pop("pk", None)
    return data


def empty_the_database():
    """Delete every row of every table (TRUNCATE on PostgreSQL, which the audit trigger allows)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:  # run the deferred foreign-key checks now, or TRUNCATE refuses
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    call_command("flush", "--noinput", verbosity=0)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def test_json_export_restores_exactly_into_an_empty_database(busy_project):
    original = exports.export_json(busy_project)
    text = exports.export_json_text(busy_project)
    assert original["gates"] and original["snapshots"] and original["signoffs"] and original["check_results"]
    assert len(original["audit_events"]) == AuditEvent.objects.filter(project=busy_project).count()

    empty_the_database()
    assert (Project.objects.count(), AuditEvent.objects.count(), get_user_model().objects.count()) == (0, 0, 0)

    restored = project_restore(actor=Actor.system(Channel.CLI), data=json.loads(text), source="apollo.json")
    again = exports.export_json(restored)
    last = again["audit_events"].pop()
    assert (last["action"], last["after"]["gates"]) == ("project.restored", 6)
    assert comparable(again) == comparable(original)
    assert audit_verify_chain()[1] is None
    # The restored rows work: readiness evaluates to the same hash, sign-offs are still current.
    result = project_readiness(restored)
    assert result.state_hash == original["project"]["state_hash"]
    assert {s.role: s.state for s in result.signoffs}["Product Owner"] == readiness.CURRENT
    assert not get_user_model().objects.get(username="olivia-owner").has_usable_password()


# Rows of a project, field by field, as the database holds them. Every concrete field of every
# model a project owns is compared, so a field the export forgets fails the restore test. The only
# fields left out or translated are the ones a restore cannot keep by nature:
_NOT_COMPARED = {
    "id",  # database ids are this database's; rows are matched by their order instead
    "prev_hash",  # the restored history is appended to this database's audit chain, so its
    "hash",  # links are new (the chain itself is verified separately)
}


def _natural_key(field, value):
    """A foreign key as the natural key the export uses instead of this database's id."""
    if value is None:
        return None
    model = field.related_model
    if model is get_user_model():
        return model.objects.get(pk=value).get_username()
    natural = {
        Project: lambda row: row.slug,
        Category: lambda row: row.key,
        GateTemplate: lambda row: (row.key, row.version),
        GateDefinition: lambda row: (row.template.key, row.template.version, row.code),
        Stage: lambda row: row.name,
        SignOffRole: lambda row: row.name,
        ProjectGate: lambda row: row.code,
        ReadinessSnapshot: lambda row: (row.taken_at, row.state_hash),
    }[model]  # a new foreign key must say how it is restored: a KeyError here means it does not
    return natural(model.objects.get(pk=value))


def _object_key(event):
    """What an audit event's object id points at, by natural key (ids are remapped by a restore)."""
    models = {
        m._meta.model_name: m
        for m in (Project, ProjectGate, Stage, SignOffRole, Membership, SignOff, CheckResult, ReadinessSnapshot)
    }
    if not event.object_id or event.object_type not in models:
        return (event.object_type, bool(event.object_id))
    row = models[event.object_type].objects.filter(pk=event.object_id).first()
    return (event.object_type, str(row) if row else None)


def database_rows(project):
    """Every row the project owns, every concrete field, foreign keys and many-to-many by natural key."""
    querysets = {
        Project: Project.objects.filter(pk=project.pk),
        SignOffRole: SignOffRole.objects.filter(project=project).order_by("order", "name"),
        Stage: Stage.objects.filter(project=project).order_by("order"),
        Membership: Membership.objects.filter(project=project).order_by("user__username"),
        ProjectGate: ProjectGate.objects.filter(project=project).order_by("code"),
        CheckResult: CheckResult.objects.filter(gate__project=project).order_by("received_at", "gate__code"),
        ReadinessSnapshot: ReadinessSnapshot.objects.filter(project=project).order_by("taken_at", "state_hash"),
        SignOff: SignOff.objects.filter(project=project).order_by("signed_at", "role__name"),
        AuditEvent: AuditEvent.objects.filter(project=project).order_by("pk"),
    }
    rows = {}
    for model, queryset in querysets.items():
        rows[model.__name__] = []
        for obj in queryset:
            row = {}
            for f in model._meta.concrete_fields:
                if f.name in _NOT_COMPARED:
                    continue
                value = getattr(obj, f.attname)
                row[f.name] = _natural_key(f, value) if f.is_relation else value
            for f in model._meta.many_to_many:
                row[f.name] = sorted(str(r) for r in getattr(obj, f.name).all())
            if model is AuditEvent:
                row["object_id"] = _object_key(obj)
            rows[model.__name__].append(row)
    return rows


def test_restore_recreates_every_field_of_every_row(busy_project, owner, run_on_commit):
    """Compared in the database, not export to export: a field missing from the export would
    otherwise be missing from both sides and pass."""
    from projects.upkeep import evidence_expire_due

    t2 = gate(busy_project, "T2")
    now = timezone.now()
    ProjectGate.objects.filter(pk=t2.pk).update(
        evidence_valid_days=1, evidence_expires_at=now - timedelta(hours=1), check_probed_at=now
    )
    with run_on_commit():
        assert evidence_expire_due(now=now) == [t2.pk]
    assert gate(busy_project, "T2").evidence_lapse_handled_at is not None
    original = database_rows(busy_project)
    text = exports.export_json_text(busy_project)

    empty_the_database()
    restored = project_restore(actor=Actor.system(Channel.CLI), data=json.loads(text), source="apollo.json")
    rows = database_rows(restored)
    assert rows["AuditEvent"].pop()["action"] == "project.restored"
    for model, expected in original.items():
        assert len(rows[model]) == len(expected), model
        for got, want in zip(rows[model], expected, strict=True):
            assert got == want, model
    # Upkeep sees the lapse as handled already: nothing happens to the restored gate again.
    with run_on_commit():
        assert evidence_expire_due(now=now + timedelta(minutes=1)) == []


def test_restore_refuses_a_taken_slug_other_formats_and_broken_data(busy_project, staff, owner):
    data = exports.export_json(busy_project)
    data = json.loads(json.dumps(data, default=str))
    before = (Project.objects.count(), AuditEvent.objects.count())
    with pytest.raises(Conflict):
        project_restore(actor=Actor(staff), data=data)
    with pytest.raises(InvalidInput):
        project_restore(actor=Actor(staff), data={"format": "something else"})
    with pytest.raises(InvalidInput):
        project_restore(actor=Actor(staff), data={**data, "version": 99})
    broken = {**data, "project": {**data["project"], "slug": "apollo-2"}, "gates": [{"code": "X"}]}
    with pytest.raises(InvalidInput):
        project_restore(actor=Actor(staff), data=broken)
    with pytest.raises(NotAllowed):
        project_restore(actor=Actor(owner), data={**data, "project": {**data["project"], "slug": "apollo-3"}})
    assert (Project.objects.count(), AuditEvent.objects.count()) == before
    copy = project_restore(actor=Actor(staff), data={**data, "project": {**data["project"], "slug": "apollo-copy"}})
    assert copy.gates.count() == 6 and copy.memberships.count() == 4


def test_a_restored_history_does_not_notify_or_fire_webhooks_again(busy_project, owner, editor, staff, run_on_commit):
    """The events of a restored history happened before: nobody is told about them a second time."""
    from notifications.models import Notification

    t2 = gate(busy_project, "T2")
    with run_on_commit():
        services.gate_update(actor=Actor(owner), gate=t2, version=t2.version, owner=editor)
        t2 = gate(busy_project, "T2")
        services.gate_update(actor=Actor(owner), gate=t2, version=t2.version, status="open")  # reopened
    assert Notification.objects.filter(project=busy_project, user=editor).exists()  # told once, as it happened
    data = json.loads(exports.export_json_text(busy_project))
    data["project"]["slug"] = "apollo-restored"
    with run_on_commit():
        restored = project_restore(actor=Actor(staff), data=data)
    assert AuditEvent.objects.filter(project=restored, action="gate.status_changed").exists()
    assert not Notification.objects.filter(project=restored).exists()
    # Later changes of the restored project are dispatched as usual.
    t2 = gate(restored, "T2")
    with run_on_commit():
        services.gate_update(actor=Actor(owner), gate=t2, version=t2.version, status="closed")
        t2 = gate(restored, "T2")
        services.gate_update(actor=Actor(owner), gate=t2, version=t2.version, status="open")
    assert Notification.objects.filter(project=restored, user=editor).count() == 1


def test_webhook_subscriptions_and_their_secrets_are_not_exported(busy_project, owner, staff):
    """Webhooks are not part of a project export: their secrets must not sit in a backup file,
    and a URL may not be reachable from another instance. The restored project has none."""
    from notifications.models import WebhookSubscription
    from notifications.webhooks import webhook_subscription_create

    secret = "s3cret-that-must-not-leak-0123456789"
    webhook_subscription_create(
        actor=Actor(owner),
        project=busy_project,
        url="https://hooks.example.com/preflight",
        events=["gate.status_changed"],
        secret=secret,
    )
    text = exports.export_json_text(busy_project)
    assert secret not in text
    assert "webhooks" not in json.loads(text)
    data = json.loads(text)
    data["project"]["slug"] = "apollo-restored"
    restored = project_restore(actor=Actor(staff), data=data)
    assert WebhookSubscription.objects.filter(project=busy_project).count() == 1
    assert not WebhookSubscription.objects.filter(project=restored).exists()
