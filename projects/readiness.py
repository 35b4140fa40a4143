"""Readiness rules: effective status, score, verdict, reasons and state hash.

Pure Python over plain data (no Django import) so that models, services, the API,
the UI, the recompute task and the reports all apply exactly the same rules, and so
that the rules can be tested exhaustively. The ORM layer turns rows into the input
dataclasses below and stores ``Readiness.to_dict()`` as the project's cached readiness
and in snapshots.

Datetimes are compared as given: pass timezone-aware datetimes (as Django does with
``USE_TZ``) for ``now`` and every gate and sign-off, never a mix of aware and naive.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

# --- Gate status ----------------------------------------------------------------------

OPEN, PARTIAL, CLOSED, WAIVED, NOT_APPLICABLE = (
    "open",
    "partial",
    "closed",
    "waived",
    "not_applicable",
)
STATUSES = (OPEN, PARTIAL, CLOSED, WAIVED, NOT_APPLICABLE)
STATUS_LABELS = {
    OPEN: "Open",
    PARTIAL: "Partial",
    CLOSED: "Closed",
    WAIVED: "Waived",
    NOT_APPLICABLE: "N/A",
}

# Credit in halves, so the score can be computed in integers and rounded exactly.
_HALF_CREDITS = {CLOSED: 2, PARTIAL: 1, OPEN: 0}
# Waived and not-applicable gates leave the denominator.
_UNSCORED = frozenset({WAIVED, NOT_APPLICABLE})

# --- Severity and weight --------------------------------------------------------------

BLOCKER, CRITICAL, HIGH, MEDIUM, LOW = "blocker", "critical", "high", "medium", "low"
SEVERITIES = (BLOCKER, CRITICAL, HIGH, MEDIUM, LOW)
SEVERITY_LABELS = {
    BLOCKER: "Blocker",
    CRITICAL: "Critical",
    HIGH: "High",
    MEDIUM: "Medium",
    LOW: "Low",
}
DEFAULT_WEIGHTS = {BLOCKER: 8, CRITICAL: 5, HIGH: 3, MEDIUM: 2, LOW: 1}


def default_weight(severity: str) -> int:
    """Weight a gate of this severity gets unless someone sets another one."""
    try:
        return DEFAULT_WEIGHTS[severity]
    except KeyError:
        raise ValueError(f"Unknown severity: {severity!r}") from None


# --- Verdicts and sign-offs -----------------------------------------------------------

GO, CONDITIONAL_GO, NO_GO = "go", "conditional_go", "no_go"
VERDICTS = (GO, CONDITIONAL_GO, NO_GO)
VERDICT_LABELS = {GO: "GO", CONDITIONAL_GO: "CONDITIONAL GO", NO_GO: "NO-GO"}
DECISIONS = VERDICTS
DECISION_LABELS = VERDICT_LABELS

CURRENT, STALE, MISSING = "current", "stale", "missing"
SIGNOFF_STATES = (CURRENT, STALE, MISSING)
SIGNOFF_STATE_LABELS = {CURRENT: "Current", STALE: "Stale", MISSING: "Missing"}


# --- Inputs ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GateInput:
    """One gate of a project, as stored."""

    code: str
    title: str
    category: str
    severity: str
    weight: int
    status: str
    stage_order: int | None = None
    verified_at: datetime | None = None
    evidence_valid_days: int | None = None
    evidence_url: str = ""
    evidence_note: str = ""
    waiver_reason: str = ""
    waiver_expires_at: datetime | None = None
    owner: str = ""

    def __post_init__(self) -> None:
        # Bad data here would silently skew every score, so refuse it early.
        if self.status not in STATUSES:
            raise ValueError(f"Gate {self.code}: unknown status {self.status!r}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"Gate {self.code}: unknown severity {self.severity!r}")
        if self.weight < 0:
            raise ValueError(f"Gate {self.code}: weight must not be negative")


@dataclass(frozen=True, slots=True)
class StageInput:
    """A launch stage and its criteria; ``None`` criteria are not checked."""

    name: str
    order: int
    min_score: float | None = None
    min_closed: int | None = None
    required_roles: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SignOffInput:
    """A sign-off given for a role, against the state hash shown to the signer."""

    role: str
    decision: str
    state_hash: str
    signer: str = ""
    signed_at: datetime | None = None
    comment: str = ""

    def __post_init__(self) -> None:
        if self.decision not in DECISIONS:
            raise ValueError(f"Sign-off for {self.role}: unknown decision {self.decision!r}")


# --- Outputs --------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _from_iso(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True, slots=True)
class EffectiveGate:
    """A gate with the status the rules count it as (``status`` is the stored one)."""

    code: str
    category: str
    severity: str
    weight: int
    status: str
    effective_status: str
    stale: bool
    waiver_expired: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "category": self.category,
            "severity": self.severity,
            "weight": self.weight,
            "status": self.status,
            "effective_status": self.effective_status,
            "stale": self.stale,
            "waiver_expired": self.waiver_expired,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EffectiveGate:
        return cls(**{name: data[name] for name in cls.__slots__})


@dataclass(frozen=True, slots=True)
class CategoryScore:
    """Counts by effective status and score of one category."""

    category: str
    closed: int
    partial: int
    open: int
    waived: int
    not_applicable: int
    total: int
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "closed": self.closed,
            "partial": self.partial,
            "open": self.open,
            "waived": self.waived,
            "not_applicable": self.not_applicable,
            "total": self.total,
            "score": self.score,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CategoryScore:
        return cls(**{name: data[name] for name in cls.__slots__})


@dataclass(frozen=True, slots=True)
class SignOffState:
    """Where a required role's sign-off stands against the current state hash."""

    role: str
    state: str
    decision: str | None = None
    signer: str = ""
    signed_at: datetime | None = None
    state_hash: str | None = None
    comment: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "state": self.state,
            "decision": self.decision,
            "signer": self.signer,
            "signed_at": _iso(self.signed_at),
            "state_hash": self.state_hash,
            "comment": self.comment,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SignOffState:
        return cls(
            role=data["role"],
            state=data["state"],
            decision=data["decision"],
            signer=data["signer"],
            signed_at=_from_iso(data["signed_at"]),
            state_hash=data["state_hash"],
            comment=data.get("comment", ""),
        )


