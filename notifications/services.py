"""Writes of notifications: who is told what, when, and by which channel.

Domain events are the audit events: the dispatcher reads them in order after they commit (a
cursor row remembers how far it got) and turns each into notifications and webhook deliveries.
Every notification carries a dedupe key, unique per user, so a dispatcher or periodic task that
runs twice tells nobody twice.
"""

import contextlib
import logging
from collections import defaultdict
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.mail import EmailMultiAlternatives, mailers
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from audits.models import AuditEvent, ReadinessSnapshot
from audits.services import audit_record
from portal.errors import InvalidInput, NotAllowed
from projects import readiness
from projects.models import Membership, Project, ProjectGate, SignOff
from projects.selectors import OWN, project_readiness, user_can

from . import webhooks
from .models import Delivery, EventCursor, Kind, Notification, NotificationPreference

log = logging.getLogger(__name__)

AUDIT_CURSOR = "audit-events"
DISPATCH_PENDING_KEY = "preflight:dispatch-pending"
EMAIL_PENDING_KEY = "preflight:email-pending"
REOPENED_FROM = {readiness.CLOSED, readiness.WAIVED}
REOPENED_TO = {readiness.OPEN, readiness.PARTIAL}
# The weekly digest is one email a week already: it is either sent or off.
DAILY_ALLOWED = set(Kind.values) - {Kind.WEEKLY_DIGEST}


# --- preferences -------------------------------------------------------------------------------


def preferences_for(user_ids, kind):
    """{user_id: delivery} for one kind (users without a row get the default, immediate)."""
    user_ids = list(user_ids)
    chosen = dict(
        NotificationPreference.objects.filter(user_id__in=user_ids, kind=kind).values_list("user_id", "delivery")
    )
    return {uid: chosen.get(uid, Delivery.IMMEDIATE) for uid in user_ids}


def preference_table(user):
    """[(kind, label, delivery)] for every kind, for the preferences page and API."""
    chosen = dict(NotificationPreference.objects.filter(user=user).values_list("kind", "delivery"))
    return [(kind, label, chosen.get(kind, Delivery.IMMEDIATE)) for kind, label in Kind.choices]


@transaction.atomic
def preferences_set(*, user, choices):
    """Save a user's choices: {kind: delivery}. Unknown kinds or deliveries are refused whole."""
    errors = {}
    for kind, delivery in choices.items():
        if kind not in Kind.values:
            errors[kind] = ["Unknown kind of notification."]
        elif delivery not in Delivery.values:
            errors[kind] = ["Choose immediate, daily or off."]
        elif delivery == Delivery.DAILY and kind not in DAILY_ALLOWED:
            errors[kind] = ["The weekly digest is sent or off."]
    if errors:
        raise InvalidInput("Your preferences were not saved.", field_errors=errors)
    for kind, delivery in choices.items():
        NotificationPreference.objects.update_or_create(user=user, kind=kind, defaults={"delivery": delivery})


# --- creating notifications --------------------------------------------------------------------


def notify(*, user_ids, kind, title, body="", url="", project=None, dedupe_key="", exclude_user_id=None):
    """Tell these users one thing, each as their preference for `kind` says (off: not at all).

    Idempotent through `dedupe_key` (unique per user). Immediate emails are queued on commit.
    Returns the number of notifications created.
    """
    user_ids = {uid for uid in user_ids if uid is not None and uid != exclude_user_id}
    if not user_ids:
        return 0
    prefs = preferences_for(user_ids, kind)
    now = timezone.now()
    rows = [
        Notification(
            user_id=uid,
            kind=kind,
            project=project,
            title=title[:300],
            body=body,
            url=url[:500],
            dedupe_key=dedupe_key[:200],
            email_mode=delivery,
            created_at=now,
        )
        for uid, delivery in prefs.items()
        if delivery != Delivery.OFF
    ]
    if dedupe_key:
        seen = set(
            Notification.objects.filter(user_id__in=[r.user_id for r in rows], dedupe_key=dedupe_key[:200]).values_list(
                "user_id", flat=True
            )
        )
        rows = [r for r in rows if r.user_id not in seen]
    if not rows:
        return 0
    Notification.objects.bulk_create(rows, ignore_conflicts=True)
    if any(r.email_mode == Delivery.IMMEDIATE for r in rows):
        request_email_send()
    return len(rows)


