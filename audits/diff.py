"""What changed between two readiness snapshots of a project.

A diff compares snapshot A (older) with snapshot B (newer, or the live state): the gates whose
effective status moved, gates added or removed, the score delta, the verdict change, reasons
that appeared or went away, sign-offs whose state changed, and — from the audit history between
the two moments — who changed what.
"""

from dataclasses import dataclass, field
from datetime import datetime

from django.http import Http404
from django.utils import timezone

from projects import readiness

from .models import AuditEvent, ReadinessSnapshot
from .services import snapshot_build

EVENTS_LIMIT = 200


@dataclass(frozen=True)
class GateMove:
    code: str
    title: str
    before: str | None  # effective status in A (None: the gate was not in A)
    after: str | None  # effective status in B (None: the gate is not in B)
    before_stale: bool = False
    after_stale: bool = False

    @property
    def before_label(self):
        return _status_label(self.before, self.before_stale)

    @property
    def after_label(self):
        return _status_label(self.after, self.after_stale)

    @property
    def direction(self):
        """ "better", "worse" or "same" by the credit the rules give each status."""
        rank = {readiness.OPEN: 0, readiness.PARTIAL: 1, readiness.CLOSED: 2}
        a, b = rank.get(self.before), rank.get(self.after)
        if a is None or b is None or a == b:
            return "same"
        return "better" if b > a else "worse"

    def to_dict(self):
        return {
            "code": self.code,
            "title": self.title,
            "before": self.before,
            "after": self.after,
            "before_stale": self.before_stale,
            "after_stale": self.after_stale,
        }


def _status_label(status, stale):
    if status is None:
        return "—"
    label = readiness.STATUS_LABELS.get(status, status)
    return f"{label} (stale)" if stale else label


@dataclass(frozen=True)
class EventChange:
    """One audit event between A and B, with the fields it changed."""

    event: AuditEvent
    changes: list = field(default_factory=list)  # [(field, before, after)]

    def to_dict(self):
        e = self.event
        return {
            "id": e.pk,
            "at": e.created_at,
            "actor": e.actor_label,
            "channel": e.channel,
            "action": e.action,
            "object": e.object_repr,
            "changes": [{"field": f, "before": b, "after": a} for f, b, a in self.changes],
        }


@dataclass
class SnapshotDiff:
    a: ReadinessSnapshot
    b: ReadinessSnapshot
    gates_moved: list[GateMove]
    gates_added: list[GateMove]
    gates_removed: list[GateMove]
    reasons_added: list[str]
    reasons_removed: list[str]
    signoffs_changed: list[dict]
    events: list[EventChange]
    events_total: int

    @property
    def score_delta(self):
        return round(self.b.score - self.a.score, 1)

    @property
    def verdict_changed(self):
        return self.a.verdict != self.b.verdict

    @property
    def is_empty(self):
        return not (
            self.gates_moved
            or self.gates_added
            or self.gates_removed
            or self.score_delta
            or self.verdict_changed
            or self.signoffs_changed
            or self.events_total
        )

    def summary_line(self, project):
        """One line for digests: "Apollo: 40.0 → 55.5 (+15.5), NO-GO → CONDITIONAL GO, 3 gates moved"."""
        verdict = _verdict_label(self.b.verdict)
        if self.verdict_changed:
            verdict = f"{_verdict_label(self.a.verdict)} → {verdict}"
        moved = len(self.gates_moved) + len(self.gates_added) + len(self.gates_removed)
        sign = "+" if self.score_delta >= 0 else ""
        return (
            f"{project.name}: {self.a.score:.1f} → {self.b.score:.1f} ({sign}{self.score_delta:.1f}), {verdict}, "
            f"{moved} gate{'s' if moved != 1 else ''} moved, {self.events_total} change"
            f"{'s' if self.events_total != 1 else ''}"
        )

    def to_dict(self):
        return {
            "a": snapshot_ref(self.a),
            "b": snapshot_ref(self.b),
            "score": {"before": self.a.score, "after": self.b.score, "delta": self.score_delta},
            "verdict": {"before": self.a.verdict, "after": self.b.verdict, "changed": self.verdict_changed},
            "gates_moved": [g.to_dict() for g in self.gates_moved],
            "gates_added": [g.to_dict() for g in self.gates_added],
            "gates_removed": [g.to_dict() for g in self.gates_removed],
            "reasons_added": self.reasons_added,
            "reasons_removed": self.reasons_removed,
            "signoffs_changed": self.signoffs_changed,
            "events": [e.to_dict() for e in self.events],
            "events_total": self.events_total,
        }


def _verdict_label(verdict):
    return readiness.VERDICT_LABELS.get(verdict, verdict or "—")


def snapshot_ref(snapshot):
    return {
        "id": snapshot.pk,
        "kind": snapshot.kind if snapshot.pk else "live",
        "taken_at": snapshot.taken_at,
        "stage": snapshot.stage_name,
        "score": snapshot.score,
        "verdict": snapshot.verdict,
        "state_hash": snapshot.state_hash,
    }


def _event_changes(event):
    before = event.before if isinstance(event.before, dict) else {}
    after = event.after if isinstance(event.after, dict) else {}
    changes = []
    for key in dict.fromkeys([*before, *after]):
        if key == "version":
            continue
        if before.get(key) != after.get(key):
            changes.append((key, before.get(key), after.get(key)))
    return changes