@dataclass(frozen=True, slots=True)
class Readiness:
    """Everything the rules conclude about a project at one moment, for one stage."""

    score: float
    verdict: str
    reasons: tuple[str, ...]
    categories: tuple[CategoryScore, ...]
    gates: tuple[EffectiveGate, ...]
    signoffs: tuple[SignOffState, ...]
    state_hash: str
    counts: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form, stored as the cached readiness and in snapshots."""
        return {
            "score": self.score,
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "categories": [category.to_dict() for category in self.categories],
            "gates": [gate.to_dict() for gate in self.gates],
            "signoffs": [signoff.to_dict() for signoff in self.signoffs],
            "state_hash": self.state_hash,
            "counts": {key: self.counts[key] for key in _COUNT_KEYS},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Readiness:
        """Inverse of ``to_dict`` (also after a JSON round trip)."""
        return cls(
            score=data["score"],
            verdict=data["verdict"],
            reasons=tuple(data["reasons"]),
            categories=tuple(CategoryScore.from_dict(item) for item in data["categories"]),
            gates=tuple(EffectiveGate.from_dict(item) for item in data["gates"]),
            signoffs=tuple(SignOffState.from_dict(item) for item in data["signoffs"]),
            state_hash=data["state_hash"],
            counts=dict(data["counts"]),
        )


_COUNT_KEYS = (CLOSED, PARTIAL, OPEN, WAIVED, NOT_APPLICABLE, "total")


# --- Rules ----------------------------------------------------------------------------


def natural_key(code: str) -> tuple[Any, ...]:
    """Sort key that puts ``T2`` before ``T10``."""
    parts = re.split(r"(\d+)", code)
    return (
        tuple((0, int(part), "") if part.isdigit() else (1, 0, part.casefold()) for part in parts),
        code,
    )


def effective_status(gate: GateInput, now: datetime) -> EffectiveGate:
    """The status the rules count a gate as at ``now``.

    A closed gate whose evidence has a validity period and was verified more than that
    many days ago (or never) is stale and counts as partial. A waiver whose expiry is at
    or before ``now`` no longer holds, and the gate counts as open.
    """
    status = gate.status
    stale = False
    waiver_expired = False
    if gate.status == CLOSED and gate.evidence_valid_days is not None:
        oldest_valid = now - timedelta(days=gate.evidence_valid_days)
        if gate.verified_at is None or gate.verified_at < oldest_valid:
            stale = True
            status = PARTIAL
    elif gate.status == WAIVED and gate.waiver_expires_at is not None and gate.waiver_expires_at <= now:
        waiver_expired = True
        status = OPEN
    return EffectiveGate(
        code=gate.code,
        category=gate.category,
        severity=gate.severity,
        weight=gate.weight,
        status=gate.status,
        effective_status=status,
        stale=stale,
        waiver_expired=waiver_expired,
    )


def applicable_gates(gates: Iterable[GateInput], stage: StageInput | None) -> tuple[GateInput, ...]:
    """Gates of ``stage`` and earlier stages (every gate when there is no stage)."""
    if stage is None:
        return tuple(gates)
    return tuple(gate for gate in gates if gate.stage_order is None or gate.stage_order <= stage.order)


def _round_score(numerator: int, denominator: int) -> float:
    """100 * numerator / denominator, rounded half up to one decimal, in integers."""
    if denominator == 0:
        return 100.0
    tenths = (2000 * numerator + denominator) // (2 * denominator)
    return tenths / 10


def score(effective_gates: Iterable[EffectiveGate]) -> float:
    """100 * sum(weight * credit) / sum(weight); 100.0 when there is nothing to score.

    Credit is 1 for closed, 1/2 for partial and 0 for open; waived and not-applicable
    gates leave the denominator. Rounded half up to one decimal.
    """
    half_credits = 0
    double_weight = 0
    for gate in effective_gates:
        if gate.effective_status in _UNSCORED:
            continue
        half_credits += gate.weight * _HALF_CREDITS[gate.effective_status]
        double_weight += 2 * gate.weight
    return _round_score(half_credits, double_weight)


def _count(effective_gates: Sequence[EffectiveGate]) -> dict[str, int]:
    counts = dict.fromkeys(_COUNT_KEYS, 0)
    for gate in effective_gates:
        counts[gate.effective_status] += 1
    counts["total"] = len(effective_gates)
    return counts


def _category_rank(order: Sequence[str] | None) -> Callable[[str], tuple[int, int, str]]:
    """Sort key: categories of ``order`` first, in that order, then the others by name."""
    position = {key: index for index, key in enumerate(order or ())}

    def rank(category: str) -> tuple[int, int, str]:
        if category in position:
            return (0, position[category], "")
        return (1, 0, category)

    return rank


def category_breakdown(
    effective_gates: Iterable[EffectiveGate], order: Sequence[str] | None = None
) -> tuple[CategoryScore, ...]:
    """Counts by effective status and score per category that has at least one gate.

    Ordered by ``order`` when given (categories not in it follow, alphabetically),
    otherwise by first appearance.
    """
    by_category: dict[str, list[EffectiveGate]] = {}
    for gate in effective_gates:
        by_category.setdefault(gate.category, []).append(gate)
    categories = list(by_category)
    if order is not None:
        categories.sort(key=_category_rank(order))
    result = []
    for category in categories:
        gates = by_category[category]
        counts = _count(gates)
        result.append(
            CategoryScore(
                category=category,
                closed=counts[CLOSED],
                partial=counts[PARTIAL],
                open=counts[OPEN],
                waived=counts[WAIVED],
                not_applicable=counts[NOT_APPLICABLE],
                total=counts["total"],
                score=score(gates),
            )
        )
    return tuple(result)


def _hash_iso(value: datetime | None) -> str:
    if value is None:
        return ""
    # The same instant must hash the same whichever time zone the database hands back.
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.isoformat()


def _state_hash(pairs: Iterable[tuple[GateInput, EffectiveGate]]) -> str:
    rows = sorted(
        [
            gate.code,
            effective.effective_status,
            gate.evidence_url,
            gate.evidence_note,
            gate.waiver_reason,
            _hash_iso(gate.waiver_expires_at),
        ]
        for gate, effective in pairs
    )
    canonical = json.dumps(rows, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def state_hash(gates: Iterable[GateInput], now: datetime, stage: StageInput | None = None) -> str:
    """Fingerprint of what a signer signs: the applicable gates as they count now.

    A sha256 hexdigest over the sorted rows ``[code, effective status, evidence URL,
    evidence note, waiver reason, waiver expiry (ISO, in UTC when aware) or ""]`` of
    the gates of ``stage`` and earlier, as canonical JSON. Input order does not matter;
    title, owner, category, severity, weight and ``verified_at`` (while the evidence
    stays valid) do not enter it. A sign-off is current only while this hash holds.
    """
    applicable = applicable_gates(gates, stage)
    return _state_hash((gate, effective_status(gate, now)) for gate in applicable)


def _plural(count: int, singular: str, plural: str | None = None) -> str:
    return singular if count == 1 else (plural or singular + "s")


def _codes(gates: Iterable[EffectiveGate]) -> list[str]:
    return sorted((gate.code for gate in gates), key=natural_key)


def _number(value: float) -> str:
    return f"{float(value):.2f}".rstrip("0").rstrip(".")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _unmet_gate_reasons(gates: Sequence[EffectiveGate], severity: str) -> list[str]:
    """Reasons for the gates of one severity that are neither closed nor waived/N.A."""
    open_codes = _codes(g for g in gates if g.severity == severity and g.effective_status == OPEN)
    partial_codes = _codes(g for g in gates if g.severity == severity and g.effective_status == PARTIAL and not g.stale)
    stale_codes = _codes(g for g in gates if g.severity == severity and g.stale)
    reasons = []
    for codes, state in ((open_codes, "open"), (partial_codes, "partial")):
        if codes:
            noun = _plural(len(codes), f"{severity} gate")
            reasons.append(f"{len(codes)} {noun} {state}: {', '.join(codes)}")
    if stale_codes:
        noun = _plural(len(stale_codes), f"{severity} gate")
        verb = _plural(len(stale_codes), "has", "have")
        reasons.append(f"{len(stale_codes)} {noun} {verb} stale evidence: {', '.join(stale_codes)}")
    return reasons


def _latest_signoffs(signoffs: Iterable[SignOffInput]) -> dict[str, SignOffInput]:
    """The latest sign-off per role.

    Undated sign-offs count as the oldest; on equal dates the one given later in the
    input wins.
    """
    latest: dict[str, SignOffInput] = {}
    for signoff in signoffs:
        previous = latest.get(signoff.role)
        if (
            previous is None
            or previous.signed_at is None
            or (signoff.signed_at is not None and signoff.signed_at >= previous.signed_at)
        ):
            latest[signoff.role] = signoff
    return latest


def signoff_states(
    signoffs: Iterable[SignOffInput], required_roles: Sequence[str], current_hash: str
) -> tuple[SignOffState, ...]:
    """State of the latest sign-off of each required role, in the order of the roles."""
    latest = _latest_signoffs(signoffs)
    states = []
    for role in dict.fromkeys(required_roles):
        signoff = latest.get(role)
        if signoff is None:
            states.append(SignOffState(role=role, state=MISSING))
            continue
        states.append(
            SignOffState(
                role=role,
                state=CURRENT if signoff.state_hash == current_hash else STALE,
                decision=signoff.decision,
                signer=signoff.signer,
                signed_at=signoff.signed_at,
                state_hash=signoff.state_hash,
                comment=signoff.comment,
            )
        )
    return tuple(states)


def _signed_reason(role_label: str, decision: str, comment: str) -> str:
    reason = f"{role_label} signed {VERDICT_LABELS[decision]}"
    comment = _one_line(comment)
    return f"{reason}: {comment}" if comment else reason


def evaluate(
    gates: Iterable[GateInput],
    stage: StageInput | None,
    signoffs: Iterable[SignOffInput],
    now: datetime,
    category_order: Sequence[str] | None = None,
    *,
    role_labels: Mapping[str, str] | None = None,
) -> Readiness:
    """Score, verdict and reasons for ``stage`` at ``now``.

    ``signoffs`` are the sign-offs given for this stage; only the latest one per
    required role counts. ``role_labels`` maps a role key to the name reasons use
    (default: the key itself).
    """
    role_labels = role_labels or {}
    inputs = applicable_gates(gates, stage)
    pairs = [(gate, effective_status(gate, now)) for gate in inputs]
    # Listed as a report shows them: by category, then by code.
    if category_order is None:
        first_seen: dict[str, int] = {}
        for _, effective in pairs:
            first_seen.setdefault(effective.category, len(first_seen))
        category_key = first_seen.__getitem__
    else:
        category_key = _category_rank(category_order)
    effective_gates = tuple(
        sorted(
            (effective for _, effective in pairs),
            key=lambda gate: (category_key(gate.category), natural_key(gate.code)),
        )
    )
    current_hash = _state_hash(pairs)
    total_score = score(effective_gates)
    counts = _count(effective_gates)
    required_roles = stage.required_roles if stage is not None else ()
    states = signoff_states(signoffs, required_roles, current_hash)

    no_go: list[str] = _unmet_gate_reasons(effective_gates, BLOCKER)
    if stage is not None and stage.min_score is not None and total_score < float(stage.min_score):
        no_go.append(f"Score {total_score:.1f} is below the {stage.name} minimum of {_number(stage.min_score)}")
    if stage is not None and stage.min_closed is not None and counts[CLOSED] < stage.min_closed:
        gates_word = _plural(counts["total"], "gate")
        no_go.append(
            f"{counts[CLOSED]} of {counts['total']} {gates_word} closed; {stage.name} needs {stage.min_closed}"
        )

    conditional: list[str] = _unmet_gate_reasons(effective_gates, CRITICAL)
    missing_roles = []
    stale_roles = []
    for state in states:
        label = role_labels.get(state.role, state.role)
        if state.state == MISSING:
            missing_roles.append(label)
        elif state.state == STALE:
            stale_roles.append(label)
        elif state.decision == NO_GO:
            no_go.append(_signed_reason(label, NO_GO, state.comment))
        elif state.decision == CONDITIONAL_GO:
            conditional.append(_signed_reason(label, CONDITIONAL_GO, state.comment))
    if missing_roles:
        noun = _plural(len(missing_roles), "Sign-off")
        conditional.append(f"{noun} missing: {', '.join(missing_roles)}")
    if stale_roles:
        pronoun = _plural(len(stale_roles), "it", "they")
        verb = _plural(len(stale_roles), "was", "were")
        conditional.append(
            f"{_plural(len(stale_roles), 'Sign-off')} stale: {', '.join(stale_roles)} "
            f"(state changed since {pronoun} {verb} given)"
        )
    expired = _codes(g for g in effective_gates if g.waiver_expired)
    if expired:
        conditional.append(f"{_plural(len(expired), 'Waiver')} expired: {', '.join(expired)}")

    if no_go:
        verdict = NO_GO
    elif conditional:
        verdict = CONDITIONAL_GO
    else:
        verdict = GO
    reasons = no_go + conditional
    if verdict == GO:
        reasons = [_go_reason(counts, bool(required_roles))]

    return Readiness(
        score=total_score,
        verdict=verdict,
        reasons=tuple(reasons),
        categories=category_breakdown(effective_gates, category_order),
        gates=effective_gates,
        signoffs=states,
        state_hash=current_hash,
        counts=counts,
    )


def _go_reason(counts: Mapping[str, int], roles_required: bool) -> str:
    if counts[OPEN] or counts[PARTIAL]:
        gates = "All blocker and critical gates closed or waived"
    else:
        gates = "All gates closed or waived"
    if roles_required:
        return f"{gates} and all required sign-offs current"
    return f"{gates}; no sign-offs required"


__all__ = [
    "BLOCKER",
    "CLOSED",
    "CONDITIONAL_GO",
    "CRITICAL",
    "CURRENT",
    "DECISIONS",
    "DECISION_LABELS",
    "DEFAULT_WEIGHTS",
    "GO",
    "HIGH",
    "LOW",
    "MEDIUM",
    "MISSING",
    "NOT_APPLICABLE",
    "NO_GO",
    "OPEN",
    "PARTIAL",
    "SEVERITIES",
    "SEVERITY_LABELS",
    "SIGNOFF_STATES",
    "SIGNOFF_STATE_LABELS",
    "STALE",
    "STATUSES",
    "STATUS_LABELS",
    "VERDICTS",
    "VERDICT_LABELS",
    "WAIVED",
    "CategoryScore",
    "EffectiveGate",
    "GateInput",
    "Readiness",
    "SignOffInput",
    "SignOffState",
    "StageInput",
    "applicable_gates",
    "category_breakdown",
    "default_weight",
    "effective_status",
    "evaluate",
    "natural_key",
    "score",
    "signoff_states",
    "state_hash",
]