def _project_url(project):
    return project.get_absolute_url() if project is not None else ""


def _gate_url(project, code):
    try:
        return reverse("projects:gate", args=[project.slug, code])
    except Exception:  # the gate page belongs to the web UI; fall back to the project
        return _project_url(project)


# --- the dispatcher ----------------------------------------------------------------------------


def request_dispatch():
    """Ask for the audit events to be fanned out soon (coalesced like the recompute)."""
    from .tasks import dispatch_events

    if dispatch_events.app.conf.task_always_eager:
        dispatch_events.delay()
        return
    try:
        if cache.add(DISPATCH_PENDING_KEY, 1, timeout=30):
            dispatch_events.apply_async(countdown=settings.PREFLIGHT_DISPATCH_DELAY)
    except Exception:  # the beat runs the dispatcher every minute anyway
        log.warning("Could not queue the event dispatcher; the periodic run will catch up.", exc_info=True)


def events_dispatch(*, batch_size=500):
    """Fan out the audit events committed since the last run. Returns how many were read.

    Audit events are written under one chain-head lock, so their ids commit in order and a
    cursor never skips one. The cursor row is locked for the whole batch: two dispatchers never
    process the same events, and a crash mid-batch rolls the cursor back with the batch.
    """
    with contextlib.suppress(Exception):  # a cache outage must not stop the work
        cache.delete(DISPATCH_PENDING_KEY)
    total = 0
    while True:
        with transaction.atomic():
            cursor, _ = EventCursor.objects.get_or_create(name=AUDIT_CURSOR)
            cursor = EventCursor.objects.select_for_update().get(pk=cursor.pk)
            events = list(AuditEvent.objects.filter(pk__gt=cursor.last_id).order_by("pk")[:batch_size])
            if not events:
                return total
            _attach_projects(events)
            _fan_out(events)
            cursor.last_id = events[-1].pk
            cursor.save(update_fields=["last_id", "updated_at"])
        total += len(events)
        if len(events) < batch_size:
            return total


# What the fan-out reads of a project. Not its cached readiness: decoding that JSON (hundreds of
# kilobytes for a large project) once per audit event made a re-import's fan-out take seconds.
PROJECT_FIELDS = ("pk", "slug", "name")


def _attach_projects(events):
    """Give each event its project, read once per project with only the fields the fan-out uses."""
    ids = {e.project_id for e in events if e.project_id is not None}
    projects = Project.objects.only(*PROJECT_FIELDS).in_bulk(ids)
    for event in events:
        if event.project_id is not None:
            event.project = projects.get(event.project_id)


def _status_of(state):
    return state.get("status") if isinstance(state, dict) else None


