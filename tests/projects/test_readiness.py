"""Tests of the pure readiness rules (projects/readiness.py).

Expected numbers are worked out by hand in each test, never by calling the code under test.
"""

import ast
import hashlib
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from projects import readiness
from projects.readiness import (
    BLOCKER,
    CLOSED,
    CONDITIONAL_GO,
    CRITICAL,
    CURRENT,
    DEFAULT_WEIGHTS,
    GO,
    HIGH,
    LOW,
    MEDIUM,
    MISSING,
    NO_GO,
    NOT_APPLICABLE,
    OPEN,
    PARTIAL,
    SEVERITIES,
    STALE,
    STATUSES,
    WAIVED,
    CategoryScore,
    GateInput,
    Readiness,
    SignOffInput,
    SignOffState,
    StageInput,
    applicable_gates,
    category_breakdown,
    default_weight,
    effective_status,
    evaluate,
    natural_key,
    score,
    state_hash,
)

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
# Written out here rather than read from the module, so a changed default fails a test.
WEIGHT = {"blocker": 8, "critical": 5, "high": 3, "medium": 2, "low": 1}

SOFT_LAUNCH = StageInput(
    name="Soft launch",
    order=1,
    min_score=80,
    min_closed=24,
    required_roles=("Product Owner", "DevOps Lead"),
)


def gate(code, status=OPEN, severity=HIGH, category="technical", **fields):
    if "weight" not in fields:
        fields["weight"] = WEIGHT[severity]
    fields.setdefault("title", f"Gate {code}")
    return GateInput(code=code, category=category, severity=severity, status=status, **fields)


def effective(*gates, now=NOW):
    return [effective_status(g, now) for g in gates]


def stage(name="GA", order=1, **fields):
    return StageInput(name=name, order=order, **fields)


def signed(role, decision, readiness_or_hash, **fields):
    state = getattr(readiness_or_hash, "state_hash", readiness_or_hash)
    fields.setdefault("signed_at", NOW - timedelta(hours=1))
    return SignOffInput(role=role, decision=decision, state_hash=state, **fields)


def signed_off(gates, the_stage, decisions, now=NOW):
    """Evaluate with every (role, decision, comment) signed against the current state."""
    current = evaluate(gates, the_stage, [], now).state_hash
    signoffs = [signed(role, decision, current, comment=comment) for role, decision, comment in decisions]
    return evaluate(gates, the_stage, signoffs, now)


# The Dealix example (examples/launch-gates.md), with a severity chosen for each gate.
LAUNCH_GATES = [
    ("T1", "technical", CLOSED, BLOCKER),
    ("T2", "technical", CLOSED, MEDIUM),
    ("T3", "technical", CLOSED, HIGH),
    ("T4", "technical", OPEN, BLOCKER),
    ("T5", "technical", OPEN, HIGH),
    ("T6", "technical", OPEN, CRITICAL),
    ("T7", "technical", OPEN, HIGH),
    ("S1", "security", CLOSED, CRITICAL),
    ("S2", "security", CLOSED, HIGH),
    ("S3", "security", CLOSED, HIGH),
    ("S4", "security", CLOSED, MEDIUM),
    ("S5", "security", PARTIAL, BLOCKER),
    ("S6", "security", PARTIAL, MEDIUM),
    ("S7", "security", OPEN, CRITICAL),
    ("O1", "observability", CLOSED, HIGH),
    ("O2", "observability", CLOSED, LOW),
    ("O3", "observability", OPEN, MEDIUM),
    ("O4", "observability", OPEN, LOW),
    ("O5", "observability", OPEN, MEDIUM),
    ("G1", "gtm", PARTIAL, HIGH),
    ("G2", "gtm", OPEN, CRITICAL),
    ("G3", "gtm", OPEN, MEDIUM),
    ("G4", "gtm", OPEN, MEDIUM),
    ("G5", "gtm", OPEN, LOW),
    ("G6", "gtm", OPEN, LOW),
    ("I1", "support", CLOSED, HIGH),
    ("I2", "support", OPEN, MEDIUM),
    ("I3", "support", OPEN, LOW),
    ("I4", "support", OPEN, HIGH),
    ("R1", "recovery", CLOSED, MEDIUM),
    ("R2", "recovery", OPEN, CRITICAL),
    ("R3", "recovery", OPEN, HIGH),
    ("V1", "governance", PARTIAL, HIGH),
]
CATEGORY_ORDER = [
    "technical",
    "security",
    "observability",
    "gtm",
    "support",
    "recovery",
    "governance",
]


def launch_gates():
    return [gate(code, status, severity, category) for code, category, status, severity in LAUNCH_GATES]


# --- Module and constants ---------------------------------------------------------------


