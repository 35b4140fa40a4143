"""The Markdown readiness-document parser: the five real documents, each construct, and robustness.

Pure tests (no database): the parser is standard-library Python.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projects.markdown import parser as parser_module
from projects.markdown.parser import Claim, ParsedDocument, parse_markdown, repair_mojibake

# The five example readiness documents ship with the repository (they are also the demo data).
EXAMPLES = Path(__file__).resolve().parents[2] / "projects" / "demo_data"

STATUSES = {"open", "partial", "closed", "waived", "not_applicable"}
SEVERITIES = {"blocker", "critical", "high", "medium", "low", None}
CATEGORY_KEYS = {"technical", "security", "observability", "gtm", "support", "recovery", "governance", None}


@pytest.fixture(autouse=True)
def _internal_errors_raise(monkeypatch):
    """In tests a bug must fail loudly instead of becoming an "unreadable line"."""
    monkeypatch.setattr(parser_module, "RAISE_INTERNAL_ERRORS", True)


@functools.cache
def example(name: str) -> ParsedDocument:
    return parse_markdown((EXAMPLES / name).read_text(encoding="utf-8"))


def counts(doc: ParsedDocument) -> tuple[int, int, int, int, int]:
    by_status = doc.counts_by_status()
    return (
        by_status["closed"],
        by_status["partial"],
        by_status["open"],
        by_status["waived"] + by_status["not_applicable"],
        len(doc.items),
    )


def category_rows(doc: ParsedDocument) -> list[tuple[str, str | None, int, int, int]]:
    keys = {name: key for key, name in doc.categories()}
    return [
        (name, keys[name], row["closed"], row["partial"], row["open"]) for name, row in doc.counts_by_category().items()
    ]


def parse(text: str) -> ParsedDocument:
    return parse_markdown(text)


def only_item(text: str):
    doc = parse(text)
    assert len(doc.items) == 1, doc.items
    return doc.items[0]


def skipped_rows(doc: ParsedDocument) -> list[tuple[int, int, int, str, str]]:
    """(first line, last line, lines, section, reason up to its colon) of each group left out."""
    return [
        (group.line_no, group.last_line_no, len(group.line_nos), group.section, group.reason.split(":")[0])
        for group in doc.skipped
    ]


# --- The five examples ----------------------------------------------------------------


def test_examples_folder_is_beside_the_repository():
    assert EXAMPLES.is_dir()
    assert {p.name for p in EXAMPLES.glob("*.md")} >= {
        "launch-gates.md",
        "implementation-status.md",
        "phase7-production-readiness.md",
        "platform-launch-readiness.md",
        "production-readiness-checklist.md",
    }


class TestLaunchGates:
    """launch-gates.md: seven gate tables (# | Gate | Status | Notes), a Summary table, a target."""

    doc = property(lambda self: example("launch-gates.md"))

    def test_counts_match_the_document(self):
        assert counts(self.doc) == (11, 4, 18, 0, 33)

    def test_categories_match_every_row_of_the_summary_table(self):
        assert category_rows(self.doc) == [
            ("Technical", "technical", 3, 0, 4),
            ("Security", "security", 4, 2, 1),
            ("Observability", "observability", 2, 0, 3),
            ("GTM / Funnel", "gtm", 0, 1, 5),
            ("Support / Incident", "support", 1, 0, 3),
            ("Recovery / Rollback", "recovery", 1, 0, 2),
            ("Governance", "governance", 0, 1, 0),
        ]
        summary = [c for c in self.doc.claims if c.total is not None]
        assert len(summary) == 8 * 3  # seven category rows and TOTAL, each closed / partial / open
        assert not self.doc.discrepancies
        total = {c.status: (c.claimed, c.total, c.scope) for c in summary if c.line.startswith("| **TOTAL**")}
        assert total == {"closed": (11, 33, "document"), "partial": (4, 33, "document"), "open": (18, 33, "document")}

    def test_codes_titles_and_notes(self):
        codes = [item.code for item in self.doc.items]
        assert codes[:7] == [f"T{n}" for n in range(1, 8)]
        assert codes[-1] == "V1"
        assert len(set(codes)) == 33
        t4 = next(item for item in self.doc.items if item.code == "T4")
        assert (t4.title, t4.status, t4.notes, t4.line_no) == (
            "DLQ wired in production",
            "open",
            "Code exists, needs deploy + test",
            38,
        )
        assert t4.line == "| T4 | DLQ wired in production | Open | Code exists, needs deploy + test |"

    def test_target_verdict_title_and_preamble(self):
        doc = self.doc
        assert doc.title == "Dealix Launch Gates Checklist"  # not the commit message or the file path above it
        assert doc.target == "24/30 gates closed before declaring Soft Launch"
        assert doc.min_closed == 24
        assert doc.verdict == "no_go"  # "**Verdict:** Not ready for soft launch."
        assert doc.score is None
        assert doc.signoff_roles == []
        assert not doc.unreadable
        assert not doc.repaired_encoding
        assert doc.skipped == []  # every item-like line is a gate
        open_claim = next(c for c in doc.claims if c.total is None)
        assert (open_claim.text, open_claim.claimed, open_claim.actual, open_claim.status) == (
            "18 gates open",
            18,
            18,
            "open",
        )

    def test_windows_line_endings_give_the_same_result(self):
        text = (EXAMPLES / "launch-gates.md").read_text(encoding="utf-8")
        crlf = parse(text.replace("\n", "\r\n"))
        assert [(i.code, i.status, i.category_name, i.notes) for i in crlf.items] == [
            (i.code, i.status, i.category_name, i.notes) for i in self.doc.items
        ]
        assert not crlf.discrepancies
        assert all("\r" not in item.line for item in crlf.items)


class TestImplementationStatus:
    """implementation-status.md has no gate table, checkbox or mark: its gates are the plain bullets
    under the bold labels **Delivered** (closed) and **Outstanding** (open).

    Counted by hand: Storefront & Checkout 6 delivered + 4 outstanding, Fulfillment & Operations
    3 + 3, Client Experience 3 + 2 = 12 closed, 9 open, 21. Not gates: "Overall Summary" (a summary),
    "Platform & Tooling" and "Automated Test Coverage" (statements with no status), and "Immediate
    Next Actions" (a plan restating the outstanding items).
    """

    doc = property(lambda self: example("implementation-status.md"))

    def test_counts(self):
        assert counts(self.doc) == (12, 0, 9, 0, 21)
        assert category_rows(self.doc) == [
            ("Storefront & Checkout", None, 6, 0, 4),
            ("Fulfillment & Operations", None, 3, 0, 3),
            ("Client Experience", None, 3, 0, 2),
        ]

    def test_document_level_fields(self):
        doc = self.doc
        assert doc.title == "Implementation Status Report"
        assert (doc.score, doc.verdict, doc.target, doc.min_closed) == (None, None, None, None)
        assert doc.claims == [] and doc.unreadable == []  # "54 tests passing" is not a gate count
        assert not doc.repaired_encoding  # correct UTF-8 ("—", "→") is left alone

    def test_bullets_that_are_not_gates_are_listed_with_the_reason(self):
        assert skipped_rows(self.doc) == [
            (6, 16, 11, "Overall Summary", "summary section"),
            (45, 57, 13, "Platform & Tooling", "no status"),
            (60, 62, 3, "Automated Test Coverage", "no status"),
            (65, 67, 3, "Immediate Next Actions", "no status"),
        ]

    def test_long_bullets_become_titles(self):
        first = self.doc.items[0]
        assert first.title.startswith("Product detail page merges canonical API data")
        assert first.status == "closed" and first.line_no == 20
        assert all(len(item.title) <= parser_module.MAX_TITLE for item in self.doc.items)


class TestPhase7:
    """phase7-production-readiness.md: UTF-8 garbled as Mac Roman ("‚úÖ" for ✅), a score line, a
    CONDITIONAL GO verdict, blockers written as sub-headings, a timeline of checkboxes, a sign-off list.

    Counted by hand: What We Audited 4 ✅ lines; What's Working Great 6 + 4 + 4 plain bullets
    (Security, Reliability, Operations) under a heading that says they work; CRITICAL BLOCKERS 3
    sub-headings with no list of their own ("3. Database Backups + Stripe Webhook" is one gate, as the
    document says "3 critical blockers"); Build Status 2 ✅ lines; Launch Timeline 6 + 4 + 3 open
    checkboxes = 20 closed, 16 open, 36. Not gates: the recommended post-V1 improvements ("Not
    Blockers", no status), file lists, quick reference, rationale bullets, the sign-off checkboxes.
    """

    doc = property(lambda self: example("phase7-production-readiness.md"))

    def test_encoding_is_repaired(self):
        assert self.doc.repaired_encoding
        text = " ".join(f"{i.title} {i.notes} {i.line}" for i in self.doc.items)
        assert "‚" not in text and "üî" not in text and "\uf8ff" not in text
        assert "✅" in self.doc.items[0].line

    def test_score_and_verdict(self):
        # "**Status**: ✅ **CONDITIONAL GO** - Launch Approved After 3 Critical Fixes",
        # "## Overall Readiness Score: **82/100** (Good)", "**Recommendation**: 🟡 **CONDITIONAL GO**".
        assert self.doc.score == 82.0
        assert self.doc.verdict == "conditional_go"
        assert self.doc.title == "PHASE 7: PRODUCTION READINESS - QUICK SUMMARY"

    def test_counts(self):
        assert counts(self.doc) == (20, 0, 16, 0, 36)
        assert category_rows(self.doc) == [
            ("What We Audited", None, 4, 0, 0),
            ("Security", "security", 6, 0, 0),
            ("Reliability", None, 4, 0, 0),
            ("Operations", None, 4, 0, 0),
            ("CRITICAL BLOCKERS", None, 0, 0, 3),
            ("Build Status", None, 2, 0, 0),
            ("Launch Timeline", None, 0, 0, 13),
        ]

    def test_blockers_are_critical_gates_with_their_problem_and_test(self):
        blockers = [item for item in self.doc.items if item.category_name == "CRITICAL BLOCKERS"]
        assert [(b.title, b.status, b.severity) for b in blockers] == [
            ("Per-Endpoint Rate Limiting", "open", "critical"),
            ("Monitoring & Alerting", "open", "critical"),
            ("Database Backups + Stripe Webhook", "open", "critical"),
        ]
        assert blockers[0].notes == (
            "Only global rate limiting exists. Auth/payment endpoints vulnerable to abuse. — "
            "Verify: Attempt 6 logins in 15 minutes → Should be blocked"
        )
        assert "Database Backups: No backups = permanent data loss" in blockers[2].notes
        assert "Stripe Webhook: Payments won't update order status" in blockers[2].notes

    def test_bold_lead_splits_title_and_notes(self):
        cors = next(item for item in self.doc.items if item.title == "CORS fixed")
        assert (cors.status, cors.notes, cors.category_key) == (
            "closed",
            "Now whitelists specific domains only",
            "security",
        )
        backend = next(item for item in self.doc.items if item.title == "Backend")
        assert backend.notes == "Compiled successfully (NestJS)"

    def test_signoff_roles(self):
        assert self.doc.signoff_roles == ["Backend Lead", "DevOps Lead", "Product Owner"]
        assert not any(item.title.startswith("Backend Lead") for item in self.doc.items)

    def test_code_blocks_and_plans_are_not_gates(self):
        titles = {item.title for item in self.doc.items}
        assert not any("Throttle" in t or "npm install" in t or "pg_dump" in t for t in titles)
        assert "JWT Refresh Tokens" not in titles  # "Recommended (Not Blockers)"
        assert not self.doc.unreadable and not self.doc.claims  # "(82% ready)" restates the score

    def test_recommended_items_and_other_bullets_are_listed_as_left_out(self):
        # The bullets under the blocker sub-headings ("**Minimum Alerts**: - Error rate > 5%") are the
        # details of those gates, not left out; the sign-off checkboxes are roles.
        assert skipped_rows(self.doc) == [
            (142, 147, 6, "Recommended (Not Blockers) › Post-V1 Improvements", "post-launch"),
            (153, 156, 4, "Files Created in Phase 7", "summary section"),
            (162, 164, 3, "Files Modified in Phase 7", "summary section"),
            (221, 223, 3, "Quick Reference › Critical Contacts", "summary section"),
            (233, 236, 4, "Go/No-Go Decision", "no status"),
        ]
        assert self.doc.skipped[0].line == "- **JWT Refresh Tokens** - Auto-refresh instead of forcing re-login"


class TestPlatformLaunchReadiness:
    """platform-launch-readiness.md: copied from a rendered page, so its headings are plain lines
    ("1. Store Dashboard Features (95% Complete)", "Ready for Launch") and some tables are mangled.

    Counted by hand: Store Dashboard 16 Ready + 2 Stub = 18; Shop/Storefront 14 Ready + 2 Not Started
    = 16; Admin/Platform 10 Ready + Email System 20% (partial) + Payment Verification Missing + Monitoring
    Ready = 13; Slice Schedule row 5 Pending = 1; February 2026 Infrastructure Hardening 9 Running /
    Complete; Validation Status 3 PASSED lines = 53 closed, 1 partial, 6 open, 60. Not read: the six
    "Launch Blockers - RESOLVED" rows and two "Slice Schedule" rows whose status sits in the wrong column,
    and "11 containers" / "Documented", which are not statuses (10 unreadable lines for the preview).
    Not gates: "Post-Launch Features (Slice 5)" (an Action column of to-dos restating the tables above),
    the executive summary, the changelog ("Recent Completions") and the plain checklist / recommendation
    bullets, which lost their checkboxes and carry no status — each listed in ``skipped`` with why.
    Its percentages ("95% complete") are claims about the closed share, checked like its fractions.
    """

    doc = property(lambda self: example("platform-launch-readiness.md"))

    def test_counts(self):
        assert counts(self.doc) == (53, 1, 6, 0, 60)
        assert category_rows(self.doc) == [
            ("Store Dashboard Features", None, 16, 0, 2),
            ("Shop/Storefront Features", None, 14, 0, 2),
            ("Admin/Platform Features", None, 11, 1, 1),
            ("Slice Schedule", None, 0, 0, 1),
            ("February 2026 Infrastructure Hardening", "technical", 9, 0, 0),
            ("Validation Status", None, 3, 0, 0),
        ]

    def test_the_items_win_over_the_summary_claims(self):
        fractions = [c for c in self.doc.discrepancies if not c.percent]
        assert [(c.text, c.scope, c.claimed, c.total, c.actual, c.actual_total) for c in fractions] == [
            ("16/17 features ready", "Store Dashboard", 16, 17, 16, 18),
            ("15/16 features ready", "Shop/Storefront", 15, 16, 14, 16),
        ]

    def test_percentages_are_checked_against_the_closed_share(self):
        # Closed over applicable items, within 5 points: Store Dashboard 16/18 = 88.9%, Admin/Platform
        # 11/13 = 84.6%, the whole document 53/60 = 88.3% — "95%" disagrees with each; Shop/Storefront
        # 14/16 = 87.5% agrees with "90%" (lines 11 and 39).
        percentages = [c for c in self.doc.claims if c.percent]
        assert [
            (c.line_no, c.text, c.scope, c.claimed, c.actual, c.actual_total, c.disagrees) for c in percentages
        ] == [
            (7, "95% Feature Complete", "document", 95, 53, 60, True),
            (10, "95% complete", "Store Dashboard", 95, 16, 18, True),
            (11, "90% complete", "Shop/Storefront", 90, 14, 16, False),
            (12, "95% complete", "Admin/Platform", 95, 11, 13, True),
            (14, "95% Complete", "Store Dashboard Features", 95, 16, 18, True),
            (39, "90% Complete", "Shop/Storefront Features", 90, 14, 16, False),
            (62, "95% Complete", "Admin/Platform Features", 95, 11, 13, True),
        ]
        assert [c.actual_percent for c in percentages] == [88.3, 88.9, 87.5, 84.6, 88.9, 87.5, 84.6]
        assert len(self.doc.discrepancies) == 7

    def test_item_like_lines_that_are_not_gates_are_listed_with_the_reason(self):
        # The "Launch Checklist" bullets lost their checkboxes (lines 164-195), the "Post-Launch Features
        # (Slice 5)" table has an Action column, not a status: listed, not counted.
        assert skipped_rows(self.doc) == [
            (10, 12, 3, "Executive Summary", "summary section"),
            (95, 99, 5, "Post-Launch Features (Slice 5)", "post-launch"),
            (108, 115, 8, "Recent Completions (January 2026) › January 6-8, 2026 - Launch Blockers Resolved",
             "summary section"),
            (118, 123, 6, "Store Settings Overhaul", "no status"),
            (125, 128, 4, "Feature Gating System", "no status"),
            (130, 133, 4, "Customer Account Features", "no status"),
            (135, 138, 4, "VAT/Invoice System", "no status"),
            (140, 142, 3, "Configurable Locale/Currency", "no status"),
            (164, 181, 18, "Core Functionality", "no status"),
            (183, 190, 8, "Infrastructure", "no status"),
            (192, 195, 4, "Pre-Launch Testing", "no status"),
            (198, 202, 5, "Pre-Launch Infrastructure", "no status"),
            (204, 206, 3, "Pre-Launch Infrastructure › Short-term (First Week Post-Launch)", "post-launch"),
            (208, 211, 4, "Pre-Launch Infrastructure › Medium-term (First Month - Slice 5)", "no status"),
            (213, 216, 4, "Post-Launch Features", "post-launch"),
        ]  # fmt: skip
        table = self.doc.skipped[1]
        assert table.line == "| Wishlist | Not Started | No backend exists - low priority |"
        item_lines = {item.line_no for item in self.doc.items} | {u.line_no for u in self.doc.unreadable}
        assert not item_lines & {n for group in self.doc.skipped for n in group.line_nos}

    def test_unreadable_rows_are_reported(self):
        reasons = [(u.line_no, u.reason) for u in self.doc.unreadable]
        assert len(reasons) == 10
        assert [n for n, r in reasons if "columns look shifted" in r] == [85, 86, 87, 88, 89, 90, 103, 104]
        assert (147, "status '11 containers' not recognised") in reasons
        assert (154, "status 'Documented' not recognised") in reasons

    def test_title_verdict_and_statuses(self):
        doc = self.doc
        assert not doc.repaired_encoding
        assert doc.title == "Platform Launch Readiness Analysis"  # after "All checks were successful / 10 KiB"
        assert doc.verdict == "go"  # "Overall Status: 95% Feature Complete - LAUNCH READY"
        email = next(item for item in doc.items if item.title == "Email System")
        assert (email.status, email.notes) == ("partial", "Password reset, tier change notifications")
        wishlist = next(item for item in doc.items if item.title == "Wishlist")
        assert (wishlist.status, wishlist.severity) == ("open", "low")
        notifications = next(item for item in doc.items if item.title == "Notifications")
        assert notifications.notes == "11 endpoints return placeholder responses — Schedule: Slice 5"
        validator = next(item for item in doc.items if item.title == "Security Validator")
        assert (validator.status, validator.notes) == ("closed", "with skips")


class TestProductionReadinessChecklist:
    """production-readiness-checklist.md: numbered sections, "### 1.1 Payment Processing - STUB ONLY"
    sub-sections with a **Status:** line, checkbox lists, tables with and without a status column,
    code blocks, a roadmap and appendix checklists. UTF-8 garbled as Mac Roman.

    Counted by hand (grep confirms 251 "- [ ]" lines, none checked):
    - 251 open checkboxes, every section including the roadmap and the appendices;
    - 85 table rows: the status tables of 2.1 (2 done, 1 partial, 3 missing), 2.3 (3 ✅, 3 ❌),
      4.2 (6 done, 7 missing), 5.2 (5 missing); and the Priority-only tables whose section or label
      says they are missing: 3.2 (7), 6.1 "Missing Features" (7), 7.1 "Missing" (9), 8.2 (10),
      9.2 (12), 10.2 (10) — all open;
    - 26 "- ✅" bullets (6.1, 7.1, 7.2, 8.1, 10.1) and 17 plain bullets under "Status: ✅ IMPLEMENTED"
      (9.1, 14 pages) or "Current Features:" (4.4, 3) — closed;
    - 1 sub-section with a status and nothing else: "11.3 Third-party Integrations" (🔴 MINIMAL).
    = 54 closed, 1 partial, 325 open, 380. Not gates: "Recommended Payment Gateways" (no status),
    "Recommended Integrations" (no status), "Quick Reference: Service Status" (restates the sections),
    "Current Segments" (not features), the document history, code blocks.
    Items sit in their numbered "##" section; a "###" that names a built-in category wins
    ("10.3 Monitoring & Alerting" → observability, "10.4 Backup & Recovery" → recovery).
    """

    doc = property(lambda self: example("production-readiness-checklist.md"))

    def test_counts(self):
        assert counts(self.doc) == (54, 1, 325, 0, 380)
        assert category_rows(self.doc) == [
            ("Critical Issues", None, 0, 0, 17),
            ("Security Improvements", "security", 5, 1, 33),
            ("Payment System", None, 0, 0, 22),
            ("Order Management", None, 9, 0, 34),
            ("Inventory Management", None, 0, 0, 30),
            ("Customer Management", None, 5, 0, 20),
            ("Notification System", None, 7, 0, 31),
            ("Reporting & Analytics", None, 8, 0, 23),
            ("Frontend Admin", None, 14, 0, 22),
            ("Infrastructure & DevOps", "technical", 6, 0, 10),
            ("Monitoring & Alerting", "observability", 0, 0, 7),
            ("Backup & Recovery", "recovery", 0, 0, 8),
            ("API & Integration", None, 0, 0, 12),
            ("Implementation Roadmap", None, 0, 0, 28),
            ("Environment Checklist", None, 0, 0, 10),
            ("Security Checklist", "security", 0, 0, 8),
            ("Testing Checklist", None, 0, 0, 10),
        ]

    def test_implementation_priority_sets_severity(self):
        critical_issues = [item for item in self.doc.items if item.category_name == "Critical Issues"]
        # 1.1 and 1.2 say IMMEDIATE (→ blocker), 1.3 says BEFORE LAUNCH (→ critical).
        assert [item.severity for item in critical_issues] == ["blocker"] * 12 + ["critical"] * 5
        assert critical_issues[0].title == "Real payment gateway integration"

    def test_priority_column_and_heading_severity(self):
        items = {(item.category_name, item.title): item for item in self.doc.items}
        assert items["Payment System", "Multiple payment methods"].severity == "high"
        assert items["Payment System", "Gift cards"].severity == "low"
        assert items["Implementation Roadmap", "SSL/TLS enforcement"].severity == "critical"  # Phase 1: Critical
        assert items["Implementation Roadmap", "Brute force protection"].severity == "high"  # Phase 2: High Priority
        assert items["Security Improvements", "Session management"].status == "partial"
        assert items["Security Improvements", "Rate limiting"].status == "closed"  # "✅ Global"

    def test_heading_gate_code_and_status(self):
        gate = next(item for item in self.doc.items if item.title == "Third-party Integrations")
        assert (gate.code, gate.status, gate.category_name, gate.line_no) == ("11.3", "open", "API & Integration", 856)

    def test_non_gates_are_skipped(self):
        titles = {item.title for item in self.doc.items}
        assert not titles & {"Stripe", "Billplz", "PayPal", "auth", "catalog", "payment", "1.0"}
        assert not titles & {"Stripe/Billplz", "Google Analytics", "new, active, loyal, at_risk"}
        assert not any("func " in t or "add_header" in t for t in titles)
        assert self.doc.repaired_encoding and not self.doc.unreadable and not self.doc.claims
        assert (self.doc.score, self.doc.verdict) == (None, None)

    def test_item_like_lines_that_are_not_gates_are_listed_with_the_reason(self):
        # The "Quick Reference: Service Status" rows (🟡 Partial, 🔴 Critical…) restate the sections.
        assert skipped_rows(self.doc) == [
            (13, 24, 12, "Table of Contents", "summary section"),
            (54, 58, 5, "1. Critical Issues › 1.1 Payment Processing - STUB ONLY", "no status"),  # gateways
            (98, 99, 2, "1. Critical Issues › 1.3 2FA/MFA for Admin Users", "no status"),  # libraries
            (532, 532, 1, "6. Customer Management › 6.3 Customer Segmentation", "no status"),
            (924, 932, 9, "Quick Reference: Service Status", "summary table"),
        ]
        assert self.doc.skipped[-1].line == "| auth | 🟡 Partial | 2FA, brute force protection |"


# --- Tables ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "table",
    [
        "| # | Gate | Status | Notes | Priority |\n|---|---|---|---|---|\n| T1 | Health check green | Closed | All good | High |",
        "| Status | Notes | Gate | Priority | ID |\n|:-:|--|--|--|--|\n| Closed | All good | Health check green | High | T1 |",
        "| Item | Done | Details | Severity | Ref |\n| --- | --- | --- | --- | --- |\n"
        "| Health check green | ✅ | All good | HIGH | T1 |",
        "Component | State | Gap | Impact | Code\n---|---|---|---|---\nHealth check green | Complete | All good | high | T1",
        "| Feature | Result | Description | Prio | No |\n|---|---|---|---|---|\n| Health check green | PASS | All good | P2 | T1 |",
    ],
)
def test_gate_table_columns_in_any_order_and_under_many_names(table):
    item = only_item("## Technical Gates\n" + table + "\n")
    assert (item.code, item.title, item.status, item.notes, item.severity) == (
        "T1",
        "Health check green",
        "closed",
        "All good",
        "high",
    )
    assert (item.category_key, item.category_name) == ("technical", "Technical")


