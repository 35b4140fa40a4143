"""Periodic upkeep: evidence expiry, waiver expiry, daily snapshots, the sweep — each idempotent."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from audits.models import AuditEvent, ReadinessSnapshot
from audits.services import Actor, snapshot_build
from notifications.models import Kind, Notification
from projects import services, tasks
from projects.models import Project, ProjectGate

pytestmark = pytest.mark.django_db


def _gate(project, code):
    return ProjectGate.objects.select_related("project").get(project=project, code=code)


def _close_with_evidence(project, code, owner, run_on_commit, *, valid_days, verified_days_ago):
    gate = _gate(project, code)
    with run_on_commit():
        gate = services.gate_update(
            actor=Actor(owner),
            gate=gate,
            version=gate.version,
            status="closed",
            owner=owner,
            evidence_url="https://ci.example.com/run/1",
        )
    gate.evidence_valid_days = valid_days
    gate.verified_at = timezone.now() - timedelta(days=verified_days_ago)
    gate.save(update_fields=["evidence_valid_days", "verified_at"])
    return gate


def test_lapsed_evidence_goes_stale_owner_is_told_and_readiness_recomputed(
    project, owner, editor, run_on_commit, mailoutbox
):
    _close_with_evidence(project, "T2", editor, run_on_commit, valid_days=30, verified_days_ago=31)
    project.refresh_from_db()
    assert next(g for g in project.readiness["gates"] if g["code"] == "T2")["effective_status"] == "closed"

    with run_on_commit():
        assert tasks.expire_evidence.delay().get() == 1

    event = AuditEvent.objects.get(action="gate.evidence_expired")
    assert event.actor_label == "system" and event.after["effective_status"] == "partial"
    project.refresh_from_db()
    t2 = next(g for g in project.readiness["gates"] if g["code"] == "T2")
    assert t2["stale"] is True and t2["effective_status"] == "partial"
    assert project.computed_seq == project.change_seq
    note = Notification.objects.get(user=editor, kind=Kind.GATE_STALE)
    assert "T2" in note.title and note.emailed_at is not None
    stale_mail = [m for m in mailoutbox if m.to == [editor.email] and "stale" in m.subject]
    assert len(stale_mail) == 1
    assert stale_mail[0].alternatives[0].mimetype == "text/html" and "T2" in stale_mail[0].alternatives[0].content

    # A second run finds nothing: no second event, no second notification.
    with run_on_commit():
        assert tasks.expire_evidence.delay().get() == 0
    assert AuditEvent.objects.filter(action="gate.evidence_expired").count() == 1
    assert Notification.objects.filter(kind=Kind.GATE_STALE).count() == 1


def test_evidence_verified_again_lapses_again_and_is_handled_again(project, editor, run_on_commit):
    gate = _close_with_evidence(project, "T2", editor, run_on_commit, valid_days=10, verified_days_ago=11)
    with run_on_commit():
        tasks.expire_evidence.delay()
    gate.refresh_from_db()
    with run_on_commit():
        gate = services.gate_update(
            actor=Actor(editor), gate=gate, version=gate.version, evidence_url="https://ci.example.com/run/2"
        )
    gate.refresh_from_db()
    assert gate.evidence_expires_at > timezone.now()
    with run_on_commit():
        assert tasks.expire_evidence.delay().get() == 0
    # Ten days later the new evidence lapses too: handled once more.
    later = timezone.now() + timedelta(days=11)
    from projects import upkeep

    with run_on_commit():
        assert upkeep.evidence_expire_due(now=later) == [gate.pk]
        assert upkeep.evidence_expire_due(now=later) == []
    assert AuditEvent.objects.filter(action="gate.evidence_expired").count() == 2


def test_expired_waiver_reopens_its_gate_and_tells_the_owner(project, owner, editor, run_on_commit):
    gate = _gate(project, "S1")
    with run_on_commit():
        gate = services.gate_update(actor=Actor(owner), gate=gate, version=gate.version, owner=editor)
        gate = services.gate_waive(
            actor=Actor(owner),
            gate=gate,
            version=gate.version,
            reason="Vendor audit pending",
            expires_at=timezone.now() + timedelta(hours=1),
        )
    ProjectGate.objects.filter(pk=gate.pk).update(waiver_expires_at=timezone.now() - timedelta(minutes=1))

    with run_on_commit():
        assert tasks.expire_waivers.delay().get() == 1
    gate.refresh_from_db()
    assert gate.status == "open" and gate.waiver_reason == ""
    event = AuditEvent.objects.filter(action="gate.unwaived").get()
    assert event.actor_label == "system" and event.before["status"] == "waived"
    note = Notification.objects.get(user=editor, kind=Kind.GATE_REOPENED)
    assert "waiver expired" in note.body
    project.refresh_from_db()
    assert next(g for g in project.readiness["gates"] if g["code"] == "S1")["status"] == "open"

    with run_on_commit():
        assert tasks.expire_waivers.delay().get() == 0
    assert AuditEvent.objects.filter(action="gate.unwaived").count() == 1


def test_a_waiver_still_valid_is_left_alone(project, owner, run_on_commit):
    gate = _gate(project, "S1")
    with run_on_commit():
        services.gate_waive(
            actor=Actor(owner),
            gate=gate,
            version=gate.version,
            reason="Accepted risk",
            expires_at=timezone.now() + timedelta(days=2),
        )
        assert tasks.expire_waivers.delay().get() == 0
    assert _gate(project, "S1").status == "waived"


def test_daily_snapshot_is_taken_once_per_active_project_per_day(project, template, owner, run_on_commit):
    with run_on_commit():
        archived = services.project_create_from_template(actor=Actor(owner), template=template, name="Old one")
        services.project_update(actor=Actor(owner), project=archived, lifecycle="archived")
    with run_on_commit():
        assert tasks.take_daily_snapshots.delay().get() == 1
        assert tasks.take_daily_snapshots.delay().get() == 0
    daily = ReadinessSnapshot.objects.filter(kind="daily")
    assert [s.project_id for s in daily] == [project.pk]
    snap = daily.get()
    project.refresh_from_db()
    assert snap.state_hash == project.state_hash and snap.score == project.score
    assert snap.day == timezone.localdate()

    # Tomorrow, another one.
    from projects import upkeep

    assert upkeep.snapshots_take_daily(now=timezone.now() + timedelta(days=1)) == 1
    assert ReadinessSnapshot.objects.filter(kind="daily", project=project).count() == 2


def test_a_project_with_activity_today_still_gets_its_daily_snapshot(project):
    """Yesterday's daily snapshot plus any other snapshot taken today (a recompute) once hid the
    project from today's run: the two conditions must hold for one and the same snapshot."""
    from projects import upkeep

    now = timezone.now()
    ReadinessSnapshot.objects.bulk_create(
        [
            snapshot_build(project_id=project.pk, result=project.readiness, kind="daily", now=now - timedelta(days=1)),
            snapshot_build(project_id=project.pk, result=project.readiness, kind="recompute", now=now),
        ]
    )
    assert upkeep.snapshots_take_daily(now=now) == 1
    today = ReadinessSnapshot.objects.get(project=project, kind="daily", day=timezone.localdate(now))
    assert today.state_hash == project.state_hash
    assert upkeep.snapshots_take_daily(now=now) == 0  # and still once a day