def test_module_imports_only_the_standard_library():
    tree = ast.parse(Path(readiness.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    allowed = {
        "__future__",
        "collections",
        "dataclasses",
        "datetime",
        "enum",
        "hashlib",
        "json",
        "re",
        "typing",
    }
    assert imported <= allowed


def test_status_severity_and_verdict_constants():
    assert STATUSES == ("open", "partial", "closed", "waived", "not_applicable")
    assert readiness.STATUS_LABELS == {
        "open": "Open",
        "partial": "Partial",
        "closed": "Closed",
        "waived": "Waived",
        "not_applicable": "N/A",
    }
    assert SEVERITIES == ("blocker", "critical", "high", "medium", "low")
    assert set(readiness.SEVERITY_LABELS) == set(SEVERITIES)
    assert DEFAULT_WEIGHTS == WEIGHT
    assert readiness.VERDICTS == ("go", "conditional_go", "no_go")
    assert readiness.DECISIONS == readiness.VERDICTS
    assert readiness.VERDICT_LABELS == {
        "go": "GO",
        "conditional_go": "CONDITIONAL GO",
        "no_go": "NO-GO",
    }
    assert (CURRENT, STALE, MISSING) == ("current", "stale", "missing")


@pytest.mark.parametrize(
    ("severity", "weight"),
    [("blocker", 8), ("critical", 5), ("high", 3), ("medium", 2), ("low", 1)],
)
def test_default_weight_by_severity(severity, weight):
    assert default_weight(severity) == weight


def test_default_weight_rejects_unknown_severity():
    with pytest.raises(ValueError, match="severity"):
        default_weight("urgent")


@pytest.mark.parametrize(
    ("field", "value"),
    [("status", "done"), ("severity", "urgent"), ("weight", -1)],
)
def test_gate_input_rejects_bad_data(field, value):
    fields = {"weight": 1, field: value}
    with pytest.raises(ValueError, match="T1"):
        gate("T1", **fields)


def test_sign_off_input_rejects_unknown_decision():
    with pytest.raises(ValueError, match="decision"):
        SignOffInput(role="Product Owner", decision="maybe", state_hash="x")


# --- Effective status -------------------------------------------------------------------


def test_closed_gate_with_fresh_evidence_stays_closed():
    g = gate("T1", CLOSED, verified_at=NOW - timedelta(days=29), evidence_valid_days=30)
    result = effective_status(g, NOW)
    assert (result.effective_status, result.stale) == (CLOSED, False)


def test_closed_gate_with_stale_evidence_counts_as_partial():
    g = gate("T1", CLOSED, verified_at=NOW - timedelta(days=31), evidence_valid_days=30)
    result = effective_status(g, NOW)
    assert result.status == CLOSED
    assert result.effective_status == PARTIAL
    assert result.stale is True
    assert result.waiver_expired is False


def test_evidence_exactly_at_its_validity_limit_is_still_valid():
    g = gate("T1", CLOSED, verified_at=NOW - timedelta(days=30), evidence_valid_days=30)
    assert effective_status(g, NOW).effective_status == CLOSED
    later = NOW + timedelta(seconds=1)
    assert effective_status(g, later).effective_status == PARTIAL


def test_closed_gate_never_verified_is_stale_when_evidence_expires():
    g = gate("T1", CLOSED, evidence_valid_days=30)
    assert effective_status(g, NOW).effective_status == PARTIAL
    assert effective_status(g, NOW).stale is True


def test_closed_gate_without_validity_period_never_goes_stale():
    g = gate("T1", CLOSED, verified_at=NOW - timedelta(days=3650))
    assert effective_status(g, NOW).effective_status == CLOSED
    assert effective_status(gate("T2", CLOSED), NOW).effective_status == CLOSED


def test_only_closed_gates_go_stale():
    g = gate("T1", PARTIAL, verified_at=NOW - timedelta(days=90), evidence_valid_days=1)
    result = effective_status(g, NOW)
    assert (result.effective_status, result.stale) == (PARTIAL, False)


def test_expired_waiver_counts_as_open():
    g = gate("G2", WAIVED, waiver_expires_at=NOW - timedelta(minutes=1))
    result = effective_status(g, NOW)
    assert result.status == WAIVED
    assert result.effective_status == OPEN
    assert result.waiver_expired is True
    assert result.stale is False


def test_waiver_expiring_now_no_longer_holds():
    g = gate("G2", WAIVED, waiver_expires_at=NOW)
    assert effective_status(g, NOW).effective_status == OPEN


@pytest.mark.parametrize("expires_at", [None, NOW + timedelta(days=1)])
def test_valid_waiver_stays_waived(expires_at):
    result = effective_status(gate("G2", WAIVED, waiver_expires_at=expires_at), NOW)
    assert (result.effective_status, result.waiver_expired) == (WAIVED, False)


@pytest.mark.parametrize("status", [OPEN, PARTIAL, NOT_APPLICABLE])
def test_other_statuses_are_their_own_effective_status(status):
    g = gate(
        "T1",
        status,
        waiver_expires_at=NOW - timedelta(days=1),
        verified_at=NOW - timedelta(days=99),
        evidence_valid_days=1,
    )
    result = effective_status(g, NOW)
    assert result.effective_status == status
    assert (result.stale, result.waiver_expired) == (False, False)


def test_effective_gate_carries_the_gate_identity():
    g = gate("S5", PARTIAL, BLOCKER, "security", weight=7)
    result = effective_status(g, NOW)
    assert (result.code, result.category, result.severity, result.weight) == (
        "S5",
        "security",
        BLOCKER,
        7,
    )


# --- Stages -----------------------------------------------------------------------------


def test_applicable_gates_are_those_of_the_stage_and_earlier():
    gates = [
        gate("A1", stage_order=None),
        gate("A2", stage_order=1),
        gate("A3", stage_order=2),
        gate("A4", stage_order=3),
    ]
    codes = [g.code for g in applicable_gates(gates, stage(order=2))]
    assert codes == ["A1", "A2", "A3"]


def test_without_a_stage_every_gate_applies():
    gates = [gate("A1", stage_order=None), gate("A2", stage_order=9)]
    assert [g.code for g in applicable_gates(gates, None)] == ["A1", "A2"]


def test_later_stage_gates_do_not_count_for_an_earlier_stage():
    gates = [
        gate("A1", CLOSED, stage_order=1),
        gate("A2", OPEN, BLOCKER, stage_order=2),
    ]
    first = evaluate(gates, stage(order=1), [], NOW)
    assert (first.verdict, first.score, first.counts["total"]) == (GO, 100.0, 1)
    second = evaluate(gates, stage(order=2), [], NOW)
    assert second.verdict == NO_GO
    # closed high 3 of (3 + 8) -> 27.27
    assert second.score == 27.3


# --- Score ------------------------------------------------------------------------------


def test_score_of_nothing_is_100():
    assert score([]) == 100.0


def test_score_is_100_when_everything_is_waived_or_not_applicable():
    gates = effective(gate("A1", WAIVED, BLOCKER), gate("A2", NOT_APPLICABLE))
    assert score(gates) == 100.0


def test_score_gives_full_half_and_no_credit():
    gates = effective(gate("A1", CLOSED, HIGH), gate("A2", PARTIAL, MEDIUM), gate("A3"))
    # (3 x 1 + 2 x 0.5 + 3 x 0) / (3 + 2 + 3) = 4 / 8
    assert score(gates) == 50.0


def test_score_rounds_to_one_decimal():
    gates = effective(gate("A1", CLOSED, HIGH), gate("A2", PARTIAL, MEDIUM), gate("A3", OPEN, LOW))
    # (3 + 1) / (3 + 2 + 1) = 66.666...
    assert score(gates) == 66.7


def test_score_rounds_half_up():
    gates = effective(gate("A1", PARTIAL, weight=1), gate("A2", OPEN, weight=39), gate("A3", CLOSED, weight=0))
    # 0.5 / 40 = 1.25 % exactly
    assert score(gates) == 1.3


def test_waived_and_not_applicable_gates_leave_the_denominator():
    scored = [gate("A1", CLOSED, HIGH), gate("A2", PARTIAL, MEDIUM), gate("A3", OPEN, LOW)]
    unscored = [gate("A4", WAIVED, BLOCKER), gate("A5", NOT_APPLICABLE, CRITICAL)]
    # (3 + 1) / 6 with or without the blocker (8) and critical (5) out of it
    assert score(effective(*scored, *unscored)) == 66.7
    # Were they open instead: (3 + 1) / (6 + 8 + 5) = 21.05
    as_open = [replace(g, status=OPEN) for g in unscored]
    assert score(effective(*scored, *as_open)) == 21.1


def test_weights_follow_severity():
    assert score(effective(gate("A1", OPEN, BLOCKER), gate("A2", CLOSED, LOW))) == 11.1  # 1/9
    assert score(effective(gate("A1", CLOSED, BLOCKER), gate("A2", OPEN, LOW))) == 88.9  # 8/9
    assert score(effective(gate("A1", CLOSED, CRITICAL), gate("A2", OPEN, HIGH))) == 62.5


def test_an_explicit_weight_overrides_the_severity_default():
    gates = effective(gate("A1", OPEN, BLOCKER, weight=1), gate("A2", CLOSED, LOW, weight=3))
    assert score(gates) == 75.0


def test_stale_and_expired_gates_score_by_their_effective_status():
    gates = effective(
        gate("A1", CLOSED, evidence_valid_days=7),  # partial: 1.5 of 3
        gate("A2", WAIVED, waiver_expires_at=NOW - timedelta(days=1)),  # open: 0 of 3
        gate("A3", CLOSED),  # 3 of 3
    )
    assert score(gates) == 50.0  # 4.5 / 9


# --- Categories ---------------------------------------------------------------------------


def test_category_breakdown_reproduces_the_launch_gates_summary():
    categories = category_breakdown(effective(*launch_gates()), CATEGORY_ORDER)
    counts = [(c.category, c.closed, c.partial, c.open, c.total) for c in categories]
    assert counts == [
        ("technical", 3, 0, 4, 7),
        ("security", 4, 2, 1, 7),
        ("observability", 2, 0, 3, 5),
        ("gtm", 0, 1, 5, 6),
        ("support", 1, 0, 3, 4),
        ("recovery", 1, 0, 2, 3),
        ("governance", 0, 1, 0, 1),
    ]
    assert [c.score for c in categories] == [
        40.6,  # (8 + 2 + 3) / 32
        64.3,  # (5 + 3 + 3 + 2 + 4 + 1) / 28
        44.4,  # (3 + 1) / 9
        10.7,  # 1.5 / 14
        33.3,  # 3 / 9
        20.0,  # 2 / 10
        50.0,  # 1.5 / 3
    ]


def test_category_counts_waived_and_not_applicable_gates_in_the_total():
    categories = category_breakdown(
        effective(
            gate("S1", CLOSED, category="security"),
            gate("S2", WAIVED, category="security"),
            gate("S3", NOT_APPLICABLE, category="security"),
            gate("S4", WAIVED, category="security", waiver_expires_at=NOW),
        )
    )
    assert categories == (
        CategoryScore(
            category="security",
            closed=1,
            partial=0,
            open=1,
            waived=1,
            not_applicable=1,
            total=4,
            score=50.0,
        ),
    )


def test_categories_follow_the_given_order_then_unknown_ones_alphabetically():
    gates = effective(
        gate("A1", category="zeta"),
        gate("A2", category="technical"),
        gate("A3", category="alpha"),
        gate("A4", category="security"),
        gate("A5", category="gtm"),
    )
    order = ["security", "recovery", "technical"]
    categories = [c.category for c in category_breakdown(gates, order)]
    assert categories == ["security", "technical", "alpha", "gtm", "zeta"]


def test_categories_follow_first_appearance_without_an_order():
    gates = effective(
        gate("A1", category="support"),
        gate("A2", category="gtm"),
        gate("A3", category="support"),
        gate("A4", category="alpha"),
    )
    categories = [c.category for c in category_breakdown(gates)]
    assert categories == ["support", "gtm", "alpha"]


# --- State hash ---------------------------------------------------------------------------


def test_state_hash_is_sha256_of_the_sorted_canonical_rows():
    gates = [
        gate(
            "T10",
            WAIVED,
            evidence_url="https://ci.example/1",
            waiver_reason="Accepted risk",
            waiver_expires_at=datetime(2026, 6, 1, tzinfo=UTC),
        ),
        gate("T2", CLOSED, evidence_note="Drill log", evidence_valid_days=1),
    ]
    expected_rows = [
        ["T10", "waived", "https://ci.example/1", "", "Accepted risk", "2026-06-01T00:00:00+00:00"],
        ["T2", "partial", "", "Drill log", "", ""],
    ]
    canonical = '[["T10","waived","https://ci.example/1","","Accepted risk",'
    canonical += '"2026-06-01T00:00:00+00:00"],["T2","partial","","Drill log","",""]]'
    assert json.dumps(expected_rows, separators=(",", ":")) == canonical
    expected = hashlib.sha256(canonical.encode()).hexdigest()
    assert state_hash(gates, NOW) == expected
    assert evaluate(gates, None, [], NOW).state_hash == expected


def test_state_hash_covers_only_applicable_gates():
    early = [gate("A1", CLOSED, stage_order=1)]
    later = [*early, gate("A2", OPEN, stage_order=2)]
    assert state_hash(later, NOW, stage(order=1)) == state_hash(early, NOW, stage(order=1))
    assert state_hash(later, NOW, stage(order=2)) != state_hash(early, NOW, stage(order=2))


def test_state_hash_ignores_re_verification_while_evidence_is_valid():
    g = gate("A1", CLOSED, verified_at=NOW - timedelta(days=5), evidence_valid_days=30)
    reverified = replace(g, verified_at=NOW)
    assert state_hash([g], NOW) == state_hash([reverified], NOW)


def test_state_hash_changes_when_evidence_expires():
    g = gate("A1", CLOSED, verified_at=NOW - timedelta(days=5), evidence_valid_days=30)
    assert state_hash([g], NOW) != state_hash([g], NOW + timedelta(days=30))


def test_state_hash_is_the_same_for_the_same_instant_in_any_time_zone():
    expiry = datetime(2026, 6, 1, 12, tzinfo=UTC)
    in_paris = expiry.astimezone(timezone(timedelta(hours=2)))
    g = gate("A1", WAIVED, waiver_expires_at=expiry)
    assert state_hash([g], NOW) == state_hash([replace(g, waiver_expires_at=in_paris)], NOW)


# --- Verdict: NO-GO -----------------------------------------------------------------------


def test_launch_gates_example_is_no_go_with_every_reason():
    result = evaluate(launch_gates(), SOFT_LAUNCH, [], NOW, CATEGORY_ORDER)
    assert result.verdict == NO_GO
    # 43 credit of 105 weight (see the category test)
    assert result.score == 41.0
    assert result.counts == {
        "closed": 11,
        "partial": 4,
        "open": 18,
        "waived": 0,
        "not_applicable": 0,
        "total": 33,
    }
    assert result.reasons == (
        "1 blocker gate open: T4",
        "1 blocker gate partial: S5",
        "Score 41.0 is below the Soft launch minimum of 80",
        "11 of 33 gates closed; Soft launch needs 24",
        "4 critical gates open: G2, R2, S7, T6",
        "Sign-offs missing: Product Owner, DevOps Lead",
    )


def test_open_blocker_is_no_go():
    result = evaluate([gate("B1", OPEN, BLOCKER), gate("A1", CLOSED)], None, [], NOW)
    assert result.verdict == NO_GO
    assert result.reasons == ("1 blocker gate open: B1",)


def test_partial_blocker_is_no_go():
    result = evaluate([gate("B1", PARTIAL, BLOCKER)], None, [], NOW)
    assert result.verdict == NO_GO
    assert result.reasons == ("1 blocker gate partial: B1",)


def test_blocker_with_stale_evidence_is_no_go_and_says_so():
    gates = [
        gate("B1", CLOSED, BLOCKER, evidence_valid_days=30),
        gate("B2", CLOSED, BLOCKER, evidence_valid_days=30, verified_at=NOW - timedelta(days=40)),
        gate("B3", PARTIAL, BLOCKER),
    ]
    result = evaluate(gates, None, [], NOW)
    assert result.verdict == NO_GO
    assert result.reasons == (
        "1 blocker gate partial: B3",
        "2 blocker gates have stale evidence: B1, B2",
    )


def test_single_blocker_with_stale_evidence_wording():
    result = evaluate([gate("T1", CLOSED, BLOCKER, evidence_valid_days=1)], None, [], NOW)
    assert result.reasons == ("1 blocker gate has stale evidence: T1",)


@pytest.mark.parametrize(
    "blocker",
    [
        gate("B1", CLOSED, BLOCKER),
        gate("B1", WAIVED, BLOCKER),
        gate("B1", WAIVED, BLOCKER, waiver_expires_at=NOW + timedelta(days=1)),
        gate("B1", NOT_APPLICABLE, BLOCKER),
    ],
)
def test_closed_validly_waived_or_not_applicable_blocker_does_not_block(blocker):
    assert evaluate([blocker], None, [], NOW).verdict == GO


def test_blocker_with_expired_waiver_is_no_go():
    gates = [gate("B1", WAIVED, BLOCKER, waiver_expires_at=NOW - timedelta(days=1))]
    result = evaluate(gates, None, [], NOW)
    assert result.verdict == NO_GO
    assert result.reasons == ("1 blocker gate open: B1", "Waiver expired: B1")


def test_score_below_stage_minimum_is_no_go():
    gates = [gate("A1", CLOSED), gate("A2", OPEN)]  # 3 of 6 -> 50.0
    result = evaluate(gates, stage("Soft launch", min_score=80), [], NOW)
    assert result.verdict == NO_GO
    assert result.reasons == ("Score 50.0 is below the Soft launch minimum of 80",)


def test_score_at_stage_minimum_is_enough():
    gates = [gate("A1", CLOSED), gate("A2", OPEN)]
    assert evaluate(gates, stage(min_score=50), [], NOW).verdict == GO


def test_fractional_minimum_score_is_shown_as_set():
    gates = [gate("A1", CLOSED), gate("A2", OPEN)]
    result = evaluate(gates, stage("GA", min_score=82.5), [], NOW)
    assert result.reasons == ("Score 50.0 is below the GA minimum of 82.5",)


def test_fewer_closed_gates_than_stage_minimum_is_no_go():
    gates = [gate("A1", CLOSED), gate("A2", PARTIAL), gate("A3", WAIVED)]
    result = evaluate(gates, stage("Soft launch", min_closed=2), [], NOW)
    assert result.verdict == NO_GO
    assert result.reasons == ("1 of 3 gates closed; Soft launch needs 2",)
    assert evaluate(gates, stage(min_closed=1), [], NOW).verdict == GO


def test_minimum_closed_wording_for_a_single_gate():
    result = evaluate([gate("A1", OPEN, LOW)], stage("GA", min_closed=1), [], NOW)
    assert result.reasons == ("0 of 1 gate closed; GA needs 1",)


def test_current_no_go_sign_off_is_no_go():
    the_stage = stage(required_roles=("Product Owner",))
    result = signed_off(
        [gate("A1", CLOSED)],
        the_stage,
        [("Product Owner", NO_GO, "Payments never tested\n  with real cards")],
    )
    assert result.verdict == NO_GO
    assert result.reasons == ("Product Owner signed NO-GO: Payments never tested with real cards",)


def test_no_go_sign_off_without_comment():
    the_stage = stage(required_roles=("Product Owner",))
    result = signed_off([gate("A1", CLOSED)], the_stage, [("Product Owner", NO_GO, "")])
    assert result.reasons == ("Product Owner signed NO-GO",)


def test_no_go_reasons_come_before_conditional_ones():
    the_stage = stage(required_roles=("Product Owner", "DevOps Lead"))
    gates = [gate("C1", OPEN, CRITICAL), gate("B1", OPEN, BLOCKER)]
    result = signed_off(gates, the_stage, [("Product Owner", NO_GO, "Not yet")])
    assert result.verdict == NO_GO
    assert result.reasons == (
        "1 blocker gate open: B1",
        "Product Owner signed NO-GO: Not yet",
        "1 critical gate open: C1",
        "Sign-off missing: DevOps Lead",
    )


# --- Verdict: CONDITIONAL GO --------------------------------------------------------------


def test_open_critical_gate_is_conditional():
    result = evaluate([gate("S7", OPEN, CRITICAL), gate("S1", CLOSED)], None, [], NOW)
    assert result.verdict == CONDITIONAL_GO
    assert result.reasons == ("1 critical gate open: S7",)


def test_partial_and_stale_critical_gates_are_conditional():
    gates = [
        gate("C2", PARTIAL, CRITICAL),
        gate("C3", PARTIAL, CRITICAL),
        gate("C1", CLOSED, CRITICAL, evidence_valid_days=7),
    ]
    result = evaluate(gates, None, [], NOW)
    assert result.verdict == CONDITIONAL_GO
    assert result.reasons == (
        "2 critical gates partial: C2, C3",
        "1 critical gate has stale evidence: C1",
    )


@pytest.mark.parametrize("status", [CLOSED, WAIVED, NOT_APPLICABLE])
def test_closed_waived_or_not_applicable_critical_gate_is_fine(status):
    assert evaluate([gate("C1", status, CRITICAL)], None, [], NOW).verdict == GO


def test_missing_sign_off_is_conditional():
    the_stage = stage(required_roles=("Product Owner", "DevOps Lead"))
    result = signed_off([gate("A1", CLOSED)], the_stage, [("Product Owner", GO, "")])
    assert result.verdict == CONDITIONAL_GO
    assert result.reasons == ("Sign-off missing: DevOps Lead",)


def test_several_missing_sign_offs_in_stage_order():
    the_stage = stage(required_roles=("Product Owner", "DevOps Lead", "Backend Lead"))
    result = evaluate([gate("A1", CLOSED)], the_stage, [], NOW)
    assert result.reasons == ("Sign-offs missing: Product Owner, DevOps Lead, Backend Lead",)


def test_stale_sign_off_is_conditional():
    the_stage = stage(required_roles=("Backend Lead",))
    before = evaluate([gate("A1", CLOSED)], the_stage, [], NOW)
    reopened = [gate("A1", PARTIAL)]
    result = evaluate(reopened, the_stage, [signed("Backend Lead", GO, before)], NOW)
    assert result.verdict == CONDITIONAL_GO
    assert result.reasons == ("Sign-off stale: Backend Lead (state changed since it was given)",)


def test_several_stale_sign_offs_wording():
    the_stage = stage(required_roles=("Backend Lead", "DevOps Lead"))
    signoffs = [signed("Backend Lead", GO, "old"), signed("DevOps Lead", GO, "old")]
    result = evaluate([gate("A1", CLOSED)], the_stage, signoffs, NOW)
    assert result.reasons == ("Sign-offs stale: Backend Lead, DevOps Lead (state changed since they were given)",)


def test_stale_no_go_sign_off_is_only_conditional():
    the_stage = stage(required_roles=("Product Owner",))
    signoffs = [signed("Product Owner", NO_GO, "old", comment="Too early")]
    result = evaluate([gate("A1", CLOSED)], the_stage, signoffs, NOW)
    assert result.verdict == CONDITIONAL_GO
    assert result.reasons == ("Sign-off stale: Product Owner (state changed since it was given)",)


def test_conditional_sign_off_is_conditional():
    the_stage = stage(required_roles=("Backend Lead",))
    result = signed_off([gate("A1", CLOSED)], the_stage, [("Backend Lead", CONDITIONAL_GO, "Watch the DLQ")])
    assert result.verdict == CONDITIONAL_GO
    assert result.reasons == ("Backend Lead signed CONDITIONAL GO: Watch the DLQ",)


def test_expired_waiver_is_conditional():
    gates = [gate("G2", WAIVED, LOW, waiver_expires_at=NOW - timedelta(hours=1))]
    result = evaluate(gates, None, [], NOW)
    assert result.verdict == CONDITIONAL_GO
    assert result.reasons == ("Waiver expired: G2",)


def test_several_expired_waivers_wording_and_order():
    expired = NOW - timedelta(hours=1)
    gates = [
        gate("G10", WAIVED, LOW, waiver_expires_at=expired),
        gate("G2", WAIVED, MEDIUM, waiver_expires_at=expired),
    ]
    assert evaluate(gates, None, [], NOW).reasons == ("Waivers expired: G2, G10",)


def test_role_labels_name_roles_in_reasons():
    the_stage = stage(required_roles=("devops_lead",))
    result = evaluate([gate("A1", CLOSED)], the_stage, [], NOW, role_labels={"devops_lead": "DevOps Lead"})
    assert result.reasons == ("Sign-off missing: DevOps Lead",)
    assert result.signoffs[0].role == "devops_lead"


# --- Verdict: GO --------------------------------------------------------------------------


def test_everything_closed_and_signed_is_go():
    the_stage = stage(min_score=90, min_closed=2, required_roles=("Product Owner", "DevOps Lead"))
    gates = [gate("A1", CLOSED, BLOCKER), gate("A2", CLOSED), gate("A3", WAIVED, CRITICAL)]
    result = signed_off(gates, the_stage, [("Product Owner", GO, ""), ("DevOps Lead", GO, "")])
    assert result.verdict == GO
    assert result.score == 100.0
    assert result.reasons == ("All gates closed or waived and all required sign-offs current",)


def test_go_with_lower_severity_gates_still_open_says_so_truthfully():
    the_stage = stage(min_score=50, required_roles=("Product Owner",))
    gates = [gate("A1", CLOSED, BLOCKER), gate("A2", OPEN, LOW)]
    result = signed_off(gates, the_stage, [("Product Owner", GO, "")])
    assert result.verdict == GO
    assert result.reasons == ("All blocker and critical gates closed or waived and all required sign-offs current",)


def test_go_without_a_stage_needs_no_sign_offs():
    result = evaluate([gate("A1", CLOSED)], None, [], NOW)
    assert result.verdict == GO
    assert result.signoffs == ()
    assert result.reasons == ("All gates closed or waived; no sign-offs required",)


# --- Sign-off states ----------------------------------------------------------------------


def test_sign_off_states_current_stale_and_missing():
    the_stage = stage(required_roles=("Product Owner", "Backend Lead", "DevOps Lead"))
    gates = [gate("A1", CLOSED)]
    current = evaluate(gates, the_stage, [], NOW).state_hash
    signed_at = NOW - timedelta(days=1)
    signoffs = [
        signed("Backend Lead", GO, "0" * 64, signer="bob", signed_at=signed_at),
        signed("Product Owner", GO, current, signer="ann", signed_at=signed_at),
        signed("Auditor", NO_GO, current),  # not a required role: ignored
    ]
    result = evaluate(gates, the_stage, signoffs, NOW)
    assert result.signoffs == (
        SignOffState("Product Owner", CURRENT, GO, "ann", signed_at, current),
        SignOffState("Backend Lead", STALE, GO, "bob", signed_at, "0" * 64),
        SignOffState("DevOps Lead", MISSING, None, "", None, None),
    )


def test_only_the_latest_sign_off_of_a_role_counts_whatever_the_input_order():
    the_stage = stage(required_roles=("Product Owner",))
    gates = [gate("A1", CLOSED)]
    current = evaluate(gates, the_stage, [], NOW).state_hash
    older = signed("Product Owner", GO, current, signed_at=NOW - timedelta(days=2))
    newer = signed("Product Owner", NO_GO, current, signed_at=NOW - timedelta(days=1), comment="Wait")
    for signoffs in ([older, newer], [newer, older]):
        result = evaluate(gates, the_stage, signoffs, NOW)
        assert result.verdict == NO_GO
        assert result.signoffs[0].decision == NO_GO


def test_an_undated_sign_off_counts_as_the_oldest():
    the_stage = stage(required_roles=("Product Owner",))
    gates = [gate("A1", CLOSED)]
    current = evaluate(gates, the_stage, [], NOW).state_hash
    undated = signed("Product Owner", NO_GO, current, signed_at=None)
    dated = signed("Product Owner", GO, current, signed_at=NOW - timedelta(days=9))
    assert evaluate(gates, the_stage, [dated, undated], NOW).verdict == GO


def test_sign_off_goes_stale_when_a_gate_reopens_or_evidence_expires():
    the_stage = stage(required_roles=("Product Owner",))
    gates = [gate("A1", CLOSED, verified_at=NOW, evidence_valid_days=30)]
    signoff = signed("Product Owner", GO, evaluate(gates, the_stage, [], NOW))
    assert evaluate(gates, the_stage, [signoff], NOW).signoffs[0].state == CURRENT
    reopened = [replace(gates[0], status=OPEN)]
    assert evaluate(reopened, the_stage, [signoff], NOW).signoffs[0].state == STALE
    month_later = NOW + timedelta(days=31)
    assert evaluate(gates, the_stage, [signoff], month_later).signoffs[0].state == STALE


def test_sign_off_stays_current_when_only_the_title_or_owner_changes():
    the_stage = stage(required_roles=("Product Owner",))
    gates = [gate("A1", CLOSED)]
    signoff = signed("Product Owner", GO, evaluate(gates, the_stage, [], NOW))
    renamed = [replace(gates[0], title="Renamed", owner="carol")]
    assert evaluate(renamed, the_stage, [signoff], NOW).signoffs[0].state == CURRENT


# --- Ordering -------------------------------------------------------------------------------


def test_natural_key_orders_codes_naturally():
    codes = ["T10", "T2", "S1", "T1", "t3", "T2a"]
    assert sorted(codes, key=natural_key) == ["S1", "T1", "T2", "T2a", "t3", "T10"]


def test_reasons_list_codes_in_natural_order():
    gates = [gate(code, OPEN, BLOCKER) for code in ("T10", "T2", "T1")]
    assert evaluate(gates, None, [], NOW).reasons == ("3 blocker gates open: T1, T2, T10",)


def test_readiness_lists_gates_by_category_then_natural_code():
    gates = [
        gate("T10", category="technical"),
        gate("S1", category="security"),
        gate("T2", category="technical"),
    ]
    by_order = evaluate(gates, None, [], NOW, ["security", "technical"])
    assert [g.code for g in by_order.gates] == ["S1", "T2", "T10"]
    by_appearance = evaluate(gates, None, [], NOW)
    assert [g.code for g in by_appearance.gates] == ["T2", "T10", "S1"]


# --- Serialisation ------------------------------------------------------------------------


def full_readiness():
    the_stage = replace(SOFT_LAUNCH, required_roles=("Product Owner", "DevOps Lead", "QA"))
    gates = [
        *launch_gates(),
        gate("X1", WAIVED, category="governance", waiver_expires_at=NOW - timedelta(days=1)),
        gate("X2", CLOSED, category="governance", evidence_valid_days=1),
    ]
    current = evaluate(gates, the_stage, [], NOW).state_hash
    signoffs = [
        signed("Product Owner", CONDITIONAL_GO, current, signer="ann", comment="Soon"),
        signed("DevOps Lead", NO_GO, "stale-hash", signer="dan"),
    ]
    return evaluate(gates, the_stage, signoffs, NOW, CATEGORY_ORDER)


def test_to_dict_is_json_serialisable_and_complete():
    result = full_readiness()
    data = result.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert set(data) == {
        "score",
        "verdict",
        "reasons",
        "categories",
        "gates",
        "signoffs",
        "state_hash",
        "counts",
    }
    assert data["verdict"] == "no_go"
    assert data["counts"]["total"] == 35
    assert len(data["gates"]) == 35
    assert data["gates"][0] == {
        "code": "T1",
        "category": "technical",
        "severity": "blocker",
        "weight": 8,
        "status": "closed",
        "effective_status": "closed",
        "stale": False,
        "waiver_expired": False,
    }
    assert data["categories"][0] == {
        "category": "technical",
        "closed": 3,
        "partial": 0,
        "open": 4,
        "waived": 0,
        "not_applicable": 0,
        "total": 7,
        "score": 40.6,
    }
    assert data["signoffs"][0] == {
        "role": "Product Owner",
        "state": "current",
        "decision": "conditional_go",
        "signer": "ann",
        "signed_at": "2026-05-01T11:00:00+00:00",
        "state_hash": result.state_hash,
        "comment": "Soon",
    }
    assert data["signoffs"][2]["state"] == "missing"


def test_to_dict_round_trips_through_json():
    result = full_readiness()
    assert Readiness.from_dict(json.loads(json.dumps(result.to_dict()))) == result


# --- Properties ---------------------------------------------------------------------------

PROPERTY = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
CREDIT = {CLOSED: 1.0, PARTIAL: 0.5, OPEN: 0.0}


# Strategies built once, with few draws per gate: property tests must stay fast.
EVIDENCE = [  # (verified_at, evidence_valid_days, evidence_url, evidence_note)
    (None, None, "", ""),
    (NOW, 30, "https://ci.example/run/1", ""),
    (NOW - timedelta(days=40), 30, "", "k6 report"),
    (None, 7, "", ""),
    (NOW - timedelta(days=40), None, "https://ci.example/run/2", "drill log"),
]
WAIVERS = [  # (waiver_reason, waiver_expires_at)
    ("", None),
    ("Accepted by CTO", None),
    ("Accepted by CTO", NOW - timedelta(days=1)),
    ("Until launch", NOW + timedelta(days=1)),
]


def build_gate(code, severity, weight, status, category, stage_order, evidence, waiver, owner):
    verified_at, valid_days, url, note = evidence
    return GateInput(
        code=code,
        title=f"Gate {code}",
        category=category,
        severity=severity,
        weight=weight,
        status=status,
        stage_order=stage_order,
        verified_at=verified_at,
        evidence_valid_days=valid_days,
        evidence_url=url,
        evidence_note=note,
        waiver_reason=waiver[0],
        waiver_expires_at=waiver[1],
        owner=owner,
    )


gate_inputs = st.builds(
    build_gate,
    code=st.sampled_from([f"G{n}" for n in range(1, 31)]),
    severity=st.sampled_from(SEVERITIES),
    weight=st.integers(0, 10),
    status=st.sampled_from(STATUSES),
    category=st.sampled_from(["technical", "security", "gtm"]),
    stage_order=st.sampled_from([None, 1, 2, 3]),
    evidence=st.sampled_from(EVIDENCE),
    waiver=st.sampled_from(WAIVERS),
    owner=st.sampled_from(["", "ann"]),
)
gate_lists = st.lists(gate_inputs, max_size=8, unique_by=lambda g: g.code)
nonempty_gate_lists = st.lists(gate_inputs, min_size=1, max_size=8, unique_by=lambda g: g.code)


def direct_score(effective_gates):
    scored = [g for g in effective_gates if g.effective_status in CREDIT]
    weight = sum(g.weight for g in scored)
    if weight == 0:
        return 100.0
    return 100 * sum(g.weight * CREDIT[g.effective_status] for g in scored) / weight


@PROPERTY
@given(gate_lists)
def test_property_score_is_within_0_and_100(gates):
    result = evaluate(gates, None, [], NOW)
    assert 0.0 <= result.score <= 100.0
    assert abs(result.score - direct_score(result.gates)) <= 0.05 + 1e-9
    assert all(0.0 <= c.score <= 100.0 for c in result.categories)


@PROPERTY
@given(nonempty_gate_lists, st.data())
def test_property_closing_a_gate_never_lowers_the_score(gates, data):
    unfinished = [i for i, g in enumerate(gates) if effective_status(g, NOW).effective_status in (OPEN, PARTIAL)]
    assume(unfinished)
    i = data.draw(st.sampled_from(unfinished))
    closed = list(gates)
    closed[i] = replace(gates[i], status=CLOSED, evidence_valid_days=None)
    assert score(effective(*closed)) >= score(effective(*gates))


@PROPERTY
@given(nonempty_gate_lists, st.data())
def test_property_waiving_a_gate_removes_its_weight(gates, data):
    i = data.draw(st.integers(0, len(gates) - 1))
    waived = list(gates)
    waived[i] = replace(gates[i], status=WAIVED, waiver_expires_at=None)
    others = effective(*gates[:i], *gates[i + 1 :])
    result = score(effective(*waived))
    assert abs(result - direct_score(others)) <= 0.05 + 1e-9
    assert result == score(others)


@PROPERTY
@given(nonempty_gate_lists, st.data())
def test_property_state_hash_changes_with_an_effective_status(gates, data):
    i = data.draw(st.integers(0, len(gates) - 1))
    new_status = data.draw(st.sampled_from(STATUSES))
    changed = list(gates)
    changed[i] = replace(gates[i], status=new_status)
    before = effective_status(gates[i], NOW).effective_status
    after = effective_status(changed[i], NOW).effective_status
    assume(before != after)
    assert state_hash(changed, NOW) != state_hash(gates, NOW)


def _effective_statuses(gates, now):
    return [effective_status(g, now).effective_status for g in gates]


@PROPERTY
@given(nonempty_gate_lists, st.data())
def test_property_state_hash_holds_when_a_stored_status_changes_but_not_its_effect(gates, data):
    """Only then: a closed gate with stale evidence and a partial gate with the same evidence
    count alike, as do a waived gate whose waiver expired and an open one with the same waiver,
    so the same state hash (a sign-off given against one stays current against the other)."""
    i = data.draw(st.integers(0, len(gates) - 1))
    counts_as = effective_status(gates[i], NOW).effective_status
    twins = [
        s
        for s in STATUSES
        if s != gates[i].status and effective_status(replace(gates[i], status=s), NOW).effective_status == counts_as
    ]
    assume(twins)
    changed = list(gates)
    changed[i] = replace(gates[i], status=data.draw(st.sampled_from(twins)))
    assert changed[i].status != gates[i].status
    assert _effective_statuses(changed, NOW) == _effective_statuses(gates, NOW)
    assert state_hash(changed, NOW) == state_hash(gates, NOW)
    assert evaluate(changed, SOFT_LAUNCH, [], NOW).state_hash == evaluate(gates, SOFT_LAUNCH, [], NOW).state_hash


@PROPERTY
@given(nonempty_gate_lists, st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=60)))
def test_property_state_hash_moves_with_time_exactly_when_an_effective_status_does(gates, elapsed):
    """Nothing stored changes; evidence going stale or a waiver expiring changes the hash, and
    time that changes no effective status leaves it alone."""
    later = NOW + elapsed
    moved = _effective_statuses(gates, later) != _effective_statuses(gates, NOW)
    assert (state_hash(gates, later) != state_hash(gates, NOW)) == moved


