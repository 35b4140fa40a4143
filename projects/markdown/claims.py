"""Counts a document states about its own gates, checked against the gates it lists.

"16/17 features ready", "18 gates open", a summary row "| Technical | 3 | 0 | 4 | 7 |" or a flattened
"**TOTAL** 11 4 18 33". Each becomes a ``Claim`` per status it counts; the items win, and claims
that disagree with them are the document's discrepancies.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from . import vocabulary as v
from .document import Claim, ParsedItem

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


def in_line(plain: str) -> list[tuple[str, int, int | None, str, str | None]]:
    """(text, claimed, total, status, scope) for each count stated in a line of text.

    A target ("Target: 24/30 gates closed") is a goal, not a claim; "82/100" beside "score" is a score.
    """
    if _TARGET.match(plain):
        return []
    found = []
    for match in _FRACTION.finditer(plain):
        if match.group(2) == "100" and _SCORE_WORDS.search(plain):
            continue
        status = _WORDS[match.group(3).lower()]
        found.append((match.group(0), int(match.group(1)), int(match.group(2)), status, _scope(plain, match)))
    if not found:
        for match in _COUNT.finditer(plain):
            status = _WORDS[match.group(2).lower()]
            found.append((match.group(0), int(match.group(1)), None, status, _scope(plain, match)))
    return found


def _scope(plain: str, match: re.Match) -> str | None:
    """ "- Store Dashboard: 95% complete (16/17 features ready)" → "Store Dashboard"."""
    before = plain[: match.start()]
    if ":" not in before:
        return None
    scope = _BULLET.sub("", before.rsplit(":", 1)[0]).strip(" *-")
    return scope.rsplit(".", 1)[-1].strip() or None


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
        claims.append(
            Claim(
                line_no=claim.line_no,
                line=claim.line,
                text=claim.text,
                claimed=claim.claimed,
                total=claim.total,
                actual=sum(1 for item in selected if item.status == claim.status),
                actual_total=len(selected) if claim.total is not None else None,
                scope=scope,
                status=claim.status,
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
