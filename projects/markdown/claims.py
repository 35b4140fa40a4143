"""Counts a document states about its own gates, checked against the gates it lists.

"16/17 features ready", "18 gates open", a summary row "| Technical | 3 | 0 | 4 | 7 |" or a flattened
"**TOTAL** 11 4 18 33". Each becomes a ``Claim`` per status it counts; the items win, and claims
that disagree with them are the document's discrepancies.

A percentage ("Store Dashboard: 95% complete", "1. Store Dashboard Features (95% Complete)",
"Overall Status: 95% Feature Complete") claims the closed share of its scope: closed items over
applicable ones (waived and not-applicable items leave the count, as they leave the score). It
agrees when it is within ``PERCENT_TOLERANCE`` points of that share, since documents round to
5s and 10s (14 of 16 closed is 87.5%: "90% complete" agrees, "95% complete" does not). "N% ready"
is not read: documents use it to restate their readiness score ("Strong foundation (82% ready)").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from . import vocabulary as v
from .document import Claim, ParsedItem
from .vocabulary import CLOSED

_NOUNS = r"(?:features?|gates?|items?|checks?|tasks?|requirements?|criteria|controls?|checklist items?)"
_WORDS = {
    "ready": v.CLOSED, "closed": v.CLOSED, "done": v.CLOSED, "complete": v.CLOSED, "completed": v.CLOSED,
    "passing": v.CLOSED, "passed": v.CLOSED, "green": v.CLOSED, "met": v.CLOSED, "resolved": v.CLOSED,
    "fixed": v.CLOSED, "open": v.OPEN, "missing": v.OPEN, "remaining": v.OPEN, "outstanding": v.OPEN,
    "pending": v.OPEN, "failing": v.OPEN, "failed": v.OPEN, "blocked": v.OPEN, "partial": v.PARTIAL,
    "in progress": v.PARTIAL, "waived": v.WAIVED,
}  # fmt: skip
_WORDS_RE = "|".join(sorted(_WORDS, key=len, reverse=True))
_FRACTION = re.compile(
    rf"(?<![\d/.])(\d+)\s*(?:/|\bof\b|\bout of\b)\s*(\d+)(?![\d/.])\s+(?:(?:the\s+)?{_NOUNS}\s+)?"
    rf"(?:are\s+|is\s+)?({_WORDS_RE})\b",
    re.IGNORECASE,
)
_COUNT = re.compile(rf"(?<![\d/.])(\d+)\s+{_NOUNS}\s+(?:are\s+|is\s+)?({_WORDS_RE})\b", re.IGNORECASE)
_PERCENT = re.compile(
    r"(?<![\d.])(\d{1,3}(?:\.\d+)?)\s*%\s*(?:(?:features?|functionally|items?|gates?)\s+)?"
    r"(?:complete|completed|done|closed|implemented)\b",
    re.IGNORECASE,
)
_NOT_PERCENT_CLAIMS = re.compile(r"\b(?:score|rating|coverage)\b", re.IGNORECASE)
# Names that mean the whole document, not a category ("Overall Status: 95% Feature Complete").
_DOCUMENT_SCOPES = frozenset({"overall", "overall status", "status", "total", "all", "document", "project"})
_TARGET = re.compile(r"^\s*(?:[-*+]\s+)?(?:target|goal)\b", re.IGNORECASE)
_SCORE_WORDS = re.compile(r"\b(?:score|readiness|rating|overall)\b", re.IGNORECASE)
_BULLET = re.compile(r"^\s*(?:[-*+•]|\d{1,9}[.)])?\s*")


@dataclass
class Pending:
    """A claim read from a line, before the items are known."""

    line_no: int
    line: str
    text: str
    claimed: int
    total: int | None
    status: str
    scope: str | None  # the name it is about ("Store Dashboard"), or None
    section: object | None  # where it was said: the fallback scope (None for a summary-table row)
    percent: bool = False  # "95% complete": ``claimed`` is a percentage of closed items


def in_line(plain: str) -> list[tuple[str, int, int | None, str, str | None, bool]]:
    """(text, claimed, total, status, scope, percent) for each count stated in a line of text.

    A target ("Target: 24/30 gates closed") is a goal, not a claim; "82/100" beside "score" is a score.
    """
    if _TARGET.match(plain):
        return []
    found = []  # (position in the line, claim)
    for match in _FRACTION.finditer(plain):
        if match.group(2) == "100" and _SCORE_WORDS.search(plain):
            continue
        status = _WORDS[match.group(3).lower()]
        claim = (match.group(0), int(match.group(1)), int(match.group(2)), status, _scope(plain, match), False)
        found.append((match.start(), claim))
    if not found:
        for match in _COUNT.finditer(plain):
            status = _WORDS[match.group(2).lower()]
            found.append(
                (match.start(), (match.group(0), int(match.group(1)), None, status, _scope(plain, match), False))
            )
    if not _NOT_PERCENT_CLAIMS.search(plain):
        for match in _PERCENT.finditer(plain):
            percent = round(float(match.group(1)))
            if percent <= 100:
                found.append((match.start(), (match.group(0), percent, None, CLOSED, _scope(plain, match), True)))
    return [claim for _, claim in sorted(found, key=lambda pair: pair[0])]


def _scope(plain: str, match: re.Match) -> str | None:
    """ "- Store Dashboard: 95% complete (16/17 features ready)" → "Store Dashboard".

    The label nearest the claim counts ("Last Updated: 2026-02-15 Overall Status: 95% …" → "…
    Overall Status"), and one that names the whole document ("Overall Status") is no scope.
    """
    before = plain[: match.start()]
    if ":" not in before:
        return None
    scope = _BULLET.sub("", before.rsplit(":", 1)[0].rsplit(":", 1)[-1]).strip(" *-")
    scope = scope.rsplit(".", 1)[-1].strip()
    label = v.words(scope)
    if not scope or label in _DOCUMENT_SCOPES or "overall" in label.split():
        return None
    return scope


def summary_row(scope: str | None, values: dict[str, int]) -> list[tuple[str, int, int | None, str, str]]:
    """(text, claimed, total, status, scope) for each status counted in a summary row."""
    total = values.get("total")
    label = scope or "document"
    return [
        (f"{label}: {values[status]} {status.replace('_', ' ')}" + (f" of {total}" if total else ""),
         values[status], total, status, scope or "")
        for status in v.STATUSES
        if status in values
    ]  # fmt: skip


def resolve(pending: list[Pending], items: list[ParsedItem], section_category: Callable[[object], str]) -> list[Claim]:
    claims = []
    for claim in pending:
        scope, selected = _select(claim, items, section_category)
        if claim.percent:
            applicable = [item for item in selected if item.status not in (v.WAIVED, v.NOT_APPLICABLE)]
            actual_total: int | None = len(applicable)
        else:
            actual_total = len(selected) if claim.total is not None else None
        claims.append(
            Claim(
                line_no=claim.line_no,
                line=claim.line,
                text=claim.text,
                claimed=claim.claimed,
                total=claim.total,
                actual=sum(1 for item in selected if item.status == claim.status),
                actual_total=actual_total,
                scope=scope,
                status=claim.status,
                percent=claim.percent,
            )
        )
    return claims


def _name_words(name: str) -> set[str]:
    return set(v.words(name.replace("/", " ")).split())


def _select(claim: Pending, items: list[ParsedItem], section_category) -> tuple[str, list[ParsedItem]]:
    """The items a claim is about: its named category (by key, then by name), its section, or all."""
    if claim.scope:
        key = v.category_key(claim.scope)
        if key and any(item.category_key == key for item in items):
            return claim.scope, [item for item in items if item.category_key == key]
        wanted = _name_words(claim.scope)
        matched = [
            item for item in items
            if wanted and (wanted <= _name_words(item.category_name) or _name_words(item.category_name) <= wanted)
        ]  # fmt: skip
        if matched:
            return claim.scope, matched
        if claim.section is None:  # a summary row about a category with no gates: 0 of them
            return claim.scope, []
    if claim.section is not None and not getattr(claim.section, "skip", False):
        name = section_category(claim.section)
        selected = [item for item in items if item.category_name == name]
        if selected:
            return name, selected
    return "document", list(items)