def test_status_column_found_by_its_values_when_the_header_is_unknown():
    doc = parse("| Requirement | Where we are |\n|---|---|\n| Backups | Done |\n| Alerts | Not started |\n")
    assert [(i.title, i.status) for i in doc.items] == [("Backups", "closed"), ("Alerts", "open")]


def test_blank_cells_and_extra_columns():
    doc = parse(
        "## Security\n| ID | Gate | Status | Notes | Owner |\n|---|---|---|---|---|\n"
        "| | Pen test | Open | | |\n| S2 | Secrets in vault | Partial | | Ana |\n| S3 | Audit | | | |\n"
    )
    assert [(i.code, i.title, i.status, i.notes) for i in doc.items] == [
        (None, "Pen test", "open", ""),
        ("S2", "Secrets in vault", "partial", "Owner: Ana"),
    ]
    assert [(u.line_no, u.reason) for u in doc.unreadable] == [(6, "the 'Status' cell is blank")]


def test_table_rows_after_a_blank_line_continue_the_table():
    doc = parse("| Gate | Status |\n|---|---|\n| A | Open |\n\n| B | Done |\n")
    assert [(i.title, i.status) for i in doc.items] == [("A", "open"), ("B", "closed")]


def test_category_column_and_group_rows():
    doc = parse(
        "## Gates\n| Code | Gate | Category | Status |\n|---|---|---|---|\n"
        "| T1 | CI green | Technical | Closed |\n| P1 | Refunds | Payments | Open |\n"
        "\n| Gate | Status |\n|---|---|\n| **Security** | |\n| Pen test | Open |\n"
    )
    assert [(i.code, i.category_key, i.category_name) for i in doc.items] == [
        ("T1", "technical", "Technical"),
        ("P1", None, "Payments"),
        (None, "security", "Security"),
    ]


