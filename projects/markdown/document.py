"""What the Markdown parser gives back: gates, unreadable lines, claims and document facts."""

from __future__ import annotations

from dataclasses import dataclass, field

from .vocabulary import CLOSED, STATUSES

MAX_TITLE = 300  # ProjectGate.title / GateDefinition.title
MAX_CODE = 20  # ProjectGate.code / GateDefinition.code


@dataclass(frozen=True)
class ParsedItem:
    """One gate: status in STATUSES, severity a SEVERITIES value or None, category_key a built-in key
    or None for a custom category named category_name; line_no is 1-based, line the source line."""

    code: str | None
    title: str
    category_key: str | None
    category_name: str
    status: str
    severity: str | None
    notes: str
    line_no: int
    line: str


@dataclass(frozen=True)
class Unreadable:
    """A line that looked like a gate but could not be read; the preview shows it to fix by hand."""

    line_no: int
    line: str
    reason: str


@dataclass(frozen=True)
class Skipped:
    """Lines that look like items but were left out on purpose, one group per section and reason.

    The preview lists them so that nothing that looks like a gate vanishes without a word: a list
    with no status, a table with no status column, work planned for after the launch, or the rows
    of a summary or reference section that restates the gates.
    """

    line_nos: tuple[int, ...]  # the item-like lines left out (1-based), in order
    section: str  # the headings they sit under, outermost first ("" for none)
    reason: str
    line: str  # the first of them, as written

    @property
    def line_no(self) -> int:
        return self.line_nos[0]

    @property
    def last_line_no(self) -> int:
        return self.line_nos[-1]


# A stated percentage agrees with the items' closed share when within this many points of it.
PERCENT_TOLERANCE = 5


@dataclass(frozen=True)
class Claim:
    """A count the document states ("16/17 features ready", a summary row) against the items.

    ``claimed`` counts gates with ``status`` (closed unless the claim says otherwise) in
    ``scope`` (a category name or "document"); ``total`` is the stated total, if any.
    A ``percent`` claim ("95% complete") states the closed share instead: ``claimed`` is the
    percentage, ``actual`` the closed items and ``actual_total`` the applicable ones (neither
    waived nor not applicable).
    """

    line_no: int
    line: str
    text: str
    claimed: int
    total: int | None
    actual: int
    actual_total: int | None
    scope: str
    status: str = CLOSED
    percent: bool = False

    @property
    def actual_percent(self) -> float | None:
        """The closed share of the applicable items in scope, for a percentage claim."""
        if not self.percent or not self.actual_total:
            return None
        return round(100 * self.actual / self.actual_total, 1)

    @property
    def disagrees(self) -> bool:
        if self.percent:
            if self.actual_percent is None:  # nothing applicable to be complete: only "0%" holds
                return self.claimed != 0
            return abs(self.claimed - 100 * self.actual / self.actual_total) > PERCENT_TOLERANCE
        return self.claimed != self.actual or (self.total is not None and self.total != self.actual_total)


@dataclass(frozen=True)
class ParsedDocument:
    """Everything read from one document.

    Exporters: a table "| Code | Gate | Category | Status | Severity | Notes |" (status and severity
    as words, "|" escaped as "\\|") under a heading such as "## Gates" (not a Summary or Sign-off one)
    reads back gate for gate, category included.
    """

    title: str = ""
    items: list[ParsedItem] = field(default_factory=list)
    unreadable: list[Unreadable] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    score: float | None = None
    verdict: str | None = None
    signoff_roles: list[str] = field(default_factory=list)
    target: str | None = None
    min_closed: int | None = None
    repaired_encoding: bool = False
    encoding: str = "utf-8"  # what the file's bytes were decoded as: "utf-8", "cp1252" or "mac_roman"

    def counts_by_status(self) -> dict[str, int]:
        counts = dict.fromkeys(STATUSES, 0)
        for item in self.items:
            counts[item.status] += 1
        return counts

    def counts_by_category(self) -> dict[str, dict[str, int]]:
        """category_name → {closed, partial, open, waived, not_applicable, total}, in document order."""
        counts: dict[str, dict[str, int]] = {}
        for item in self.items:
            row = counts.setdefault(item.category_name, {**dict.fromkeys(STATUSES, 0), "total": 0})
            row[item.status] += 1
            row["total"] += 1
        return counts

    def categories(self) -> list[tuple[str | None, str]]:
        """(category_key, category_name) pairs in the order they first appear."""
        seen: dict[str, str | None] = {}
        for item in self.items:
            seen.setdefault(item.category_name, item.category_key)
        return [(key, name) for name, key in seen.items()]

    @property
    def discrepancies(self) -> list[Claim]:
        return [claim for claim in self.claims if claim.disagrees]
