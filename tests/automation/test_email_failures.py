"""A notification email that fails is that one email's problem: recorded on its notification,
retried after a delay, given up after PREFLIGHT_EMAIL_MAX_ATTEMPTS, and never a reason to send
anyone else's email again. One mail connection serves a whole run.

The mail backend is the test (locmem) backend with one recipient refused, as an SMTP server
refuses a mailbox that does not exist.
"""

import smtplib
from datetime import timedelta

import pytest
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend
from django.db.models import F
from django.utils import timezone

from notifications import services as notify_services
from notifications.models import Delivery, Kind, Notification

pytestmark = pytest.mark.django_db

REFUSED = set()
OPENED = []


class RefusingBackend(LocmemBackend):
    """The locmem backend, refusing the addresses in REFUSED and counting the connections opened."""

    def open(self):
        OPENED.append(self)
        return super().open()

    def send_messages(self, messages):
        for message in messages:
            refused = [to for to in message.to if to in REFUSED]
            if refused:
                raise smtplib.SMTPRecipientsRefused(dict.fromkeys(refused, (550, b"5.1.1 No such mailbox")))
        return super().send_messages(messages)


@pytest.fixture
def refusing_mail(settings):
    settings.MAILERS = {"default": {"BACKEND": f"{__name__}.RefusingBackend"}}
    settings.PREFLIGHT_EMAIL_RETRY_SECONDS = 60
    settings.PREFLIGHT_EMAIL_MAX_ATTEMPTS = 3
    mail.outbox = []
    REFUSED.clear()
    OPENED.clear()
    yield mail.outbox
    REFUSED.clear()
    OPENED.clear()


def _tell(users, key, run_on_commit):
    """One immediate notification each, created one after the other (in this order of ids)."""
    with run_on_commit():
        for user in users:
            notify_services.notify(user_ids=[user.pk], kind=Kind.GATE_STALE, title=f"Stale {key}", dedupe_key=key)


def _sent_to(outbox):
    return sorted(m.to[0] for m in outbox)


def _time_passes(seconds):
    Notification.objects.filter(email_next_attempt_at__isnull=False).update(
        email_next_attempt_at=F("email_next_attempt_at") - timedelta(seconds=seconds)
    )


def test_one_refused_recipient_does_not_resend_or_hold_back_the_others(
    project, editor, signer, viewer, run_on_commit, refusing_mail
):
    outbox = refusing_mail
    REFUSED.add(editor.email)
    _tell([editor, signer, viewer], "k1", run_on_commit)  # the refused one comes first

    assert _sent_to(outbox) == sorted([signer.email, viewer.email])
    failed = Notification.objects.get(user=editor)
    assert failed.emailed_at is None and failed.email_attempts == 1 and failed.email_failed_at is None
    assert "SMTPRecipientsRefused" in failed.email_last_error and "No such mailbox" in failed.email_last_error
    assert 50 <= (failed.email_next_attempt_at - timezone.now()).total_seconds() <= 60
    assert (
        Notification.objects.filter(user__in=[signer, viewer], dedupe_key="k1", emailed_at__isnull=False).count() == 2
    )

    # Every later run (the beat's, or the next notification's) sends nobody anything twice, and
    # does not try the failed one before its retry time.
    assert notify_services.emails_send_immediate() == 0
    assert len(outbox) == 2 and Notification.objects.get(user=editor).email_attempts == 1

    _time_passes(61)
    assert notify_services.emails_send_immediate() == 0
    failed.refresh_from_db()
    assert failed.email_attempts == 2 and failed.emailed_at is None
    assert 110 <= (failed.email_next_attempt_at - timezone.now()).total_seconds() <= 120  # doubled
    assert len(outbox) == 2

    _time_passes(121)
    assert notify_services.emails_send_immediate() == 0
    failed.refresh_from_db()
    # Third failure of three: given up, and never tried again.
    assert failed.email_attempts == 3 and failed.email_failed_at is not None and failed.email_next_attempt_at is None
    opened = len(OPENED)
    _time_passes(10_000)
    Notification.objects.filter(pk=failed.pk).update(email_next_attempt_at=timezone.now() - timedelta(days=1))
    assert notify_services.emails_send_immediate() == 0
    assert len(OPENED) == opened  # nothing left to send: no connection either
    assert len(outbox) == 2
    # It is still listed in the app.
    assert Notification.objects.filter(user=editor, read_at__isnull=True).count() == 1


def test_a_recipient_that_recovers_gets_the_email_once(project, editor, signer, run_on_commit, refusing_mail):
    outbox = refusing_mail
    REFUSED.add(editor.email)
    _tell([editor, signer], "k2", run_on_commit)
    assert _sent_to(outbox) == [signer.email]
    REFUSED.clear()
    _time_passes(61)
    assert notify_services.emails_send_immediate() == 1
    assert _sent_to(outbox) == sorted([editor.email, signer.email])
    note = Notification.objects.get(user=editor)
    assert note.emailed_at is not None and note.email_attempts == 1
    assert notify_services.emails_send_immediate() == 0
    assert len(outbox) == 2


def test_a_run_sends_every_email_over_one_connection(project, owner, editor, signer, viewer, refusing_mail):
    for user in (owner, editor, signer, viewer):
        notify_services.notify(user_ids=[user.pk], kind=Kind.GATE_STALE, title="Stale", dedupe_key="k3")
    assert notify_services.emails_send_immediate(batch_size=2) == 4
    assert len(refusing_mail) == 4
    assert len(OPENED) == 1


def test_a_failed_daily_digest_leaves_the_other_users_digests_alone(
    project, editor, signer, viewer, refusing_mail, settings
):
    outbox = refusing_mail
    for user in (editor, signer, viewer):
        notify_services.preferences_set(user=user, choices={Kind.GATE_STALE: Delivery.DAILY})
        for n in range(2):
            notify_services.notify(user_ids=[user.pk], kind=Kind.GATE_STALE, title=f"Stale {n}", dedupe_key=f"d{n}")
    REFUSED.add(editor.email)  # the first user in the run

    assert notify_services.digests_send_daily() == 2
    assert _sent_to(outbox) == sorted([signer.email, viewer.email])
    assert len(OPENED) == 2  # one connection, opened again after the refusal
    waiting = Notification.objects.filter(user=editor)
    assert [(n.emailed_at, n.email_attempts) for n in waiting] == [(None, 1), (None, 1)]
    assert all("SMTPRecipientsRefused" in n.email_last_error for n in waiting)

    # The next run retries only the one that failed; it recovers and gets its digest once.
    REFUSED.clear()
    assert notify_services.digests_send_daily() == 1
    assert _sent_to(outbox) == sorted([editor.email, signer.email, viewer.email])
    assert "2 notifications" in outbox[-1].subject
    assert notify_services.digests_send_daily() == 0
    assert len(outbox) == 3


def test_a_digest_that_keeps_failing_is_given_up(project, editor, refusing_mail, settings):
    settings.PREFLIGHT_EMAIL_MAX_ATTEMPTS = 2
    notify_services.preferences_set(user=editor, choices={Kind.GATE_STALE: Delivery.DAILY})
    notify_services.notify(user_ids=[editor.pk], kind=Kind.GATE_STALE, title="Stale", dedupe_key="g")
    REFUSED.add(editor.email)
    assert notify_services.digests_send_daily() == 0
    assert notify_services.digests_send_daily() == 0
    note = Notification.objects.get(user=editor)
    assert note.email_attempts == 2 and note.email_failed_at is not None
    REFUSED.clear()
    assert notify_services.digests_send_daily() == 0
    assert refusing_mail == []