def test_priority_table_takes_its_status_from_the_label_or_section():
    doc = parse(
        "## Payments\n### Features\n**Status:** 🔴 MISSING\n\n| Feature | Priority |\n|---|---|\n| Refunds | HIGH |\n"
        "\n**Missing Features:**\n| Feature | Priority | Description |\n|---|---|---|\n| Loyalty | LOW | Points |\n"
        "\n**Recommended Gateways:**\n| Gateway | Region | Features |\n|---|---|---|\n| Stripe | Global | Cards |\n"
    )
    assert [(i.title, i.status, i.severity, i.notes) for i in doc.items] == [
        ("Refunds", "open", "high", ""),
        ("Loyalty", "open", "low", "Points"),
    ]


def test_tables_that_are_not_gate_tables():
    doc = parse(
        "| Gateway | Region | Features |\n|---|---|---|\n| Stripe | Global | Cards, wallets |\n\n"
        "| Version | Date | Changes |\n|---|---|---|\n| 1.0 | 2024-12-14 | Initial |\n\n"
        "| Symbol | Meaning |\n|---|---|\n| ✅ | Done |\n| ❌ | Missing |\n"
    )
    assert doc.items == [] and doc.unreadable == []


def test_summary_table_rows_are_claims_not_gates():
    doc = parse(
        "## Security\n| # | Gate | Status |\n|---|---|---|\n| S1 | A | Closed |\n| S2 | B | Open |\n"
        "## Summary\n| Category | Done | Open | Total |\n|---|---|---|---|\n| Security | 2 | 0 | 2 |\n"
        "| **Total** | **1** | **1** | **2** |\n"
    )
    assert len(doc.items) == 2
    assert [(c.scope, c.status, c.claimed, c.total, c.actual, c.actual_total) for c in doc.claims] == [
        ("Security", "closed", 2, 2, 1, 2),
        ("Security", "open", 0, 2, 1, 2),
        ("document", "closed", 1, 2, 1, 2),
        ("document", "open", 1, 2, 1, 2),
    ]
    assert [c.disagrees for c in doc.claims] == [True, True, False, False]
    assert doc.discrepancies == doc.claims[:2]