def test_time_alone_changes_the_hash_through_stale_evidence_and_an_expired_waiver():
    """The two ways time moves an effective status, each shown once (the property above
    covers them among many others)."""
    fresh = gate("T1", CLOSED, verified_at=NOW, evidence_valid_days=30, evidence_url="https://ci.example/1")
    waived = gate("T2", WAIVED, waiver_reason="Until launch", waiver_expires_at=NOW + timedelta(days=1))
    for g, days, becomes in ((fresh, 31, PARTIAL), (waived, 2, OPEN)):
        later = NOW + timedelta(days=days)
        assert effective_status(g, later).effective_status == becomes
        assert state_hash([g], later) != state_hash([g], NOW)
        assert state_hash([g], NOW + timedelta(hours=12)) == state_hash([g], NOW)


@PROPERTY
@given(nonempty_gate_lists, st.data())
def test_property_state_hash_ignores_fields_outside_it(gates, data):
    i = data.draw(st.integers(0, len(gates) - 1))
    changed = list(gates)
    changed[i] = replace(
        gates[i],
        title=data.draw(st.text(max_size=8)),
        owner=data.draw(st.text(max_size=8)),
        weight=data.draw(st.integers(0, 20)),
        severity=data.draw(st.sampled_from(SEVERITIES)),
        category=data.draw(st.sampled_from(["technical", "recovery"])),
    )
    assert state_hash(changed, NOW) == state_hash(gates, NOW)


@PROPERTY
@given(gate_lists, st.data())
def test_property_evaluation_does_not_depend_on_input_order(gates, data):
    shuffled = data.draw(st.permutations(gates))
    the_stage = stage("Soft launch", order=2, min_score=60, min_closed=2)
    first = evaluate(gates, the_stage, [], NOW, CATEGORY_ORDER)
    second = evaluate(shuffled, the_stage, [], NOW, CATEGORY_ORDER)
    assert second.state_hash == first.state_hash
    assert second == first
    assert state_hash(shuffled, NOW, the_stage) == first.state_hash


@PROPERTY
@given(gate_lists)
def test_property_readiness_round_trips_through_json(gates):
    result = evaluate(gates, SOFT_LAUNCH, [], NOW, CATEGORY_ORDER)
    assert Readiness.from_dict(json.loads(json.dumps(result.to_dict()))) == result