def _fan_out(events):
    gate_ids = {int(e.object_id) for e in events if e.object_type == "projectgate" and e.object_id.isdigit()}
    gates = {
        g.pk: g
        for g in ProjectGate.objects.filter(pk__in=gate_ids)
        .select_related("project")
        .only("pk", "code", "title", "owner_id", "project__slug", "project__name")
    }
    usernames = set()
    for e in events:
        if e.action in ("member.added", "member.updated") and isinstance(e.after, dict):
            usernames.add(e.after.get("user"))
        if e.action == "signoff.requested" and isinstance(e.after, dict):
            usernames.update(e.after.get("users", []))
    user_ids = dict(
        get_user_model().objects.filter(username__in=[u for u in usernames if u]).values_list("username", "pk")
    )
    # One read of the subscriptions for the whole batch, not one per event.
    webhooks.deliveries_create_batch(
        (event.project_id, event.action, f"audit:{event.pk}", partial(_event_payload, event))
        for event in events
        if event.project_id is not None and event.action in webhooks.EVENTS
    )
    for event in events:
        if event.project_id is None or event.project is None:
            continue
        project = event.project
        gate = (
            gates.get(int(event.object_id))
            if event.object_type == "projectgate" and event.object_id.isdigit()
            else None
        )
        if gate is not None:
            _notify_gate_event(event, gate)
        elif event.action in ("member.added", "member.updated"):
            before_roles = set((event.before or {}).get("signoff_roles", []))
            gained = [r for r in (event.after or {}).get("signoff_roles", []) if r not in before_roles]
            if gained:
                notify(
                    user_ids=[user_ids.get((event.after or {}).get("user"))],
                    kind=Kind.SIGNOFF_REQUESTED,
                    project=project,
                    title=f"Your sign-off is requested on {project.name}",
                    body=f"You may now sign off {project.name} as {', '.join(gained)}.",
                    url=_signoff_url(project),
                    dedupe_key=f"event:{event.pk}",
                    exclude_user_id=event.actor_user_id,
                )
        elif event.action == "signoff.requested":
            after = event.after or {}
            notify(
                user_ids=[user_ids.get(u) for u in after.get("users", [])],
                kind=Kind.SIGNOFF_REQUESTED,
                project=project,
                title=f"Your sign-off is requested on {project.name} ({after.get('stage', '')})",
                body=f"{event.actor_label} asks for the sign-offs of: {', '.join(after.get('roles', []))}.",
                url=_signoff_url(project),
                dedupe_key=f"event:{event.pk}",
                exclude_user_id=event.actor_user_id,
            )


def _signoff_url(project):
    try:
        return reverse("projects:signoff", args=[project.slug])
    except Exception:  # the sign-off page belongs to the web UI; fall back to the project
        return _project_url(project)


def _notify_gate_event(event, gate):
    project = event.project
    if not gate.owner_id:
        return
    if event.action == "gate.evidence_expired":
        notify(
            user_ids=[gate.owner_id],
            kind=Kind.GATE_STALE,
            project=project,
            title=f"{gate.code} {gate.title}: evidence went stale",
            body=f"The evidence of {gate.code} on {project.name} is older than its validity period. "
            "It counts as partial until it is verified again.",
            url=_gate_url(project, gate.code),
            dedupe_key=f"event:{event.pk}",
        )
        return
    before, after = _status_of(event.before), _status_of(event.after)
    if before in REOPENED_FROM and after in REOPENED_TO:
        why = (
            "its waiver expired"
            if event.action == "gate.unwaived" and event.actor_user_id is None
            else (f"{event.actor_label} set it to {readiness.STATUS_LABELS.get(after, after)}")
        )
        notify(
            user_ids=[gate.owner_id],
            kind=Kind.GATE_REOPENED,
            project=project,
            title=f"{gate.code} {gate.title} reopened on {project.name}",
            body=f"{gate.code} was {readiness.STATUS_LABELS.get(before, before)}; {why}.",
            url=_gate_url(project, gate.code),
            dedupe_key=f"event:{event.pk}",
            exclude_user_id=event.actor_user_id,
        )


def _event_payload(event):
    project = event.project
    return {
        "event": event.action,
        "created_at": event.created_at,
        "project": {
            "slug": project.slug,
            "name": project.name,
            "url": settings.SITE_URL.rstrip("/") + _project_url(project),
        },
        "actor": {"label": event.actor_label, "channel": event.channel},
        "object": {"type": event.object_type, "id": event.object_id, "repr": event.object_repr},
        "before": event.before,
        "after": event.after,
        "audit_event": {"id": event.pk, "hash": event.hash},
    }


