"""Snapshot diffs (service, page) and the audit chain check (`verify_audit`, the database trigger)."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from audits import diff
from audits.models import AuditEvent, ReadinessSnapshot
from audits.services import Actor
from projects import services
from projects.models import ProjectGate, SignOffRole

pytestmark = pytest.mark.django_db


def _set(project, code, actor, run_on_commit, **changes):
    gate = ProjectGate.objects.select_related("project").get(project=project, code=code)
    with run_on_commit():
        return services.gate_update(actor=Actor(actor), gate=gate, version=gate.version, **changes)


def _latest(project):
    return ReadinessSnapshot.objects.filter(project=project).latest()


def test_diff_names_gates_that_moved_score_verdict_and_who(project, owner, editor, run_on_commit):
    a = _latest(project)
    _set(project, "T1", editor, run_on_commit, status="closed")
    _set(project, "S1", owner, run_on_commit, status="partial")
    _set(project, "O1", editor, run_on_commit, notes="wired in staging")
    b = diff.snapshot_live(project)  # a note does not move readiness: no snapshot, so compare with now
    result = diff.snapshot_diff(project, a, b)
    moved = {g.code: (g.before, g.after, g.direction) for g in result.gates_moved}
    assert moved == {"T1": ("open", "closed", "better"), "S1": ("open", "partial", "better")}
    assert result.score_delta == round(b.score - a.score, 1) and result.score_delta > 0
    assert result.a.verdict == "no_go"
    who = [(e.event.actor_label, e.event.action, e.event.object_repr.split()[0]) for e in result.events]
    assert ("eddie-editor", "gate.status_changed", "T1") in who
    assert ("olivia-owner", "gate.status_changed", "S1") in who
    notes = next(e for e in result.events if e.event.object_repr.startswith("O1"))
    assert ("notes", "", "wired in staging") in notes.changes
    data = result.to_dict()
    assert data["score"]["delta"] == result.score_delta and data["events_total"] == 3


def test_diff_reports_a_verdict_change(project, owner, run_on_commit):
    a = _latest(project)
    for code in ("T1", "T2", "S1", "S2", "O1", "O2"):
        _set(project, code, owner, run_on_commit, status="closed")
    result = diff.snapshot_diff(project, a, diff.snapshot_live(project))
    assert result.verdict_changed and result.a.verdict == "no_go" and result.b.verdict == "conditional_go"
    assert any("blocker" in r for r in result.reasons_removed)


def test_since_my_last_signoff_and_since_last_week(project, owner, signer, run_on_commit, client):
    role = SignOffRole.objects.get(project=project, name="Product Owner")
    with run_on_commit():
        services.signoff_give(
            actor=Actor(signer),
            project=project,
            stage=project.current_stage,
            role=role,
            decision="no_go",
            comment="Blockers open",
        )
    _set(project, "T1", owner, run_on_commit, status="closed")
    client.force_login(signer)
    page = client.get(reverse("audits:changes", args=[project.slug]), {"since": "signoff"}).content.decode()
    assert "T1 Health check green" in page and "olivia-owner" in page
    # Only changes after the sign-off: the sign-off itself is before A.
    assert "signoff.given" not in page

    week = client.get(reverse("audits:changes", args=[project.slug]), {"since": "week"})
    assert week.status_code == 200 and "T1 Health check green" in week.content.decode()

    client.force_login(owner)
    none_yet = client.get(reverse("audits:changes", args=[project.slug]), {"since": "signoff"})
    assert "not signed this project off" in none_yet.content.decode()


def test_since_last_week_starts_from_the_snapshot_a_week_old(project, owner, run_on_commit):
    old = _latest(project)
    ReadinessSnapshot.objects.filter(pk=old.pk).update(taken_at=timezone.now() - timedelta(days=9))
    _set(project, "T2", owner, run_on_commit, status="closed")
    chosen = diff.snapshot_at(project, timezone.now() - timedelta(days=7))
    assert chosen.pk == old.pk


def test_diff_page_between_two_snapshots_and_isolation(
    project, owner, outsider, viewer, run_on_commit, client, django_assert_max_num_queries
):
    a = _latest(project)
    for i, code in enumerate(("T1", "T2", "S1", "S2", "O1", "O2")):
        _set(project, code, owner, run_on_commit, status="closed" if i % 2 else "partial")
    b = _latest(project)
    url = reverse("audits:changes", args=[project.slug])
    client.force_login(viewer)
    with django_assert_max_num_queries(14):
        response = client.get(url, {"a": a.pk, "b": b.pk})
    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-testid="gates-moved"' in page and "O2" in page
    assert client.get(url, {"a": 999999}).status_code == 404
    client.force_login(outsider)
    assert client.get(url, {"a": a.pk, "b": b.pk}).status_code == 404


def test_a_snapshot_of_another_project_is_not_found(project, template, owner, run_on_commit, client):
    with run_on_commit():
        other = services.project_create_from_template(actor=Actor(owner), template=template, name="Other")
    foreign = _latest(other)
    client.force_login(owner)
    assert client.get(reverse("audits:changes", args=[project.slug]), {"a": foreign.pk}).status_code == 404


def test_verify_audit_reports_an_intact_chain(project):
    out = StringIO()
    call_command("verify_audit", stdout=out)
    assert "intact" in out.getvalue() and str(AuditEvent.objects.count()) in out.getvalue()


def _tamper(event_id, new_label):
    """Edit an event behind the app's back (on PostgreSQL, as a superuser bypassing triggers)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("UPDATE audits_auditevent SET actor_label = %s WHERE id = %s", [new_label, event_id])


def test_verify_audit_finds_the_first_edited_event(project, owner):
    events = list(AuditEvent.objects.order_by("id"))
    victim = events[2]
    with transaction.atomic():
        _tamper(victim.pk, "mallory")
    with pytest.raises(CommandError) as exc:
        call_command("verify_audit")
    message = str(exc.value)
    assert f"event #{victim.pk}" in message and "edited" in message and "2 event(s) before it" in message


def test_verify_audit_finds_a_deleted_tail(project):
    last = AuditEvent.objects.order_by("-id").first()
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("DELETE FROM audits_auditevent WHERE id = %s", [last.pk])
    with pytest.raises(CommandError, match="deleted"):
        call_command("verify_audit")


@pytest.mark.postgres
def test_postgresql_refuses_update_and_delete_of_audit_events(project):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: the append-only trigger is PostgreSQL's")
    from django.db import DatabaseError

    event = AuditEvent.objects.first()
    for sql in (
        "UPDATE audits_auditevent SET actor_label = 'x' WHERE id = %s",
        "DELETE FROM audits_auditevent WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [event.pk])
    event.refresh_from_db()
    assert event.compute_hash() == event.hash