def test_the_database_refuses_a_second_daily_snapshot_of_a_day(project):
    data = project.readiness
    ReadinessSnapshot.objects.bulk_create([snapshot_build(project_id=project.pk, result=data, kind="daily")])
    with pytest.raises(IntegrityError), transaction.atomic():
        snapshot_build(project_id=project.pk, result=data, kind="daily").save()
    # Other kinds may be taken as often as needed.
    snapshot_build(project_id=project.pk, result=data, kind="recompute").save()
    snapshot_build(project_id=project.pk, result=data, kind="recompute").save()


def test_the_sweep_recomputes_projects_whose_readiness_is_behind(project, owner):
    gate = _gate(project, "T2")
    # A write whose recompute never ran (its on-commit hook is not executed here, as when the
    # broker was down): the cache is behind.
    services.gate_update(actor=Actor(owner), gate=gate, version=gate.version, status="closed")
    project.refresh_from_db()
    assert project.computed_seq < project.change_seq and project.score == 0.0
    assert tasks.recompute_due_projects.delay().get() == 1
    project.refresh_from_db()
    assert project.computed_seq == project.change_seq and project.score > 0
    assert tasks.recompute_due_projects.delay().get() == 0
    Project.objects.filter(pk=project.pk).update(change_seq=F("change_seq") + 1)
    assert tasks.recompute_due_projects.delay().get() == 1


def test_the_beat_schedule_names_every_periodic_task(settings):
    """Every schedule entry names a registered task, and every periodic task (one of ours that
    takes no argument: the sweeps, expiries, probes, reminders, digests) is scheduled."""
    import inspect

    from celery.schedules import BaseSchedule

    from portal.celery import app

    app.loader.import_default_modules()
    scheduled = {}
    for key, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert entry["task"] in app.tasks, f"{key}: {entry['task']} is not a registered task"
        task = app.tasks[entry["task"]]
        assert not inspect.signature(task.run).parameters, f"{key}: beat sends no arguments"
        assert isinstance(entry["schedule"], int | float | BaseSchedule), key
        scheduled[entry["task"]] = key
    periodic = {
        name
        for name, task in app.tasks.items()
        if name.startswith(("projects.tasks.", "notifications.tasks.")) and not inspect.signature(task.run).parameters
    }
    assert periodic == set(scheduled), {"not scheduled": periodic - set(scheduled)}
    assert periodic >= {
        "projects.tasks.expire_evidence",
        "projects.tasks.expire_waivers",
        "projects.tasks.probe_due_checks",
        "projects.tasks.take_daily_snapshots",
        "projects.tasks.recompute_due_projects",
        "notifications.tasks.dispatch_events",
        "notifications.tasks.retry_due_webhooks",
        "notifications.tasks.send_notification_emails",
        "notifications.tasks.send_waiver_warnings",
        "notifications.tasks.send_due_reminders",
        "notifications.tasks.send_daily_digests",
        "notifications.tasks.send_weekly_digest",
    }


def test_every_task_acks_late_with_time_limits_and_a_retry_policy():
    from portal.celery import app

    app.loader.import_default_modules()
    ours = [t for name, t in app.tasks.items() if name.startswith(("projects.", "notifications."))]
    assert len(ours) >= 12
    for task in ours:
        assert task.acks_late, task.name
        assert task.time_limit and task.soft_time_limit and task.soft_time_limit < task.time_limit, task.name
        assert task.max_retries and getattr(task, "autoretry_for", ()), task.name