def readiness_moved(*, snapshot_id, before):
    """Follow-up of a recompute that moved a project's readiness (snapshot = the new state).

    `before` is {"score", "verdict", "state_hash"} as cached before. Tells members when the
    verdict changed, tells signers whose sign-off the change made stale, and sends the
    `readiness.changed` webhook. Idempotent: every key names the snapshot.
    """
    snapshot = ReadinessSnapshot.objects.select_related("project").filter(pk=snapshot_id).first()
    if snapshot is None or not before.get("state_hash"):
        return
    project = snapshot.project
    old_verdict = before.get("verdict") or ""
    if old_verdict and old_verdict != snapshot.verdict:
        members = Membership.objects.filter(project=project).values_list("user_id", flat=True)
        old_label = readiness.VERDICT_LABELS.get(old_verdict, old_verdict)
        new_label = readiness.VERDICT_LABELS.get(snapshot.verdict, snapshot.verdict)
        notify(
            user_ids=members,
            kind=Kind.VERDICT_CHANGED,
            project=project,
            title=f"{project.name}: {old_label} → {new_label}",
            body="\n".join([f"Score {before.get('score')} → {snapshot.score}.", *snapshot.reasons]),
            url=_project_url(project),
            dedupe_key=f"verdict:{snapshot.pk}",
        )
    if before["state_hash"] != snapshot.state_hash:
        stale = SignOff.objects.filter(project=project, state_hash=before["state_hash"]).select_related("role", "stage")
        for signoff in stale:
            notify(
                user_ids=[signoff.user_id],
                kind=Kind.SIGNOFF_STALE,
                project=project,
                title=f"Your {signoff.role.name} sign-off on {project.name} is stale",
                body=f"The gates changed since you signed {signoff.get_decision_display()} for "
                f"{signoff.stage.name}. Review what changed and sign again.",
                url=_project_url(project),
                dedupe_key=f"signoff-stale:{signoff.pk}:{snapshot.pk}",
            )
    webhooks.deliveries_create(
        project_id=project.pk,
        event="readiness.changed",
        event_key=f"snapshot:{snapshot.pk}",
        payload={
            "event": "readiness.changed",
            "created_at": snapshot.taken_at,
            "project": {
                "slug": project.slug,
                "name": project.name,
                "url": settings.SITE_URL.rstrip("/") + _project_url(project),
            },
            "before": {k: before.get(k) for k in ("score", "verdict", "state_hash")},
            "after": {"score": snapshot.score, "verdict": snapshot.verdict, "state_hash": snapshot.state_hash},
            "reasons": snapshot.reasons,
        },
    )


# --- sign-off requests -------------------------------------------------------------------------


@transaction.atomic
def signoff_request(*, actor, project):
    """Ask the holders of the current stage's required roles whose sign-off is missing or stale.

    Owners only. Audited as `signoff.requested`; the dispatcher tells the people it names.
    Returns the usernames asked.
    """
    if actor.user is not None and not user_can(actor.user, project, OWN):
        raise NotAllowed("Only the project's owners may request sign-offs.")
    stage = project.current_stage
    if stage is None:
        raise InvalidInput("The project has no stage to sign off.")
    result = project_readiness(project, stage=stage)
    pending = [s.role for s in result.signoffs if s.state != readiness.CURRENT]
    if not pending:
        raise InvalidInput("Every required sign-off is current: there is nothing to request.")
    users = sorted(
        set(
            Membership.objects.filter(project=project, signoff_roles__name__in=pending).values_list(
                "user__username", flat=True
            )
        )
    )
    if not users:
        raise InvalidInput(f"Nobody holds the roles still to sign: {', '.join(pending)}. Add them on the members page.")
    audit_record(
        actor=actor,
        action="signoff.requested",
        project=project,
        obj=project,
        after={"stage": stage.name, "roles": pending, "users": users},
    )
    return users


# --- periodic reminders ------------------------------------------------------------------------