def test_flat_total_line_after_a_flattened_summary_header():
    doc = parse("- [x] a\n- [x] b\n- [ ] c\n\nCategory Closed Partial Open Total\n**TOTAL** 2 0 1 3\n")
    assert {(c.status, c.claimed, c.total, c.actual) for c in doc.claims} == {
        ("closed", 2, 3, 2),
        ("partial", 0, 3, 0),
        ("open", 1, 3, 1),
    }
    assert not doc.discrepancies
    assert len(parse("- [x] a\n\n**TOTAL** 11 4 18 33\n").discrepancies) == 3


# --- Lists ----------------------------------------------------------------------------


def test_checkboxes_nested_and_numbered():
    doc = parse(
        "## Launch\n- [ ] Deploy\n  - [x] Build image\n    * [X] Push to registry\n"
        "1. [ ] Smoke test\n2) [x] Announce\n+ [~] Docs\n- [ ] Write runbook\n  - detail about the runbook\n"
    )
    assert [(i.title, i.status) for i in doc.items] == [
        ("Deploy", "open"),
        ("Build image", "closed"),
        ("Push to registry", "closed"),
        ("Smoke test", "open"),
        ("Announce", "closed"),
        ("Docs", "partial"),
        ("Write runbook", "open"),
    ]
    assert doc.items[-1].notes == "detail about the runbook"


def test_checkbox_words_for_waived_and_not_applicable():
    doc = parse("- [ ] SOC 2 report (waived)\n- [ ] Mobile app - N/A\n- [ ] ~~Fax support~~\n")
    assert [i.status for i in doc.items] == ["waived", "not_applicable", "not_applicable"]


def test_emoji_marked_lines_and_bullets():
    doc = parse(
        "## Status\n✅ Backups configured\n- ❌ Pen test\n* ⚠️ Load test\n1. 🟡 Status page\n- 🔴 Rollback drill\n"
        "- 🟠 Alerts\n✔ Runbook\n- Feature flag service ✅\n- Error budget — ❌ Missing\n- ✅ Done: Sentry wired\n"
    )
    assert [(i.title, i.status) for i in doc.items] == [
        ("Backups configured", "closed"),
        ("Pen test", "open"),
        ("Load test", "partial"),
        ("Status page", "partial"),
        ("Rollback drill", "open"),
        ("Alerts", "partial"),
        ("Runbook", "closed"),
        ("Feature flag service", "closed"),
        ("Error budget", "open"),
        ("Sentry wired", "closed"),
    ]


def test_mark_in_the_middle_of_a_line_is_not_a_gate():
    assert parse("1. `backend/src/main.ts` - ✅ **Fixed CORS** (whitelist)\n").items == []


def test_plain_bullets_need_a_label_or_heading_that_names_their_status():
    doc = parse(
        "## Checkout\n**Delivered**\n- Cart\n- Payments\n\n**Outstanding**\n- Refunds\n\n**Notes:**\n- just a note\n"
        "## What's Working\n- Logging\n## Ideas\n- Dark mode\n"
    )
    assert [(i.title, i.status, i.category_name) for i in doc.items] == [
        ("Cart", "closed", "Checkout"),
        ("Payments", "closed", "Checkout"),
        ("Refunds", "open", "Checkout"),
        ("Logging", "closed", "What's Working"),
    ]


def test_name_status_lines():
    doc = parse(
        "Architecture Validator: PASSED\n- Backups: ✅ Yes\n- Pen test: FAIL (two highs)\n- Result: 54 tests\n"
        "- Breaking changes: No\n- Blockers: None\n"
    )
    assert [(i.title, i.status, i.notes) for i in doc.items] == [
        ("Architecture Validator", "closed", ""),
        ("Backups", "closed", ""),
        ("Pen test", "open", "two highs"),
    ]


def test_subheading_under_a_blockers_heading_is_a_gate():
    doc = parse(
        "# Plan\n## 🚨 Critical Blockers\n### 1. Rate limiting ⏱️ **30 minutes**\n**Problem**: abuse\n"
        "**Fix Required**:\n```ts\n@Throttle()\n```\n**Test**: 6 logins blocked\n### 2.4 Backups\n**Problem**: none\n"
        "## Other\n### Something\nText.\n"
    )
    assert [(i.code, i.title, i.status, i.severity, i.notes) for i in doc.items] == [
        (None, "Rate limiting", "open", "critical", "abuse — Verify: 6 logins blocked"),
        ("2.4", "Backups", "open", "critical", "none"),
    ]


