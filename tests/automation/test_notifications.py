"""Notifications: who is told what, per-kind preferences, emails and digests, the in-app list."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from audits.services import Actor
from notifications import services as notify_services
from notifications.models import Delivery, EventCursor, Kind, Notification, NotificationPreference
from projects import services
from projects.models import Membership, ProjectGate, SignOffRole

pytestmark = pytest.mark.django_db


def _gate(project, code):
    return ProjectGate.objects.select_related("project").get(project=project, code=code)


def _assign(project, code, user, actor, run_on_commit, **changes):
    gate = _gate(project, code)
    with run_on_commit():
        return services.gate_update(actor=Actor(actor), gate=gate, version=gate.version, owner=user, **changes)


def test_owner_is_told_when_someone_reopens_their_gate(project, owner, editor, run_on_commit, mailoutbox):
    gate = _assign(project, "T2", editor, owner, run_on_commit, status="closed")
    with run_on_commit():
        services.gate_update(actor=Actor(owner), gate=gate, version=gate.version, status="open")
    note = Notification.objects.get(user=editor, kind=Kind.GATE_REOPENED)
    assert note.project == project and "T2" in note.title and "olivia-owner" in note.body
    assert note.url == reverse("projects:gate", args=[project.slug, "T2"])
    mail = [m for m in mailoutbox if m.to == [editor.email]]
    assert len(mail) == 1 and "reopened" in mail[0].subject
    assert "T2" in mail[0].body and "T2" in mail[0].alternatives[0].content


def test_nobody_is_told_about_their_own_change(project, editor, run_on_commit):
    gate = _assign(project, "T2", editor, editor, run_on_commit, status="closed")
    with run_on_commit():
        services.gate_update(actor=Actor(editor), gate=gate, version=gate.version, status="partial")
    assert not Notification.objects.filter(kind=Kind.GATE_REOPENED).exists()


@pytest.mark.parametrize(
    ("delivery", "listed", "emailed_now"),
    [(Delivery.IMMEDIATE, True, True), (Delivery.DAILY, True, False), (Delivery.OFF, False, False)],
)
def test_each_kind_follows_the_users_choice(
    project, owner, editor, run_on_commit, mailoutbox, delivery, listed, emailed_now
):
    notify_services.preferences_set(user=editor, choices={Kind.GATE_REOPENED: delivery})
    gate = _assign(project, "T2", editor, owner, run_on_commit, status="closed")
    with run_on_commit():
        services.gate_update(actor=Actor(owner), gate=gate, version=gate.version, status="open")
    assert Notification.objects.filter(user=editor, kind=Kind.GATE_REOPENED).exists() is listed
    assert bool([m for m in mailoutbox if m.to == [editor.email]]) is emailed_now


def test_daily_digest_gathers_the_days_notifications_in_one_email(project, owner, editor, run_on_commit, mailoutbox):
    notify_services.preferences_set(user=editor, choices={Kind.GATE_REOPENED: Delivery.DAILY})
    for code in ("T2", "S2"):
        gate = _assign(project, code, editor, owner, run_on_commit, status="closed")
        with run_on_commit():
            services.gate_update(actor=Actor(owner), gate=gate, version=gate.version, status="open")
    assert not [m for m in mailoutbox if m.to == [editor.email]]
    from notifications import tasks

    assert tasks.send_daily_digests.delay().get() == 1
    digest = [m for m in mailoutbox if m.to == [editor.email]]
    assert len(digest) == 1 and "2 notifications" in digest[0].subject
    assert "T2" in digest[0].body and "S2" in digest[0].body and "S2" in digest[0].alternatives[0].content
    assert tasks.send_daily_digests.delay().get() == 0  # sent once


def test_preferences_refuse_unknown_kinds_and_choices(editor):
    from portal.errors import InvalidInput

    with pytest.raises(InvalidInput):
        notify_services.preferences_set(user=editor, choices={"nonsense": "immediate"})
    with pytest.raises(InvalidInput):
        notify_services.preferences_set(user=editor, choices={Kind.GATE_STALE: "hourly"})
    with pytest.raises(InvalidInput):
        notify_services.preferences_set(user=editor, choices={Kind.WEEKLY_DIGEST: "daily"})
    assert not NotificationPreference.objects.exists()


def test_verdict_change_tells_members_and_stale_signoff_tells_its_signer(project, owner, signer, viewer, run_on_commit):
    # Close everything so a GO is reachable, sign, then reopen a blocker.
    for gate in ProjectGate.objects.select_related("project").filter(project=project):
        with run_on_commit():
            services.gate_update(actor=Actor(owner), gate=gate, version=gate.version, status="closed")
    project.refresh_from_db()
    role = SignOffRole.objects.get(project=project, name="Product Owner")
    with run_on_commit():
        services.signoff_give(
            actor=Actor(signer), project=project, stage=project.current_stage, role=role, decision="go"
        )
    Notification.objects.all().delete()
    project.refresh_from_db()
    before_verdict = project.verdict
    gate = _gate(project, "T1")
    with run_on_commit():
        services.gate_update(actor=Actor(owner), gate=gate, version=gate.version, status="open")
    project.refresh_from_db()
    assert project.verdict == "no_go" != before_verdict
    told = set(Notification.objects.filter(kind=Kind.VERDICT_CHANGED).values_list("user__username", flat=True))
    assert told == set(Membership.objects.filter(project=project).values_list("user__username", flat=True))
    stale = Notification.objects.get(kind=Kind.SIGNOFF_STALE)
    assert stale.user == signer and "Product Owner" in stale.title


def test_sign_off_requests_reach_the_role_holders(project, owner, editor, signer, run_on_commit):
    role = SignOffRole.objects.get(project=project, name="Backend Lead")
    membership = Membership.objects.get(project=project, user=editor)
    with run_on_commit():
        services.member_update(actor=Actor(owner), membership=membership, role="editor", signoff_roles=[role])
    granted = Notification.objects.get(user=editor, kind=Kind.SIGNOFF_REQUESTED)
    assert "Backend Lead" in granted.body
    # The signer was told when the fixture gave them the Product Owner role.
    assert Notification.objects.filter(user=signer, kind=Kind.SIGNOFF_REQUESTED).count() == 1

    with run_on_commit():
        asked = notify_services.signoff_request(actor=Actor(owner), project=project)
    assert set(asked) >= {"eddie-editor", "sam-signer"}
    assert Notification.objects.filter(user=signer, kind=Kind.SIGNOFF_REQUESTED).count() == 2
    assert Notification.objects.filter(user=editor, kind=Kind.SIGNOFF_REQUESTED).count() == 2


def test_only_owners_request_sign_offs(project, editor, client):
    from portal.errors import NotAllowed

    with pytest.raises(NotAllowed):
        notify_services.signoff_request(actor=Actor(editor), project=project)
    client.force_login(editor)
    assert client.post(reverse("notifications:signoff_request", args=[project.slug])).status_code == 403


def test_due_reminders_at_most_once_a_day(project, owner, editor, run_on_commit):
    today = timezone.localdate()
    _assign(project, "T2", editor, owner, run_on_commit, due_date=today + timedelta(days=1))
    _assign(project, "S2", editor, owner, run_on_commit, due_date=today - timedelta(days=2))
    _assign(project, "O1", editor, owner, run_on_commit, due_date=today + timedelta(days=30))
    _assign(project, "O2", editor, owner, run_on_commit, due_date=today, status="closed")
    # Mid-morning, so "two hours later" stays on the same day whenever the suite runs.
    now = timezone.now().replace(hour=8, minute=0, second=0, microsecond=0)
    assert notify_services.due_reminders_send(now=now, within_days=3) == 1
    assert notify_services.due_reminders_send(now=now + timedelta(hours=2), within_days=3) == 0
    note = Notification.objects.get(user=editor, kind=Kind.DUE_REMINDER)
    assert "T2" in note.body and "S2" in note.body and "overdue" in note.body
    assert "O1" not in note.body and "O2" not in note.body
    assert notify_services.due_reminders_send(now=now + timedelta(days=1), within_days=3) == 1
    assert Notification.objects.filter(user=editor, kind=Kind.DUE_REMINDER).count() == 2


def test_waiver_nearing_expiry_warns_owner_and_approver_once(project, owner, editor, run_on_commit):
    gate = _assign(project, "S1", editor, owner, run_on_commit)
    with run_on_commit():
        services.gate_waive(
            actor=Actor(owner),
            gate=gate,
            version=gate.version,
            reason="Pen test next sprint",
            expires_at=timezone.now() + timedelta(days=2),
        )
    assert notify_services.waiver_warnings_send(within_days=3) == 2
    assert notify_services.waiver_warnings_send(within_days=3) == 0
    assert set(Notification.objects.filter(kind=Kind.WAIVER_EXPIRING).values_list("user__username", flat=True)) == {
        "olivia-owner",
        "eddie-editor",
    }


def test_weekly_digest_summarises_each_project(project, owner, editor, run_on_commit, mailoutbox):
    from notifications import tasks

    _assign(project, "T2", editor, owner, run_on_commit, status="closed")
    mailoutbox.clear()
    with run_on_commit():  # the emails go out after the digest's transaction commits
        assert tasks.send_weekly_digest.delay().get() == 4  # every member of the one project
    note = Notification.objects.get(user=editor, kind=Kind.WEEKLY_DIGEST)
    assert note.body.startswith("Apollo: ") and "→" in note.body
    # The digest is an email too: one to each member, text and HTML both naming the project's move.
    assert sorted(m.to[0] for m in mailoutbox) == sorted(
        Membership.objects.filter(project=project).values_list("user__email", flat=True)
    )
    mail = next(m for m in mailoutbox if m.to == [editor.email])
    assert mail.subject.endswith(note.title)
    assert "Apollo" in mail.body and "→" in mail.body
    assert "Apollo" in mail.alternatives[0].content and mail.alternatives[0].mimetype == "text/html"
    with run_on_commit():
        assert tasks.send_weekly_digest.delay().get() == 0
    assert len(mailoutbox) == 4  # the second run sent nothing


def test_the_project_page_links_to_the_changes_since_my_last_sign_off_and_last_week(project, viewer, client):
    client.force_login(viewer)
    page = client.get(reverse("projects:detail", args=[project.slug])).content.decode()
    changes = reverse("audits:changes", args=[project.slug])
    assert f'href="{changes}?since=signoff"' in page and "since my last sign-off" in page
    assert f'href="{changes}?since=week"' in page and "since last week" in page
    for since in ("signoff", "week"):
        assert client.get(f"{changes}?since={since}").status_code == 200


def test_the_dispatcher_never_tells_twice(project, owner, editor, run_on_commit):
    gate = _assign(project, "T2", editor, owner, run_on_commit, status="closed")
    with run_on_commit():
        services.gate_update(actor=Actor(owner), gate=gate, version=gate.version, status="open")
    count = Notification.objects.count()
    EventCursor.objects.update(last_id=0)  # as if the cursor's commit had been lost
    notify_services.events_dispatch()
    assert Notification.objects.count() == count


def test_list_page_shows_unread_count_and_marks_read(
    project, owner, editor, run_on_commit, client, django_assert_max_num_queries
):
    for code in ("T2", "S2", "O1"):
        gate = _assign(project, code, editor, owner, run_on_commit, status="closed")
        with run_on_commit():
            services.gate_update(actor=Actor(owner), gate=gate, version=gate.version, status="open")
    client.force_login(editor)
    with django_assert_max_num_queries(8):
        response = client.get(reverse("notifications:list"))
    page = response.content.decode()
    assert 'data-testid="unread-count">3' in page and "O1" in page
    first = Notification.objects.filter(user=editor).first()
    client.post(reverse("notifications:mark_read"), {"id": first.pk})
    assert Notification.objects.filter(user=editor, read_at__isnull=True).count() == 2
    client.post(reverse("notifications:mark_read"))
    assert not Notification.objects.filter(user=editor, read_at__isnull=True).exists()
    # Another user's notification cannot be marked by id.
    other = Notification.objects.create(user=owner, kind=Kind.GATE_STALE, title="x")
    client.post(reverse("notifications:mark_read"), {"id": other.pk})
    other.refresh_from_db()
    assert other.read_at is None


def test_list_page_query_count_does_not_grow_with_rows(project, editor, client, django_assert_max_num_queries):
    Notification.objects.bulk_create(
        [Notification(user=editor, kind=Kind.GATE_STALE, title=f"n{i}", project=project) for i in range(25)]
    )
    client.force_login(editor)
    with django_assert_max_num_queries(8):
        assert client.get(reverse("notifications:list")).status_code == 200


def test_preferences_page_saves_choices(editor, client):
    client.force_login(editor)
    assert client.get(reverse("notifications:preferences")).status_code == 200
    data = dict.fromkeys(Kind.values, "immediate")
    data[Kind.DUE_REMINDER] = "daily"
    data[Kind.VERDICT_CHANGED] = "off"
    response = client.post(reverse("notifications:preferences"), data)
    assert response.status_code == 302
    assert (
        dict(NotificationPreference.objects.filter(user=editor).values_list("kind", "delivery"))[Kind.DUE_REMINDER]
        == "daily"
    )
    bad = client.post(reverse("notifications:preferences"), {**data, Kind.WEEKLY_DIGEST: "daily"})
    assert bad.status_code == 200 and b"field-errors" in bad.content


def test_pages_need_a_login(client):
    for name in ("notifications:list", "notifications:preferences"):
        response = client.get(reverse(name))
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