def due_reminders_send(*, now=None, within_days=None):
    """Remind each owner of gates due within N days or overdue, at most once a day.

    One notification per owner per day lists their gates; the key names the day, so a second
    run the same day adds nothing. Returns the number of owners reminded.
    """
    now = now or timezone.now()
    today = timezone.localdate(now)
    within_days = settings.PREFLIGHT_DUE_REMINDER_DAYS if within_days is None else within_days
    gates = (
        ProjectGate.objects.filter(
            owner__isnull=False,
            due_date__isnull=False,
            due_date__lte=today + timedelta(days=within_days),
            project__lifecycle=Project.Lifecycle.ACTIVE,
        )
        .exclude(status__in=[readiness.CLOSED, readiness.WAIVED, readiness.NOT_APPLICABLE])
        .select_related("project")
        .order_by("owner_id", "due_date", "project__name", "code")
    )
    by_owner = defaultdict(list)
    for gate in gates:
        by_owner[gate.owner_id].append(gate)
    reminded = 0
    for owner_id, owned in by_owner.items():
        overdue = [g for g in owned if g.due_date < today]
        lines = [
            f"{g.project.name} · {g.code} {g.title}: "
            + (f"overdue since {g.due_date:%Y-%m-%d}" if g.due_date < today else f"due {g.due_date:%Y-%m-%d}")
            for g in owned
        ]
        title = (
            f"{len(overdue)} overdue and {len(owned) - len(overdue)} due soon of the gates you own"
            if overdue
            else f"{len(owned)} gate{'s' if len(owned) != 1 else ''} you own due within {within_days} days"
        )
        reminded += notify(
            user_ids=[owner_id],
            kind=Kind.DUE_REMINDER,
            project=owned[0].project if len({g.project_id for g in owned}) == 1 else None,
            title=title,
            body="\n".join(lines),
            url=reverse("notifications:list"),
            dedupe_key=f"due:{today.isoformat()}",
        )
    return reminded


def waiver_warnings_send(*, now=None, within_days=None):
    """Warn the gate owner and the approver of each waiver expiring within N days (once per waiver)."""
    now = now or timezone.now()
    within_days = settings.PREFLIGHT_WAIVER_WARNING_DAYS if within_days is None else within_days
    gates = ProjectGate.objects.filter(
        status=readiness.WAIVED,
        waiver_expires_at__gt=now,
        waiver_expires_at__lte=now + timedelta(days=within_days),
        project__lifecycle=Project.Lifecycle.ACTIVE,
    ).select_related("project")
    warned = 0
    for gate in gates:
        warned += notify(
            user_ids=[gate.owner_id, gate.waiver_approver_id],
            kind=Kind.WAIVER_EXPIRING,
            project=gate.project,
            title=f"Waiver of {gate.code} on {gate.project.name} expires {gate.waiver_expires_at:%Y-%m-%d %H:%M} UTC",
            body=f"{gate.code} {gate.title} was waived: {gate.waiver_reason}\n"
            "When the waiver expires the gate reopens. Close the gate or renew the waiver.",
            url=_gate_url(gate.project, gate.code),
            dedupe_key=f"waiver:{gate.pk}:{gate.waiver_expires_at.isoformat()}",
        )
    return warned


# --- reading and marking -----------------------------------------------------------------------


def notification_mark_read(*, user, ids=None, now=None):
    """Mark the user's notifications read: those ids, or all of them. Returns how many changed."""
    qs = Notification.objects.filter(user=user, read_at__isnull=True)
    if ids is not None:
        qs = qs.filter(pk__in=list(ids))
    return qs.update(read_at=now or timezone.now())


# --- email -------------------------------------------------------------------------------------


def request_email_send():
    from .tasks import send_notification_emails

    if send_notification_emails.app.conf.task_always_eager:
        send_notification_emails.delay_on_commit()
        return
    try:
        if cache.add(EMAIL_PENDING_KEY, 1, timeout=30):
            send_notification_emails.apply_async_on_commit(countdown=1)
    except Exception:  # the beat sends pending emails every few minutes anyway
        log.warning("Could not queue notification emails; the periodic run will send them.", exc_info=True)


