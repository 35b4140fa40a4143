"""The heading tree of a document, and what it decides for the gates under it.

Categories: a gate belongs to the nearest heading that names a built-in category (Security,
Monitoring, Backup…), under the name of the outermost heading with that key; failing that, to the
outermost heading under the title that names a subject ("## 1. Critical Issues" rather than
"### 1.1 Payment Processing", whose number and title say which gate it is). Headings that name a
status, a time or a score ("Ready for Launch", "Post-Launch", "Today") are not categories.

Severity: the gate's own (a Priority cell), else the nearest section's "**Priority:**" line, its
"**Status:**" line ("🔴 CRITICAL - …") or its heading ("Phase 1: Critical").
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from . import vocabulary as v
from .document import MAX_TITLE

GENERAL = "General"  # the category of gates under no heading


class Section:
    def __init__(self, level: int, heading: str, line_no: int, line: str, parent: Section | None, title: bool):
        self.level, self.heading, self.line_no, self.line, self.parent = level, heading, line_no, line, parent
        self.is_title = title
        self.name = v.clean_heading(heading) if heading else ""
        self.meaningful = bool(heading) and not title and v.is_meaningful(heading)
        self.key = v.category_key(self.name) if self.meaningful else None
        inherited_skip = parent.skip if parent else False
        # Summaries, overviews, history… restate or surround the gates: no gates there.
        self.skip = inherited_skip or (not title and bool(heading) and v.is_skip_heading(self.name))
        self.signoff = (parent.signoff if parent else False) or (not title and v.is_signoff_heading(heading))
        self.heading_status = v.context_status(heading) if heading and not title else None
        self.heading_severity = v.severity_in_text(heading) if heading and not title else None
        self.status_line: str | None = None  # from "**Status:** …"
        self.status_severity: str | None = None
        self.priority: str | None = None  # from "**Priority:** …"
        self.notes: list[str] = []  # "**Problem:**" and "**Test:**" lines, for a heading gate
        self.children: list[Section] = []
        self.drafts: list[Draft] = []
        self.unreadable = 0
        if parent:
            parent.children.append(self)

    def chain(self) -> Iterator[Section]:
        section: Section | None = self
        while section is not None:
            yield section
            section = section.parent

    def has_content(self) -> bool:
        return bool(self.drafts or self.unreadable or any(child.has_content() for child in self.children))

    def inherited_status(self) -> str | None:
        """The status a heading above says its sub-sections have ("CRITICAL BLOCKERS" → open)."""
        for section in self.chain():
            if section.is_title:
                return None
            if section.heading_status:
                return section.heading_status
        return None


@dataclass
class Draft:
    """A gate while the document is being read (its category and severity come at the end)."""

    code: str | None
    title: str
    status: str
    severity: str | None
    notes: list[str]
    line_no: int
    line: str
    section: Section
    indent: int = 0
    category: tuple[str | None, str] | None = None  # from a table's Category column or group row
    heading_item: bool = False


def heading_items(section: Section) -> list[Draft]:
    """A sub-heading with a status and nothing below it that reads as gates is one gate itself.

    "### 1. Per-Endpoint Rate Limiting" under "## 🚨 CRITICAL BLOCKERS", or a "### 2.4 Backups"
    with its own "**Status:** 🔴 MISSING" and only prose. Its sub-headings are part of it.
    """
    found = []
    for child in section.children:
        if child.skip or child.signoff:
            continue
        status = child.status_line or section.inherited_status()
        if status and child.meaningful and not child.has_content():
            title = v.clean_heading(child.heading)[:MAX_TITLE]
            notes = _section_notes(child)
            draft = Draft(v.heading_code(child.heading), title, status, None, notes, child.line_no, child.line, child)
            draft.heading_item = True
            child.drafts.append(draft)
            found.append(draft)
        else:
            found.extend(heading_items(child))
    return found


def _section_notes(section: Section) -> list[str]:
    notes = list(section.notes)
    for child in section.children:
        notes.extend(f"{child.name}: {note}" for note in _section_notes(child))
    return notes


def category(draft: Draft) -> tuple[str | None, str]:
    """(category_key, category_name) for a gate, from the headings above it."""
    if draft.category:
        return draft.category
    return section_category(draft.section.parent if draft.heading_item else draft.section)


def section_category(start: Section | None) -> tuple[str | None, str]:
    chain = [s for s in (start.chain() if start else ()) if s.heading and not s.is_title]
    for section in chain:
        if section.key:
            same = [s for s in chain if s.key == section.key]
            return section.key, same[-1].name
    meaningful = [section for section in chain if section.meaningful]
    if meaningful:
        return None, meaningful[-1].name
    if chain and chain[0].name:
        return chain[0].key, chain[0].name
    return None, GENERAL


def severity(draft: Draft) -> str | None:
    if draft.severity:
        return draft.severity
    for section in draft.section.chain():
        if section.is_title:
            break
        found = section.priority or section.status_severity or section.heading_severity
        if found:
            return found
    return None