def test_section_status_line_and_priority_line():
    doc = parse(
        "## 1. Critical Issues\n### 1.1 Payments - STUB ONLY\n**Status:** 🔴 CRITICAL - NOT FUNCTIONAL\n"
        "- [ ] Gateway\n**Implementation Priority:** IMMEDIATE\n### 1.2 2FA\n**Status:** 🔴 CRITICAL\n- [ ] TOTP\n"
        "**Implementation Priority:** BEFORE LAUNCH\n### 1.3 Audit\n**Status:** 🟡 PARTIAL\n### 1.4 Pages\n"
        "**Status:** ✅ IMPLEMENTED\n- Dashboard\n"
    )
    assert [(i.code, i.title, i.status, i.severity, i.category_name) for i in doc.items] == [
        (None, "Gateway", "open", "blocker", "Critical Issues"),
        (None, "TOTP", "open", "critical", "Critical Issues"),
        ("1.3", "Audit", "partial", "critical", "Critical Issues"),
        (None, "Dashboard", "closed", "critical", "Critical Issues"),
    ]


# --- Words ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "status"),
    [
        *[(w, "closed") for w in ["Closed", "Done", "Ready", "Complete", "Completed", "PASS", "Yes", "✅", "✔", "[x]"]],
        *[(w, "closed") for w in ["✔️ Shipped", "🟢 Good", "100%", "Resolved", "Live"]],
        *[(w, "partial") for w in ["Partial", "In progress", "In-Progress", "WIP", "⚠️", "🟡", "🟠", "40%", "Basic"]],
        *[(w, "open") for w in ["Open", "Missing", "Not started", "Stub", "TODO", "FAIL", "No", "❌", "🔴", "[ ]"]],
        *[(w, "open") for w in ["Stub endpoints", "0%", "Pending", "Not ready", "Blocked", "🔴 Critical"]],
        ("Waived", "waived"),
        ("N/A", "not_applicable"),
        ("Not applicable", "not_applicable"),
    ],
)
def test_status_spellings(word, status):
    item = only_item(f"| Gate | Status |\n|---|---|\n| Thing | {word} |\n")
    assert item.status == status


@pytest.mark.parametrize(
    ("word", "severity"),
    [
        ("CRITICAL", "critical"),
        ("HIGH", "high"),
        ("Medium", "medium"),
        ("low", "low"),
        ("IMMEDIATE", "blocker"),  # must happen before anything else: a blocker
        ("BEFORE LAUNCH", "critical"),  # required for launch: critical (CONDITIONAL GO while open)
        ("blocker", "blocker"),
        ("🔴 High", "high"),
        ("P0", "blocker"),
        ("-", None),
        ("", None),
    ],
)
def test_severity_words(word, severity):
    item = only_item(f"| Gate | Status | Priority |\n|---|---|---|\n| Thing | Open | {word} |\n")
    assert item.severity == severity


@pytest.mark.parametrize(
    ("line", "code", "title"),
    [
        ("- [ ] T1: Health check", "T1", "Health check"),
        ("- [ ] **S7** Security scan", "S7", "Security scan"),
        ("- [ ] GATE-03 - Rollback drill", "GATE-03", "Rollback drill"),
        ("- [ ] 1.2 Refund processing", "1.2", "Refund processing"),
        ("- [ ] 2FA for admins", None, "2FA for admins"),
        ("- [ ] P1: Fix login", None, "Fix login"),  # a priority (P1 → critical), not a code
        ("- [ ] S3 bucket policy", None, "S3 bucket policy"),
    ],
)
def test_codes(line, code, title):
    item = only_item(line)
    assert (item.code, item.title) == (code, title)


@pytest.mark.parametrize(
    ("heading", "key", "name"),
    [
        ("Technical Gates", "technical", "Technical"),
        ("Infrastructure", "technical", "Infrastructure"),
        ("10. Infrastructure & DevOps", "technical", "Infrastructure & DevOps"),
        ("Performance", "technical", "Performance"),
        ("Security Gates", "security", "Security"),
        ("2. Security Improvements", "security", "Security Improvements"),
        ("Observability", "observability", "Observability"),
        ("Monitoring", "observability", "Monitoring"),
        ("Logging", "observability", "Logging"),
        ("GTM / Funnel Gates", "gtm", "GTM / Funnel"),
        ("Go-to-market", "gtm", "Go-to-market"),
        ("Marketing", "gtm", "Marketing"),
        ("Support / Incident Gates", "support", "Support / Incident"),
        ("Incident response", "support", "Incident response"),
        ("Recovery / Rollback Gates", "recovery", "Recovery / Rollback"),
        ("Backup", "recovery", "Backup"),
        ("Disaster recovery", "recovery", "Disaster recovery"),
        ("Governance Gates", "governance", "Governance"),
        ("Compliance", "governance", "Compliance"),
        ("Legal", "governance", "Legal"),
        ("3. Payment System", None, "Payment System"),
        ("1.2 Store Dashboard Features (95% Complete)", None, "Store Dashboard Features"),
        ("✅ Payment System 🚀", None, "Payment System"),
    ],
)
def test_heading_categories(heading, key, name):
    item = only_item(f"# Doc\n## {heading}\n- [ ] thing\n")
    assert (item.category_key, item.category_name) == (key, name)


def test_items_without_a_heading_are_general():
    item = only_item("- [x] thing\n")
    assert (item.category_key, item.category_name) == (None, "General")


# --- Document-level lines -------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "score", "verdict"),
    [
        ("82/100 — CONDITIONAL GO", 82.0, "conditional_go"),
        ("Score: 82/100", 82.0, None),
        ("Score: 77", 77.0, None),
        ("**Readiness score:** 82/100 — NO-GO", 82.0, "no_go"),
        ("**Readiness score:** 64%", 64.0, None),
        ("## Overall Readiness Score: **91/100** (Good)", 91.0, None),
        ("**Verdict:** NO-GO", None, "no_go"),
        ("**Verdict:** Not ready for soft launch.", None, "no_go"),
        ("**Recommendation**: 🟡 **CONDITIONAL GO**", None, "conditional_go"),
        ("Last Updated: 2026-02-15 Overall Status: 95% Feature Complete - LAUNCH READY", None, "go"),
        ("**Decision:** GO", None, "go"),
        ("## Go/No-Go Decision", None, None),
        ("We go to market in May; 22/80/443 open", None, None),
    ],
)
def test_score_and_verdict_lines(line, score, verdict):
    doc = parse(f"# Doc\n{line}\n")
    assert (doc.score, doc.verdict) == (score, verdict)


def test_target_line():
    doc = parse("**Target:** at least 20 of 25 gates closed before GA\n- [x] a\n")
    assert (doc.target, doc.min_closed) == ("at least 20 of 25 gates closed before GA", 20)
    assert doc.claims == []  # a target is a goal, not a claim


def test_signoff_sections_labels_and_tables():
    doc = parse(
        "## Sign-Off Required\n- [ ] Backend Lead - Blockers acknowledged\n- [x] **Product Owner**: ready\n"
        "## Approvals\n**Sign-off:**\n- CTO (final)\n\n## Signatures\n| Role | Name | Signed |\n|---|---|---|\n"
        "| Security Officer | Ana | ✅ |\n\nSign-off: Legal, Finance and Ops\n"
    )
    assert doc.signoff_roles == ["Backend Lead", "Product Owner", "CTO", "Security Officer", "Legal", "Finance", "Ops"]
    assert doc.items == []


def test_fraction_claims_use_the_scope_before_the_colon():
    doc = parse(
        "## Executive Summary\n- Payments: 3/3 features ready\n- Web: 1 of 2 items done\n\n"
        "## Payments\n| Feature | Status |\n|---|---|\n| Cards | Ready |\n| Refunds | Stub |\n"
        "## Web\n- [x] Login\n- [ ] Search\n"
    )
    assert [(c.scope, c.claimed, c.total, c.actual, c.actual_total, c.disagrees) for c in doc.claims] == [
        ("Payments", 3, 3, 1, 2, True),
        ("Web", 1, 2, 1, 2, False),
    ]


def test_claim_disagrees():
    claim = Claim(1, "", "", claimed=16, total=17, actual=16, actual_total=18, scope="document")
    assert claim.disagrees
    assert not Claim(1, "", "", claimed=2, total=None, actual=2, actual_total=None, scope="x").disagrees


def test_preamble_of_a_copied_file_is_ignored():
    doc = parse(
        "org/repo/docs/LAUNCH.md\nfeat: ship it\n- [x] unrelated commit checklist\n\n2026-04-23 10:32:53 +00:00\n\n"
        "93 lines\n3.4 KiB\nMarkdown\n\n# Launch\n- [ ] real gate\n"
    )
    assert doc.title == "Launch"
    assert [i.title for i in doc.items] == ["real gate"]
    assert doc.items[0].line_no == 12