def _message(to, template, context):
    context = {"site_url": settings.SITE_URL.rstrip("/"), **context}
    subject = " ".join(render_to_string(f"emails/{template}_subject.txt", context).split())
    text = render_to_string(f"emails/{template}.txt", context)
    html = render_to_string(f"emails/{template}.html", context)
    message = EmailMultiAlternatives(subject=subject, body=text, from_email=settings.DEFAULT_FROM_EMAIL, to=[to])
    message.attach_alternative(html, "text/html")
    return message


class _Mailer:
    """One mail connection for a whole run, opened on the first message, reopened after a failure.

    Each message is sent on its own: an error (a refused recipient, a template that fails to
    render) is returned for that message alone, so the caller records it and goes on. Only a
    connection that cannot be opened at all raises, ending the run with the rest still pending.
    """

    def __init__(self):
        self.connection = None

    def send(self, to, template, context):
        """Send one email; return None, or the exception that stopped this one message."""
        try:
            message = _message(to, template, context)
        except Exception as exc:
            return exc
        if self.connection is None:
            self.connection = mailers.default
            self.connection.open()
        try:
            self.connection.send_messages([message])
        except Exception as exc:
            # The session may be broken after an error: start a new one for the next message.
            with contextlib.suppress(Exception):
                self.connection.close()
            self.connection = None
            return exc
        return None

    def close(self):
        if self.connection is not None:
            with contextlib.suppress(Exception):
                self.connection.close()
            self.connection = None


def email_retry_delay(attempts):
    """Seconds before a failed email is tried again after `attempts` failures (doubling)."""
    return settings.PREFLIGHT_EMAIL_RETRY_SECONDS * (2 ** max(attempts - 1, 0))


def _email_failed(notifications, error, now):
    """Record one failed send of these notifications: retried later, given up after the limit."""
    attempts = max(n.email_attempts for n in notifications) + 1
    gave_up = attempts >= settings.PREFLIGHT_EMAIL_MAX_ATTEMPTS
    Notification.objects.filter(pk__in=[n.pk for n in notifications]).update(
        email_attempts=attempts,
        email_last_error=f"{type(error).__name__}: {error}"[:500],
        email_next_attempt_at=None if gave_up else now + timedelta(seconds=email_retry_delay(attempts)),
        email_failed_at=now if gave_up else None,
    )
    log.warning(
        "Email of notification(s) %s failed (attempt %s%s): %s",
        [n.pk for n in notifications],
        attempts,
        ", given up" if gave_up else "",
        error,
    )


def _emails_due(now):
    """Notifications waiting for their immediate email (not given up, retry time reached)."""
    return Notification.objects.filter(
        Q(email_next_attempt_at__isnull=True) | Q(email_next_attempt_at__lte=now),
        email_mode=Delivery.IMMEDIATE,
        emailed_at__isnull=True,
        email_failed_at__isnull=True,
    )


def emails_send_immediate(*, batch_size=100):
    """Email every notification waiting for an immediate email. Returns how many were sent.

    Each notification is sent and marked in its own short transaction, its row locked (skip
    locked) so two workers never send the same one; a crash leaves at most that one to be sent
    again. A message that fails is recorded on its notification (attempts, last error) and tried
    again after a doubling delay, up to PREFLIGHT_EMAIL_MAX_ATTEMPTS; it never holds back the
    others, and those already sent are never sent again. One mail connection serves the run.
    """
    with contextlib.suppress(Exception):  # a cache outage must not stop the work
        cache.delete(EMAIL_PENDING_KEY)
    sent = 0
    last_pk = 0  # each notification is tried at most once per run
    mailer = _Mailer()
    try:
        while True:
            ids = list(
                _emails_due(timezone.now())
                .filter(pk__gt=last_pk)
                .order_by("pk")
                .values_list("pk", flat=True)[:batch_size]
            )
            for pk in ids:
                sent += _email_one(pk, mailer)
            if len(ids) < batch_size:
                return sent
            last_pk = ids[-1]
    finally:
        mailer.close()