def snapshot_diff(project, a, b, *, events_limit=EVENTS_LIMIT):
    """Compare snapshot A with snapshot B (either may be live, i.e. unsaved) of one project."""
    from projects.models import ProjectGate

    gates_a = {g["code"]: g for g in a.gates}
    gates_b = {g["code"]: g for g in b.gates}
    titles = dict(ProjectGate.objects.filter(project=project).values_list("code", "title"))

    def move(code):
        ga, gb = gates_a.get(code), gates_b.get(code)
        return GateMove(
            code=code,
            title=titles.get(code, ""),
            before=ga["effective_status"] if ga else None,
            after=gb["effective_status"] if gb else None,
            before_stale=bool(ga and ga.get("stale")),
            after_stale=bool(gb and gb.get("stale")),
        )

    codes = sorted(set(gates_a) | set(gates_b), key=readiness.natural_key)
    moved, added, removed = [], [], []
    for code in codes:
        if code not in gates_a:
            added.append(move(code))
        elif code not in gates_b:
            removed.append(move(code))
        else:
            ga, gb = gates_a[code], gates_b[code]
            if (ga["effective_status"], ga.get("stale")) != (gb["effective_status"], gb.get("stale")):
                moved.append(move(code))

    reasons_a, reasons_b = list(a.reasons), list(b.reasons)
    signoffs_a = {s["role"]: s for s in a.signoffs}
    signoffs_b = {s["role"]: s for s in b.signoffs}
    signoffs_changed = []
    for role in dict.fromkeys([*signoffs_a, *signoffs_b]):
        sa, sb = signoffs_a.get(role, {}), signoffs_b.get(role, {})
        if (sa.get("state"), sa.get("decision"), sa.get("signer")) != (
            sb.get("state"),
            sb.get("decision"),
            sb.get("signer"),
        ):
            signoffs_changed.append(
                {
                    "role": role,
                    "before": {"state": sa.get("state"), "decision": sa.get("decision"), "signer": sa.get("signer")},
                    "after": {"state": sb.get("state"), "decision": sb.get("decision"), "signer": sb.get("signer")},
                }
            )

    older, newer = (a, b) if a.taken_at <= b.taken_at else (b, a)
    events_qs = AuditEvent.objects.filter(
        project=project, created_at__gt=older.taken_at, created_at__lte=newer.taken_at
    )
    if older.pk and older.kind == ReadinessSnapshot.Kind.SIGNOFF:
        # The sign-off that took the older snapshot is its starting point, not a change since.
        bound = [str(pk) for pk in older.bound_signoffs.values_list("pk", flat=True)]
        events_qs = events_qs.exclude(action="signoff.given", object_type="signoff", object_id__in=bound)
    events_total = events_qs.count()
    events = [
        EventChange(event=e, changes=_event_changes(e))
        for e in events_qs.select_related("actor_user").order_by("id")[:events_limit]
    ]
    return SnapshotDiff(
        a=a,
        b=b,
        gates_moved=moved,
        gates_added=added,
        gates_removed=removed,
        reasons_added=[r for r in reasons_b if r not in reasons_a],
        reasons_removed=[r for r in reasons_a if r not in reasons_b],
        signoffs_changed=signoffs_changed,
        events=events,
        events_total=events_total,
    )


# --- choosing the two sides ----------------------------------------------------------------------


def snapshot_live(project, now=None):
    """The project's readiness at this moment, as an unsaved snapshot (pk None, kind "live")."""
    from projects.selectors import project_readiness, stage_for

    now = now or timezone.now()
    stage = stage_for(project)
    return snapshot_build(
        project_id=project.pk,
        result=project_readiness(project, now=now),
        kind="live",
        stage_name=stage.name if stage else "",
        now=now,
    )


def snapshot_get(project, snapshot_id):
    """One snapshot of this project by id (404 for an id of another project)."""
    try:
        return ReadinessSnapshot.objects.get(project=project, pk=int(snapshot_id))
    except (ReadinessSnapshot.DoesNotExist, TypeError, ValueError):
        raise Http404("No such snapshot of this project.") from None


def snapshot_at(project, when: datetime):
    """The last snapshot taken at or before `when`, else the project's first one (or None)."""
    qs = ReadinessSnapshot.objects.filter(project=project)
    return qs.filter(taken_at__lte=when).order_by("-taken_at", "-id").first() or qs.order_by("taken_at", "id").first()


def snapshot_of_last_signoff(project, user):
    """The snapshot the user's latest sign-off on this project was given against (or None)."""
    from projects.models import SignOff

    signoff = (
        SignOff.objects.filter(project=project, user=user).select_related("snapshot").order_by("-signed_at").first()
    )
    if signoff is None:
        return None
    return signoff.snapshot or snapshot_at(project, signoff.signed_at)


def project_movement_since(project, since, *, now=None):
    """Diff from the state at `since` (the snapshot then) to now, for digests."""
    now = now or timezone.now()
    live = snapshot_live(project, now=now)
    earlier = snapshot_at(project, since) or live
    return snapshot_diff(project, earlier, live, events_limit=0)