def test_legends_code_blocks_and_comments_are_skipped():
    doc = parse(
        "# Doc\nLegend: ✅ done ⚠️ partial ❌ missing\n✅ = done, ❌ = missing\n- ✅ Done | ⚠️ Partial | ❌ Missing\n"
        "```\n- [ ] inside a fence\n| Gate | Status |\n|---|---|\n| A | Open |\n```\n~~~md\n✅ also fenced\n~~~\n"
        "<!-- - [ ] commented out\n-->\n- [ ] real\n"
    )
    assert [i.title for i in doc.items] == ["real"]


def test_summary_sections_are_skipped_unless_they_hold_every_gate():
    doc = parse("# Doc\n## Summary\n- [x] restated\n## Work\n- [ ] real\n")
    assert [i.title for i in doc.items] == ["real"]
    doc = parse("# Launch summary\n## Overview\n- [x] Backups\n- [ ] Pen test\n")
    assert [(i.title, i.status, i.category_name) for i in doc.items] == [
        ("Backups", "closed", "Overview"),
        ("Pen test", "open", "Overview"),
    ]


def test_unreadable_lines_are_reported():
    doc = parse(
        "| Gate | Status |\n|---|---|\n| A | Maybe |\n| B | |\n| | Open |\n| ✅ Fixed | Full flow with email |\n"
        "\n- [ ]\n- [?] unclear\n- ✅\n\n## Other\n| orphan row | Done |\n"
    )
    assert [(u.line_no, u.reason) for u in doc.unreadable] == [
        (3, "status 'Maybe' not recognised"),
        (4, "the 'Status' cell is blank"),
        (5, "no gate title"),
        (
            6,
            "status '✅ Fixed' is in the 'Gate' column and the 'Status' column says 'Full flow with email': "
            "the columns look shifted",
        ),
        (8, "no gate title"),
        (9, "unknown checkbox mark [?]"),
        (10, "status mark with no gate title"),
        (13, "table row without a header row"),
    ]
    assert doc.items == []


def test_setext_headings():
    doc = parse("Launch\n======\n\nSecurity\n--------\n- [ ] Pen test\n\n**Target:** 3/4\n---\n- [x] CI\n")
    assert doc.title == "Launch"
    assert [(i.title, i.category_key) for i in doc.items] == [("Pen test", "security"), ("CI", "security")]


@pytest.mark.parametrize(
    "text",
    [
        "# Doc\nSecurity Improvements\n---\n- [ ] Pen test\n",  # right after an ATX heading
        "Doc\n===\nSecurity Improvements\n---\n- [ ] Pen test\n",  # right after a setext title
        "# Doc\n\nIntro\n---\nSecurity Improvements\n---\n- [ ] Pen test\n",  # right after another one
    ],
)
def test_a_setext_heading_right_after_another_heading(text):
    item = only_item(text)
    assert (item.category_key, item.category_name) == ("security", "Security Improvements")


def test_a_dashed_line_under_a_paragraph_line_is_still_a_rule():
    # "Owner: Ana" continues the paragraph above: "---" under it is a rule, not a heading.
    item = only_item("# Doc\n## Security\nSome prose\nOwner: Ana\n---\n- [ ] Pen test\n")
    assert item.category_name == "Security"


# --- Encoding -------------------------------------------------------------------------


def test_mojibake_repair_on_a_snippet():
    garbled = "**Status:** \u201a\u00fa\u00d6 Done \u2014 \uf8ff\u00fc\u00ee\u00a5 Open \u201a\u00f6\u2020\u00d4\u220f\u00e8 Partial \u201a\u00dc\u00ed next"
    fixed, repaired = repair_mojibake(garbled)
    assert repaired
    assert fixed == "**Status:** ✅ Done \u2014 🔴 Open ⚠️ Partial → next"


def test_mojibake_repair_of_a_document():
    garbled = "## Gates\n\u201a\u00fa\u00d6 Backups\n- \uf8ff\u00fc\u00ee\u00a5 Pen test\nCaf\u221a\u00a9 opening\n"
    doc = parse(garbled)
    assert doc.repaired_encoding
    assert [(i.title, i.status) for i in doc.items] == [("Backups", "closed"), ("Pen test", "open")]


def test_two_byte_sequences_are_repaired_only_beside_unambiguous_ones():
    # "√©" is "é" misread as Mac Roman, or correct text: only a garbled "‚úÖ" beside it decides.
    assert repair_mojibake("Caf\u221a\u00a9 \u201a\u00fa\u00d6 open") == ("Café ✅ open", True)
    assert repair_mojibake("Caf\u221a\u00a9 open") == ("Caf\u221a\u00a9 open", False)
    assert repair_mojibake("\u00e2\u0153\u2026 caf\u00c3\u00a9") == ("✅ café", True)  # Windows-1252 alike


def test_windows_1252_mojibake_is_repaired_too():
    assert repair_mojibake("\u00e2\u0153\u2026 done") == ("✅ done", True)


@pytest.mark.parametrize(
    "text",
    [
        "Café, naïve, façade, Zürich, São Paulo, Ærøskøbing",
        "✅ done — “quoted” ‘single’ … • bullet → arrow ⚠️ 🔴 🟡",
        "Ünïcödé: Привет, 日本語, ελληνικά",
        "–é “élan” ±5 °C ©2024 ™ ¬",
        "≈±5ms",
        "≈µs",
        "√©",
        "- [ ] p99 latency ≈±5ms (jitter ≈µs), √© and ≈ all correct — ✅ done",
        "plain ASCII only",
        "",
    ],
)
def test_correct_text_is_not_touched(text):
    assert repair_mojibake(text) == (text, False)
    assert not parse(text).repaired_encoding


@pytest.mark.parametrize(
    ("text", "encoding"),
    [("# Sécurité\n- [x] Café ouvert – “prêt”\n", "cp1252"), ("# Sécurité\n- [x] Café ouvert – “prêt”\n", "mac_roman")],
)
def test_bytes_that_are_not_utf8_are_decoded_with_the_codec_they_were_saved_in(text, encoding):
    doc = parse_markdown(text.encode(encoding))
    assert doc.encoding == encoding
    assert doc.title == "Sécurité"
    assert [item.title for item in doc.items] == ["Café ouvert – “prêt”"]
    assert "\ufffd" not in doc.items[0].line


def test_utf8_bytes_and_a_byte_order_mark():
    doc = parse_markdown("\ufeff# Café\n- [x] ✅ Prêt\n".encode())
    assert (doc.encoding, doc.title, doc.items[0].title) == ("utf-8", "Café", "Prêt")
    assert parse_markdown("# Café", encoding="cp1252").encoding == "cp1252"  # as the caller decoded it
    assert parse_markdown("# Café").encoding == "utf-8"


# --- Priority words inside an item ----------------------------------------------------


@pytest.mark.parametrize(
    ("line", "title", "severity"),
    [
        ("- [ ] HIGH: add 2FA", "add 2FA", "high"),
        ("- [ ] **HIGH**: add 2FA", "add 2FA", "high"),
        ("- [ ] **HIGH:** add 2FA", "add 2FA", "high"),
        ("- [ ] Set up backups (BEFORE LAUNCH)", "Set up backups", "critical"),
        ("- [ ] Blocker: backups", "backups", "blocker"),
        ("- [ ] [P1] Rotate keys", "Rotate keys", "critical"),
        ("- [ ] Rate limiting - Critical", "Rate limiting", "critical"),
        ("- [ ] Load test (high priority)", "Load test", "high"),
        ("- [ ] Gift cards (priority: low)", "Gift cards", "low"),
        ("- [ ] IMMEDIATE - rotate the leaked key", "rotate the leaked key", "blocker"),
        ("- ❌ MEDIUM: Status page", "Status page", "medium"),
        ("- [ ] T4: HIGH: DLQ wired", "DLQ wired", "high"),
        # Not priorities: the word is part of the title.
        ("- [ ] High availability setup", "High availability setup", None),
        ("- [ ] Low stock alerts", "Low stock alerts", None),
        ("- [ ] Critical path review", "Critical path review", None),
        ("- [ ] Medium-term plan", "Medium-term plan", None),
    ],
)
def test_priority_words_in_an_item_set_its_severity_and_leave_its_title(line, title, severity):
    item = only_item(f"# Doc\n## Security\n{line}\n")
    assert (item.title, item.severity) == (title, severity)


def test_a_priority_column_wins_over_a_priority_in_the_title():
    item = only_item("| Gate | Status | Priority |\n|---|---|---|\n| HIGH: Pen test | Open | Low |\n")
    assert (item.title, item.severity) == ("Pen test", "low")