def _email_one(pk, mailer):
    """Send one notification's email in its own transaction; 1 if it was sent, else 0."""
    with transaction.atomic():
        now = timezone.now()
        notification = (
            _emails_due(now)
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("user", "project")
            .defer("project__readiness")
            .filter(pk=pk)
            .first()
        )
        if notification is None:  # sent, given up or taken by another worker meanwhile
            return 0
        user = notification.user
        if user.email and user.is_active:
            error = mailer.send(user.email, "notification", {"notification": notification})
            if error is not None:
                _email_failed([notification], error, now)
                return 0
        # Without an address (or for an inactive user) there is nothing to send: done all the same.
        Notification.objects.filter(pk=pk).update(emailed_at=now)
        return 1 if user.email and user.is_active else 0


def digests_send_daily(*, now=None):
    """One email per user listing the notifications they chose to get in a daily digest.

    Each user's digest is sent and marked in its own transaction; one that fails is recorded on
    its notifications (they wait for the next digest, up to PREFLIGHT_EMAIL_MAX_ATTEMPTS) and
    the other users still get theirs. Returns the number of digests sent.
    """
    now = now or timezone.now()
    sent = 0
    user_ids = (
        Notification.objects.filter(email_mode=Delivery.DAILY, emailed_at__isnull=True, email_failed_at__isnull=True)
        .order_by("user_id")  # not the model's ordering, which would make DISTINCT repeat users
        .values_list("user_id", flat=True)
        .distinct()
    )
    User = get_user_model()
    mailer = _Mailer()
    try:
        for user_id in list(user_ids):
            with transaction.atomic():
                items = list(
                    Notification.objects.select_for_update(skip_locked=True, of=("self",))
                    .filter(
                        user_id=user_id,
                        email_mode=Delivery.DAILY,
                        emailed_at__isnull=True,
                        email_failed_at__isnull=True,
                    )
                    .select_related("project")
                    .defer("project__readiness")
                    .order_by("created_at", "pk")
                )
                if not items:
                    continue
                user = User.objects.get(pk=user_id)
                if user.email and user.is_active:
                    context = {"user": user, "notifications": items, "day": now.date()}
                    error = mailer.send(user.email, "daily_digest", context)
                    if error is not None:
                        _email_failed(items, error, now)
                        continue
                    sent += 1
                Notification.objects.filter(pk__in=[n.pk for n in items]).update(emailed_at=now)
    finally:
        mailer.close()
    return sent


def weekly_digest_send(*, now=None):
    """Each member's weekly summary of their projects' movement (in-app and by email).

    Movement is the snapshot diff from the last snapshot at least a week old (or the first one)
    to now. The key names the ISO week, so a second run the same week adds nothing.
    """
    from audits.diff import project_movement_since

    now = now or timezone.now()
    year, week, _ = timezone.localdate(now).isocalendar()
    since = now - timedelta(days=7)
    projects = list(Project.objects.filter(lifecycle=Project.Lifecycle.ACTIVE).order_by("name"))
    movement = {p.pk: project_movement_since(p, since, now=now) for p in projects}
    members = defaultdict(list)
    for user_id, project_id in Membership.objects.filter(project__in=projects).values_list("user_id", "project_id"):
        members[user_id].append(project_id)
    by_id = {p.pk: p for p in projects}
    told = 0
    for user_id, project_ids in members.items():
        lines = []
        for pid in sorted(project_ids, key=lambda pid: by_id[pid].name):
            lines.append(movement[pid].summary_line(by_id[pid]))
        told += notify(
            user_ids=[user_id],
            kind=Kind.WEEKLY_DIGEST,
            title=f"Your projects this week ({year}-W{week:02d})",
            body="\n".join(lines),
            url="/",
            dedupe_key=f"weekly:{year}-W{week:02d}",
        )
    return told