def test_a_priority_in_the_item_wins_over_its_section():
    doc = parse("# Doc\n## Phase 1: Critical\n- [ ] LOW: polish the footer\n- [ ] SSL everywhere\n")
    assert [(i.title, i.severity) for i in doc.items] == [("polish the footer", "low"), ("SSL everywhere", "critical")]


# --- Percentages ----------------------------------------------------------------------

PERCENT_DOC = """# Doc
- Security: {claim}
## Security
- [x] A
- [x] B
- [x] C
- [ ] D
- [x] E waived
"""  # 3 of 4 applicable closed (the waived one leaves the count): 75%


@pytest.mark.parametrize(
    ("claim", "disagrees"),
    [
        ("75% complete", False),
        ("80% complete", False),  # rounded to the nearest 10: within 5 points
        ("70% done", False),
        ("81% complete", True),
        ("95% complete", True),
        ("60% implemented", True),
    ],
)
def test_a_percentage_is_checked_against_the_closed_share_of_applicable_items(claim, disagrees):
    doc = parse(PERCENT_DOC.format(claim=claim))
    assert [i.status for i in doc.items].count("waived") == 1
    (found,) = doc.claims
    assert (found.percent, found.scope, found.actual, found.actual_total, found.actual_percent) == (
        True,
        "Security",
        3,
        4,
        75.0,
    )
    assert found.disagrees is disagrees
    assert (found in doc.discrepancies) is disagrees


@pytest.mark.parametrize(
    "line",
    ["- Security: 82% ready", "Readiness score: 82% complete", "Test coverage: 85% complete", "Uptime: 99.9%"],
)
def test_percentages_that_are_not_completion_claims(line):
    assert parse(PERCENT_DOC.replace("- Security: {claim}", line)).claims == []


def test_a_percentage_in_a_heading_is_about_its_section_and_overall_about_the_document():
    doc = parse(
        "# Doc\nOverall Status: 50% Feature Complete\n## Security (100% Complete)\n- [x] A\n- [x] B\n"
        "## Support\n- [ ] C\n- [ ] D\n"
    )
    assert [(c.scope, c.claimed, c.actual, c.actual_total, c.disagrees) for c in doc.claims] == [
        ("document", 50, 2, 4, False),
        ("Security", 100, 2, 2, False),
    ]


# --- Item-like lines that are not gates: listed, with the reason ----------------------------


def test_lines_left_out_are_listed_with_their_reason():
    doc = parse(
        "# Doc\n"
        "## Security\n- [x] Pen test\n- Hardening notes\n- More notes\n\n"  # 4-5: plain bullets, no status
        "| Gateway | Feature | Notes |\n|---|---|---|\n| Stripe | Cards | global |\n\n"  # 9: no status column
        "## Recommended (Not Blockers)\n- JWT refresh tokens\n\n"  # 12: after the launch
        "## Quick Reference\n| Service | Status |\n|---|---|\n| auth | 🟡 Partial |\n- [ ] Pen test\n"  # 17-18
    )
    assert [i.line_no for i in doc.items] == [3]
    assert [(g.line_nos, g.section, g.reason.split(":")[0]) for g in doc.skipped] == [
        ((4, 5), "Security", "no status"),
        ((9,), "Security", "no status"),
        ((12,), "Recommended (Not Blockers)", "post-launch"),
        ((17,), "Quick Reference", "summary table"),
        ((18,), "Quick Reference", "summary section"),
    ]
    assert doc.skipped[1].reason == "no status: a table row, and the table has no status column"
    assert doc.skipped[0].line == "- Hardening notes"


def test_details_of_a_gate_are_not_listed_as_left_out():
    doc = parse(
        "# Doc\n## 🚨 CRITICAL BLOCKERS\n### 1. Rate limiting\n**Minimum Alerts**:\n- Error rate > 5%\n\n"
        "## Security\n- [x] Pen test\n  - booked with Acme\n"
    )
    assert [(i.title, i.notes) for i in doc.items] == [("Rate limiting", ""), ("Pen test", "booked with Acme")]
    assert doc.skipped == []


def test_legends_signoffs_and_code_are_not_listed_as_left_out():
    doc = parse(
        "# Doc\n## Security\n- [ ] Pen test\n\n**Legend:**\n- ✅ Done\n- ❌ Missing\n\n"
        "```\n- not a list\n```\n## Sign-off\n- Product Owner\n"
    )
    assert doc.skipped == [] and doc.signoff_roles == ["Product Owner"]


# --- Round trip (the exporter writes Markdown this parser reads back) ------------------

BUILT_IN_NAMES = {
    "technical": "Technical",
    "security": "Security",
    "observability": "Observability",
    "gtm": "GTM",
    "support": "Support",
    "recovery": "Recovery",
    "governance": "Governance",
}
STATUS_LABELS = {"open": "Open", "partial": "Partial", "closed": "Closed", "waived": "Waived", "not_applicable": "N/A"}


def render(items) -> str:
    """The shape an exporter writes: one gate table with every column."""
    lines = ["# Readiness report", "", "## Gates", "", "| Code | Gate | Category | Status | Severity | Notes |"]
    lines.append("|---|---|---|---|---|---|")
    for code, title, name, status, severity, notes in items:
        cells = [code or "", title, name, STATUS_LABELS[status], severity or "", notes]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


_word = st.sampled_from(
    ["Backups", "restore", "drill", "CI", "green", "T4", "GATE", "v2.1", "SLO", "p95", "load", "test"]
)
_title = st.lists(_word, min_size=2, max_size=6).map(" ".join)
_notes = st.lists(st.sampled_from(["needs drill", "a|b", "50%", "ok", "see RUNBOOK.md", "✅ verified"]), max_size=3)
_category = st.one_of(
    st.sampled_from(sorted(BUILT_IN_NAMES.items())),
    st.sampled_from(["Payments", "Store Dashboard", "Customer Experience"]).map(lambda n: (None, n)),
)
_item = st.tuples(
    st.one_of(st.none(), st.sampled_from(["T1", "S7", "GATE-03", "1.2", "OBS-12"])),
    _title,
    _category,
    st.sampled_from(sorted(STATUS_LABELS)),
    st.sampled_from(["blocker", "critical", "high", "medium", "low", None]),
    _notes.map(" — ".join),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_item, min_size=1, max_size=12))
def test_exported_tables_read_back(items):
    rows = [(code, title, name, status, severity, notes) for code, title, (_, name), status, severity, notes in items]
    doc = parse(render(rows))
    assert doc.unreadable == []
    assert [(i.code, i.title, (i.category_key, i.category_name), i.status, i.severity, i.notes) for i in doc.items] == [
        (code, title, category, status, severity, notes) for code, title, category, status, severity, notes in items
    ]


def test_examples_survive_an_export_round_trip():
    for name in sorted(p.name for p in EXAMPLES.glob("*.md")):
        doc = example(name)
        again = parse(render([(i.code, i.title, i.category_name, i.status, i.severity, i.notes) for i in doc.items]))
        assert [(i.code, i.title, i.category_key, i.category_name, i.status, i.severity) for i in again.items] == [
            (i.code, i.title, i.category_key, i.category_name, i.status, i.severity) for i in doc.items
        ]


# --- Robustness -----------------------------------------------------------------------


def assert_well_formed(doc: ParsedDocument, text: str) -> None:
    assert isinstance(doc, ParsedDocument)
    line_count = len(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    for item in doc.items:
        assert item.status in STATUSES
        assert item.severity in SEVERITIES
        assert item.category_key in CATEGORY_KEYS
        assert item.title and item.category_name
        assert len(item.title) <= parser_module.MAX_TITLE
        assert item.code is None or 0 < len(item.code) <= parser_module.MAX_CODE
        assert 1 <= item.line_no <= line_count
    for unreadable in doc.unreadable:
        assert 1 <= unreadable.line_no <= line_count and unreadable.reason
    left_out = [n for group in doc.skipped for n in group.line_nos]
    assert left_out == sorted(set(left_out)) and all(1 <= n <= line_count for n in left_out)
    assert all(group.reason for group in doc.skipped)
    assert not set(left_out) & {item.line_no for item in doc.items}
    assert doc.verdict in {"go", "conditional_go", "no_go", None}
    assert doc.score is None or 0 <= doc.score <= 100
    assert sum(doc.counts_by_status().values()) == len(doc.items)
    assert sum(row["total"] for row in doc.counts_by_category().values()) == len(doc.items)


FRAGMENTS = [
    "# ", "## ", "### 1.2 ", "- ", "* ", "1. ", "  ", "- [ ] ", "- [x] ", "[X] ", "| ", " | ", "|", "|---|---|",
    "Status", "Gate", "Notes", "Priority", "#", "Done", "Open", "N/A", "Waived", "WIP", "✅", "❌", "⚠️", "🟡", "🔴",
    "**", "`", "```", "~~~", "\r", "\r\n", "\n", "\t", ":", "Target: ", "Score: ", "82/100", "16/17 features ready",
    "CONDITIONAL GO", "NO-GO", "Summary", "Sign-off", "TOTAL", "<!--", "-->", "‚úÖ", "üî¥", "Café", "(", ")", "—",
    "---", "===", "T1", "GATE-03", "HIGH", "IMMEDIATE", "Legend:", "=", "\\|", "[", "]", "\u200d", "\ufe0f",
]  # fmt: skip
_mangled = st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=6), max_size=120).map("".join)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mangled)
def test_mangled_markdown_never_raises(text):
    assert_well_formed(parse(text), text)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=400))
def test_arbitrary_text_never_raises(text):
    assert_well_formed(parse(text), text)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from((EXAMPLES / "launch-gates.md").read_text(encoding="utf-8").split("\n")), max_size=60))
def test_shuffled_and_truncated_example_lines_never_raise(lines):
    text = "\n".join(line[: len(line) // 2] if n % 3 == 0 else line for n, line in enumerate(lines))
    assert_well_formed(parse(text), text)


@pytest.mark.parametrize("value", [None, b"- [x] bytes \xe2\x9c\x85\n", 42, "\ufeff- [ ] with BOM"])
def test_odd_inputs(value):
    doc = parse_markdown(value)
    assert isinstance(doc, ParsedDocument)


def test_internal_errors_become_unreadable_lines(monkeypatch):
    monkeypatch.setattr(parser_module, "RAISE_INTERNAL_ERRORS", False)

    checkbox = parser_module._Parser._checkbox

    def broken(self, i, line):
        if "[ ]" in line:
            raise RuntimeError("boom")
        return checkbox(self, i, line)

    monkeypatch.setattr(parser_module._Parser, "_checkbox", broken)
    doc = parse("- [ ] a\n✅ b\n")
    assert [(u.line_no, u.reason) for u in doc.unreadable] == [(1, "could not be read (RuntimeError)")]
    assert [i.title for i in doc.items] == ["b"]
    monkeypatch.setattr(parser_module._Parser, "run", lambda self: 1 / 0)
    assert parse("x").unreadable[0].reason == "document could not be read (ZeroDivisionError)"


def test_a_large_document_parses_linearly():
    sections = []
    for n in range(20):
        rows = "\n".join(f"| C{n}-{m} | Gate {n}.{m} | {['Open', 'Done', 'WIP'][m % 3]} | note |" for m in range(50))
        boxes = "\n".join(f"- [{'x' if m % 2 else ' '}] Task {n}.{m}" for m in range(50))
        sections.append(f"## Area {n}\n| ID | Gate | Status | Notes |\n|---|---|---|---|\n{rows}\n\n{boxes}\n")
    doc = parse("# Big\n" + "\n".join(sections))
    assert len(doc.items) == 2000
    assert len(doc.counts_by_category()) == 20
    assert not doc.unreadable
    assert re.fullmatch(r"C\d+-\d+", doc.items[0].code)


# --- Legends written as lists or tables; boxes nobody can read ------------------------------


@pytest.mark.parametrize("label", ["**Legend**", "**Legend:**", "**Status Key:**", "Legend:", "Status key:"])
def test_a_legend_written_as_a_list_is_not_gates(label):
    doc = parse(
        f"# Doc\n## Security\n- [ ] Pen test\n\n{label}\n- ✅ Complete\n- ❌ Missing\n- ⚠️ Partial\n\n- [x] Backups\n"
    )
    assert [(i.title, i.status) for i in doc.items] == [("Pen test", "open"), ("Backups", "closed")]
    assert doc.unreadable == []


def test_a_list_under_a_key_something_label_is_not_a_legend():
    doc = parse("# Doc\n## Security\n**Key Risks:**\n- ❌ Pen test\n- ✅ Backups\n")
    assert [(i.title, i.status) for i in doc.items] == [("Pen test", "open"), ("Backups", "closed")]


def test_a_legend_table_is_not_gates():
    doc = parse(
        "# Doc\n## Security\n| Status | Description |\n|---|---|\n| ✅ Complete | Done and verified |\n"
        "| ❌ Missing | Not started |\n| ⚠️ Partial | Some work left |\n\n"
        "| Gate | Status | Description |\n|---|---|---|\n| Pen test | Complete | booked |\n| Backups | Complete | |\n"
    )
    assert [(i.title, i.status) for i in doc.items] == [("Pen test", "closed"), ("Backups", "closed")]


def test_a_status_and_description_table_with_repeated_statuses_is_still_gates():
    doc = parse("## Security\n| Status | Description |\n|---|---|\n| Done | Pen test booked |\n| Done | Backups |\n")
    assert [(i.title, i.status) for i in doc.items] == [("Pen test booked", "closed"), ("Backups", "closed")]


@pytest.mark.parametrize("mark", ["o", "O", "v", "A", "?"])
def test_a_list_item_with_a_box_nobody_can_read_is_reported(mark):
    doc = parse(f"## Recovery\n- [{mark}] Backups\n- [x] Restore drill\n")
    assert [i.title for i in doc.items] == ["Restore drill"]
    assert [(u.line_no, u.reason) for u in doc.unreadable] == [(2, f"unknown checkbox mark [{mark}]")]


def test_a_bracketed_reference_is_not_a_box():
    doc = parse("## Recovery\n[A] Appendix A has the runbook\n- [12] RFC 1234\n- [x] Restore drill\n")
    assert [i.title for i in doc.items] == ["Restore drill"] and doc.unreadable == []


# "Looks like an item": a list bullet carrying a one-character box ("- [o] …"), a list bullet led by
# a status mark ("- ✅ …"), or a row of a table whose header has a gate and a status column. Each
# such line must become a gate or be reported; nothing in between may vanish.
_box = st.one_of(
    st.sampled_from(["", " ", "x", "X", "~", "/", "-", "o", "O", "v", "?", "✓", "✔", "*", "!"]),
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp", "Nd"), exclude_characters="]\\`"),
)
_bullet = st.sampled_from(["- ", "* ", "+ ", "1. ", "2) ", "  - ", "    * "])
_plain_title = st.lists(
    st.sampled_from(["Backups", "restore", "drill", "CI", "SLO", "p95", "DNS", "load"]), min_size=1, max_size=4
).map(" ".join)
_cell = st.sampled_from(["Open", "Done", "WIP", "Maybe", "", "✅", "❌ Missing", "later", "N/A", "??"])
_item_line = st.one_of(
    st.tuples(st.just("box"), st.builds(lambda b, m, t: f"{b}[{m}] {t}", _bullet, _box, _plain_title)),
    st.tuples(
        st.just("mark"),
        st.builds(lambda b, m, t: f"{b}{m} {t}", _bullet, st.sampled_from(list("✅❌⚠🟡🔴🟢")), _plain_title),
    ),
    st.tuples(st.just("row"), st.builds(lambda t, s: f"| {t} | {s} |", _plain_title, _cell)),
    st.tuples(st.just("plain"), st.builds(lambda b, t: f"{b}{t}", st.sampled_from(["- ", "* ", "1. "]), _plain_title)),
    st.tuples(st.just("prose"), st.sampled_from(["Some prose about the launch.", "", "More text here."])),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_item_line, min_size=1, max_size=25))
def test_every_line_that_looks_like_an_item_is_a_gate_or_reported(lines):
    text, expected, in_table = ["# Doc", "## Security"], [], False
    for kind, line in lines:
        if kind == "row" and not in_table:
            text += ["", "| Gate | Status |", "|---|---|"]
        elif kind != "row" and in_table:
            text.append("")
        in_table = kind == "row"
        text.append(line)
        if kind != "prose":
            expected.append(len(text))
    doc = parse("\n".join(text))
    accounted = {i.line_no for i in doc.items} | {u.line_no for u in doc.unreadable}
    left_out = {n for group in doc.skipped for n in group.line_nos}
    assert not accounted & left_out  # a line is a gate, unreadable or left out: one of them
    notes = " ".join(i.notes for i in doc.items)
    missing = [(n, text[n - 1]) for n in expected if n not in accounted | left_out]
    # A plain bullet indented under a gate is a detail of it (in its notes), not a line of its own.
    assert [(n, line) for n, line in missing if not (line.startswith(" ") and line.strip("-*+ ") in notes)] == []
