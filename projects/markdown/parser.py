"""Read a Markdown readiness document into gates, claims, a score, a verdict and sign-off roles.

Pure Python (standard library only). The import service previews and applies the result, the
exporter's Markdown reads back through it, and it never raises, whatever the text: what it cannot
read is reported as ``Unreadable`` lines for the preview.

What becomes a gate (a ``ParsedItem``):
- a row of a gate table (see ``tables``): a table with a status column, or with a priority column
  under a heading or label that says what its rows are ("**Missing Features:**");
- a checkbox (``- [ ]``, ``* [X]``, ``1. [ ]``, nested);
- a line or bullet led by a status mark (``✅ thing``, ``- ❌ thing``) or ending in one;
- a ``Name: STATUS`` line whose value is only a status ("Architecture Validator: PASSED");
- a plain bullet under a heading or bold label that names a status ("**Delivered**",
  "✅ What's Working Great", "**Outstanding**", "**Status:** ✅ IMPLEMENTED");
- a sub-heading with a status and nothing else ("### 1. Per-Endpoint Rate Limiting" under
  "## 🚨 CRITICAL BLOCKERS"; see ``sections``).
Not gates: legends, code blocks, HTML comments, tables without a status, plain bullets with no
status around them, and anything in a section that restates or surrounds the gates (Summary,
Overview, Quick Reference, Table of Contents, Recent Completions, Document History…), where only
claims are read. A file header copied from a code host ("93 lines / 3.4 KiB / Markdown") and
everything above it (a commit message, a path) is skipped.

Nothing that looks like an item vanishes without a word: a line that could not be read is
``Unreadable``; a list item, a status-marked line or a table row that is not a gate on purpose
(no status, a table with no status column, work for after the launch, a summary or reference
section) is listed in ``ParsedDocument.skipped`` with the reason. A priority written into an item
("HIGH: add 2FA", "… (BEFORE LAUNCH)", "Blocker: backups") is its severity, not part of its title.

Package layout: ``vocabulary`` (words and marks), ``mojibake`` (encoding repair), ``tables``,
``sections`` (headings → category, severity, heading gates), ``claims``, ``document`` (results).
"""

from __future__ import annotations

import re
from dataclasses import replace

from . import claims, tables
from . import vocabulary as v
from .document import MAX_CODE, MAX_TITLE, Claim, ParsedDocument, ParsedItem, Skipped, Unreadable
from .encoding import decode_document
from .mojibake import repair_mojibake
from .sections import Draft, Section, category, heading_items, section_category, severity

__all__ = [
    "MAX_CODE", "MAX_TITLE", "Claim", "ParsedDocument", "ParsedItem", "Skipped", "Unreadable", "parse_markdown",
    "repair_mojibake",
]  # fmt: skip

_MAX_LINE = 4000  # longer lines are read only this far: nothing real is that long

# Why an item-like line is not a gate (the preview lists these lines).
NO_STATUS = "no status: a list item with no checkbox, status mark or status heading"
NO_STATUS_COLUMN = "no status: a table row, and the table has no status column"
POST_LAUNCH = "post-launch: listed as work after the launch (or not a blocker), with no status"
SUMMARY = "summary section: it restates or surrounds the gates (summary, reference, contents, history)"
SUMMARY_TABLE = "summary table: a table in a summary or reference section restates the gates"

# Tests set this to see internal errors instead of an Unreadable line.
RAISE_INTERNAL_ERRORS = False


def parse_markdown(text: str | bytes, *, encoding: str | None = None) -> ParsedDocument:
    """Parse a readiness document. Never raises: what cannot be read is reported, not thrown.

    Bytes are decoded by ``decode_document`` (UTF-8, else Windows-1252 or Mac Roman); for text
    already decoded, ``encoding`` says what its file was decoded as, for the preview to mention.
    """
    try:
        if isinstance(text, bytes | bytearray):
            text, detected = decode_document(bytes(text))
            encoding = encoding or detected
        parser = _Parser(text)
        document = parser.run()
        if not document.items and parser.skipped:
            # Every gate sat under a "Summary" or "Overview" heading: read them after all.
            document = _Parser(text, skip_summaries=False).run()
        return replace(document, encoding=encoding) if encoding else document
    except Exception as exc:  # a safety net: lines are already guarded one by one
        if RAISE_INTERNAL_ERRORS:
            raise
        return ParsedDocument(unreadable=[Unreadable(0, "", f"document could not be read ({type(exc).__name__})")])


# --- Line patterns ----------------------------------------------------------------------

_MARKS = "".join(re.escape(m) for m in v.MARK_CHARS)
_BULLET = r"(?:[-*+•]|\d{1,9}[.)])"
_ANY_MARK = re.compile(f"[{_MARKS}]")
_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
_ATX = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")
_SETEXT_H1 = re.compile(r"^\s{0,3}=+\s*$")
_SETEXT_H2 = re.compile(r"^\s{0,3}-{2,}\s*$")
_HRULE = re.compile(r"^\s{0,3}([-*_])(?:\s*\1){2,}\s*$")
_CHECKBOX = re.compile(rf"^(\s*)(?:({_BULLET})\s+)?\[([^\]]{{0,3}})\](?!\()\s*(.*)$")
# "[~]" and "[/]" are the in-progress boxes of several editors, "[-]" a dropped (cancelled) item.
_CHECKBOX_MARKS = {
    "": v.OPEN, "x": v.CLOSED, "X": v.CLOSED, "✓": v.CLOSED, "✔": v.CLOSED,
    "~": v.PARTIAL, "/": v.PARTIAL, "-": v.NOT_APPLICABLE,
}  # fmt: skip
_MARK_LINE = re.compile(rf"^(\s*)(?:{_BULLET}\s+)?([{_MARKS}])[\ufe0f\ufe0e]?(.*)$")
_PLAIN_BULLET = re.compile(rf"^(\s*){_BULLET}\s+(.*)$")
_KEY_VALUE = re.compile(rf"^\s*(?:{_BULLET}\s+)?([^:|]{{1,80}}?)\s*:\s*(.*)$")
_BOLD_LABEL = re.compile(r"^\s*(\*\*|__)(?!\s)(.+?)\1\s*(\([^)]*\))?\s*:?\s*$")
_PLAIN_LABEL = re.compile(r"^\s*([A-Z][^:|]{0,60}):\s*$")
_CODE_PREFIX = re.compile(
    r"^(?:\*\*)?((?:[A-Z]{1,6}-\d{1,4}|[A-Z]{1,3}\d{1,3}[a-z]?|\d+(?:\.\d+)+))(?:\*\*)?(?:\s*[:.)|–—-]\s+|\s+(?=[A-Z`*]))"
)
_NOT_CODES = re.compile(r"^(?:P\d|Q\d|V\d+\.\d+)$")
# A priority written into an item: "HIGH: add 2FA", "[P1] …", "Blocker: backups", "… (BEFORE LAUNCH)",
# "… - Critical". It sets the gate's severity and is not part of its title.
_PRIORITY = (
    r"(?:p[0-4]|blockers?|show[\s-]?stopper|critical|urgent|immediate|before[\s-]+launch|must[\s-]+have|"
    r"nice[\s-]+to[\s-]+have|(?:high|medium|low)(?:[\s-]+priority)?)"
)
_EMPHASIS = r"(?:\*\*|__)?"
_PRIORITY_LEAD = re.compile(
    rf"^{_EMPHASIS}(?:[\[(]\s*(?P<boxed>{_PRIORITY})\s*[\])]{_EMPHASIS}\s*(?:[:–—]|-\s)?"
    rf"|(?P<word>{_PRIORITY}){_EMPHASIS}\s*(?::|\s[-–—]\s|[–—]){_EMPHASIS})\s*(?=\S)",
    re.IGNORECASE,
)
_PRIORITY_TAG = re.compile(
    rf"\s*[\[(]\s*(?:priority\s*[:=]?\s*)?(?P<boxed>{_PRIORITY})\s*[\])]|\s+[-–—]\s+{_EMPHASIS}(?P<word>{_PRIORITY}){_EMPHASIS}\s*$",
    re.IGNORECASE,
)
_BOLD_LEAD = re.compile(r"^(?:\*\*|__)([^*_]{1,200}?)(?:\*\*|__)\s*(?::\s*|\s+[-–—]\s+|[-–—]\s*)(\S.*)$")
_SIZE_LINE = re.compile(
    r"^\s*(?:\d[\d,]*\s+lines?(?:\s*\(\d+\s+loc\))?|\d+(?:\.\d+)?\s*(?:B|bytes|KiB|KB|kB|MiB|MB))\s*$"
)
_CHROME_LINE = re.compile(r"^\s*(?:Markdown|Raw|Blame|Preview|Code|Copy path|View raw)\s*$")
_NOISE_LINE = re.compile(
    r"^\s*(?:All checks (?:have )?(?:passed|were successful)|Some checks (?:were not successful|failed)|"
    r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2})?(?:\s*[+-]\d{2}:?\d{2}|Z)?|\S+/\S+\.(?:md|markdown|txt|rst))\s*$"
)
_LEGEND_START = re.compile(r"^\s*(?:[-*+]\s+)?(?:\*\*)?(?:legend\b|(?:status )?key\s*:)", re.IGNORECASE)
# "**Legend**", "Status Key:", "Legend (marks used below)"; not "Key Features", "Key Risks".
_LEGEND_LABEL = re.compile(r"^(?:(?:status|symbol|icon)\s+)?(?:legend|key)(?:\s*\(.*\))?$|^legend\b", re.IGNORECASE)
_LEGEND_EQUALS = re.compile(rf"[{_MARKS}][\ufe0f\ufe0e]?\s*(?:=|:=|means\b)")
_SCORE = re.compile(r"(?<![\d.])(\d{1,3}(?:\.\d+)?)\s*/\s*100\b")
_SCORE_PERCENT = re.compile(r"\bscore\b\D{0,30}?(\d{1,3}(?:\.\d+)?)\s*%", re.IGNORECASE)
_SCORE_WORDS = re.compile(r"\b(?:score|readiness|rating|overall)\b", re.IGNORECASE)
_VERDICT_IN_LINE = re.compile(r"\b(?:verdict|decision|recommendation|overall status)\s*:\s*(.+)$", re.IGNORECASE)
_MIN_CLOSED = re.compile(
    r"(\d+)\s*(?:/|of|out of)\s*\d+|\bat least\s+(\d+)|≥\s*(\d+)|\bminimum(?: of)?\s+(\d+)", re.IGNORECASE
)
# Meta keys: "**Status:** …" and friends describe a section or the document, never a gate.
_META_KEYS = {
    "status": "status", "current status": "status", "state": "status",
    "overall status": "verdict_weak", "overall": "verdict_weak", "readiness": "verdict_weak",
    "verdict": "verdict", "decision": "verdict", "recommendation": "verdict", "go no go": "verdict",
    "go no go decision": "verdict", "launch decision": "verdict", "final verdict": "verdict",
    "priority": "priority", "implementation priority": "priority", "severity": "priority",
    "target": "target", "goal": "target", "exit criteria": "target", "launch criteria": "target",
    "success criteria": "target",
    "score": "score", "readiness score": "score", "overall score": "score", "overall readiness score": "score",
    "problem": "problem", "issue": "problem", "gap": "problem", "why": "problem",
    "test": "verify", "verification": "verify", "verify": "verify", "how to verify": "verify",
    "sign off": "signoff", "sign offs": "signoff", "signoff": "signoff", "sign off required": "signoff",
    "approvers": "signoff", "signatories": "signoff",
}  # fmt: skip
# Keys that are never a gate name even when the value happens to read as a status.
_NOT_GATE_KEYS = frozenset(
    {"result", "results", "last updated", "updated", "date", "version", "owner", "author", "platform", "eta", "note",
     "notes", "rationale", "launch authorization", "fix", "fix required", "deadline", "outcome", "answer", "tl dr"}
)  # fmt: skip

# --- The parser -------------------------------------------------------------------------


class _Parser:
    def __init__(self, text, *, skip_summaries: bool = True):
        self.skip_summaries = skip_summaries
        self.skipped = 0  # gate-like lines left out because they sat in a summary section
        # (line index, section, reason) of item-like lines left out, for the preview.
        self.left_out: list[tuple[int, Section, str]] = []
        if not isinstance(text, str):
            text = "" if text is None else str(text)
        self.text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
        self.drafts: list[Draft] = []
        self.unreadable: list[Unreadable] = []
        self.claims: list[claims.Pending] = []
        self.roles: list[str] = []
        self.title = ""
        self.score: float | None = None
        self.verdicts: list[tuple[int, str]] = []
        self.target: str | None = None
        self.min_closed: int | None = None
        self.root = Section(0, "", 0, "", None, title=False)
        self.section = self.root
        self.label_active = False
        self.label_status: str | None = None
        self.label_signoff = False
        self.label_text = ""
        # Under "**Legend**" / "**Status Key:**": None, "label" (no entry yet) or "list" (in its list).
        self.legend: str | None = None
        self.last_draft: Draft | None = None
        self.summary_columns: list[str | None] | None = None
        self.last_table: tables.Table | None = None

    # -- driver --

    def run(self) -> ParsedDocument:
        self.text, repaired = repair_mojibake(self.text)
        self.raw = self.text.split("\n")
        self.lines = [line[:_MAX_LINE].expandtabs(4) for line in self.raw]
        self._prescan()
        i = self.start
        while i < len(self.lines):
            try:
                i = self._line(i)
            except Exception as exc:
                if RAISE_INTERNAL_ERRORS:
                    raise
                self._unreadable(i, f"could not be read ({type(exc).__name__})")
                i += 1
        items = self._finish()
        return ParsedDocument(
            title=self.title,
            items=items,
            unreadable=sorted(self.unreadable, key=lambda u: u.line_no),
            skipped=self._skipped_groups(),
            claims=claims.resolve(self.claims, items, lambda section: section_category(section)[1]),
            score=self.score,
            verdict=max(self.verdicts, key=lambda pair: pair[0])[1] if self.verdicts else None,
            signoff_roles=self.roles,
            target=self.target,
            min_closed=self.min_closed,
            repaired_encoding=repaired,
        )

    def _prescan(self) -> None:
        """Find where the content starts (after a copied file header) and whether it has headings."""
        lines = self.lines
        self.start = 0
        header_end = max((i for i, line in enumerate(lines[:60]) if _SIZE_LINE.match(line)), default=-1)
        if header_end >= 0:
            i = header_end + 1
            while i < len(lines) and (_CHROME_LINE.match(lines[i]) or not lines[i].strip()):
                i += 1
            self.start = i
        fence = None
        self.flat = True
        for i in range(self.start, len(lines)):
            line = lines[i]
            match = _FENCE.match(line)
            if match:
                fence = None if fence and match.group(1)[0] == fence else (fence or match.group(1)[0])
                continue
            if fence:
                continue
            if _ATX.match(line) or (_SETEXT_H1.match(line) and i > 0 and lines[i - 1].strip()):
                self.flat = False
                break
        self.fence: tuple[str, int] | None = None

    def _unreadable(self, i: int, reason: str) -> None:
        self.unreadable.append(Unreadable(i + 1, self.raw[i], reason))
        self.section.unreadable += 1

    # -- one line --

    def _line(self, i: int) -> int:
        line = self.lines[i]
        fence = _FENCE.match(line)
        if self.fence:
            if fence and fence.group(1)[0] == self.fence[0] and len(fence.group(1)) >= self.fence[1]:
                self.fence = None
            return i + 1
        if fence:
            self.fence = (fence.group(1)[0], len(fence.group(1)))
            return i + 1
        stripped = line.strip()
        if not stripped:
            if self.legend == "list":
                self.legend = None  # the legend's list ended
            return i + 1
        if self.legend and self._legend_entry(line):
            return i + 1
        if stripped.startswith("<!--"):
            return self._skip_comment(i)

        nxt = self.lines[i + 1] if i + 1 < len(self.lines) else ""
        if tables.is_table_line(line) and tables.DELIMITER.match(nxt) and "|" in nxt and not _ATX.match(line):
            return self._table(i)
        if stripped.startswith("|"):
            self._stray_row(i)
            return i + 1
        step = self._heading(i, line, nxt, stripped)
        if not step and not self._is_legend(stripped) and not self._item_or_meta(i, line):
            self._flat_summary_line(i, line)
        self._verdict_and_score(i, line)
        self._claims_in(i, line)
        return i + (step or 1)

    def _heading(self, i: int, line: str, nxt: str, stripped: str) -> int:
        """Open a section if the line is a heading; return how many lines it used."""
        atx = _ATX.match(line)
        if atx:
            self._open_section(len(atx.group(1)), atx.group(2), i)
            return 1
        if self._is_setext(i, line, nxt):
            self._open_section(1 if _SETEXT_H1.match(nxt) else 2, stripped, i)
            return 2
        if _HRULE.match(line):
            self._reset_label()
            return 1
        if self.flat and self._pseudo_heading(i, stripped):
            return 1
        return 0

    def _item_or_meta(self, i: int, line: str) -> bool:
        return (
            self._checkbox(i, line)
            or self._mark_line(i, line)
            or self._meta(i, line)
            or self._status_value(i, line)
            or self._trailing_mark(i, line)
            or self._label(line)
            or self._plain_bullet(i, line)
        )

    def _skip_comment(self, i: int) -> int:
        while i < len(self.lines) and "-->" not in self.lines[i]:
            i += 1
        return i + 1

    def _is_setext(self, i: int, line: str, nxt: str) -> bool:
        if _SETEXT_H1.match(nxt):
            return not tables.is_table_line(line) and not _PLAIN_BULLET.match(line)
        if not _SETEXT_H2.match(nxt):
            return False
        # "---" under a plain short line is a heading; under "**Target:** …" or a table it is a rule.
        # The line must start a paragraph: after a blank line, or after a heading or rule, which end
        # the block before them ("# Doc" then "Security Improvements" then "---").
        previous = self.lines[i - 1] if i > self.start else ""
        starts_paragraph = (
            not previous.strip()
            or bool(_ATX.match(previous))
            or bool(_SETEXT_H1.match(previous))
            or bool(_HRULE.match(previous))
        )
        text = v.plain(line)
        return (
            starts_paragraph
            and not tables.is_table_line(line)
            and not _PLAIN_BULLET.match(line)
            and ":" not in text
            and len(text) <= 80
            and not text.endswith(".")
        )

    # -- headings --

    def _open_section(self, level: int, heading: str, i: int) -> None:
        heading = heading[:300]
        is_title = not self.title and level == 1 and self.root.children == [] and not self.drafts
        if not self.title:
            self.title = v.strip_symbols(v.plain(heading))
        parent = self.section
        while parent is not self.root and parent.level >= level:
            parent = parent.parent
        self.section = Section(level, heading, i + 1, self.raw[i], parent, title=is_title)
        self._reset_label()
        self.last_draft = None
        self.summary_columns = None
        self.last_table = None

    def _pseudo_heading(self, i: int, stripped: str) -> bool:
        """In a document whose headings were flattened to plain lines, short title-like lines."""
        text = v.plain(stripped)
        numbered = re.match(r"^\d{1,2}\.\s+(.*)$", text)
        body = numbered.group(1) if numbered else text
        if (
            not body
            or len(body) > 80
            or len(body.split()) > 10
            or body[-1] in ".:;,!?"
            or ": " in body
            or not (body[0].isupper() or body[0].isdigit())
            or stripped[0] in "-*+>|#[" + v.MARK_CHARS
            or _NOISE_LINE.match(stripped)
            or _SIZE_LINE.match(stripped)
            or v.parse_status(body, strict=True)
        ):
            return False
        if not self.title:
            self.title = v.strip_symbols(text)
            self.section = Section(1, text, i + 1, self.raw[i], self.root, title=True)
            self._reset_label()
            return True
        # Without "#" there are no levels: a subject heading opens a top section, a status or time
        # heading ("Ready for Launch", "Post-Launch") a sub-section of it.
        level = 2 if v.is_meaningful(text) or v.is_skip_heading(v.clean_heading(text)) else 3
        self._open_section(level, text, i)
        return True

    # -- context --

    def _reset_label(self) -> None:
        self.label_active = False
        self.label_status = None
        self.label_signoff = False
        self.label_text = ""
        self.legend = None

    def _legend_entry(self, line: str) -> bool:
        """A list line under a legend label explains a status: it is not a gate. Anything else ends it."""
        if _CHECKBOX.match(line) or _MARK_LINE.match(line) or _PLAIN_BULLET.match(line):
            self.legend = "list"
            return True
        self.legend = None
        return False

    def _signing(self) -> bool:
        """Inside a sign-off section or under a "**Sign-off:**" label: bullets name roles."""
        return self.section.signoff or self.label_signoff

    def _context(self) -> str | None:
        """The status a plain list or a priority table gets from its label or section."""
        if self.label_active:
            return self.label_status
        return self.section.status_line or self.section.inherited_status()

    def _can_hold_items(self, i: int, *, row: bool = False) -> bool:
        """Whether line `i` may be a gate here; one left out because of its section is noted."""
        if self._signing():
            return False
        if self.section.skip and self.skip_summaries:
            self.skipped += 1
            self._leave_out(i, SUMMARY_TABLE if row else SUMMARY)
            return False
        return True

    def _leave_out(self, i: int, reason: str) -> None:
        """Note an item-like line that is not a gate, so that the preview can say so."""
        if reason in (NO_STATUS, NO_STATUS_COLUMN) and self._after_launch():
            reason = POST_LAUNCH
        self.left_out.append((i, self.section, reason))

    def _after_launch(self) -> bool:
        """Whether the current heading or label says its list is for after the launch."""
        headings = [s.heading for s in self.section.chain() if s.heading and not s.is_title]
        return any(v.is_after_launch(text) for text in [self.label_text, *headings] if text)

    # -- items --

    def _add(
        self, i: int, text: str, status: str, *, indent: int = 0, severity: str | None = None, find_code: bool = True
    ) -> Draft | None:
        text, code = text.strip(), None
        match = _CODE_PREFIX.match(text) if find_code else None
        if match and not _NOT_CODES.match(match.group(1)):
            code, text = match.group(1), text[match.end() :].strip()
        text, stated = _priority_in_title(text)
        severity = severity or stated
        title, notes = _title_and_notes(text)
        title = v.strip_symbols(v.plain(title)).strip(" -–—:")
        if not title:
            self._unreadable(i, "no gate title")
            return None
        title, notes = _fit_title(title, notes)
        draft = Draft(code, title, status, severity, notes, i + 1, self.raw[i], self.section, indent)
        self.drafts.append(draft)
        self.section.drafts.append(draft)
        self.last_draft = draft
        return draft

    def _role(self, text: str) -> None:
        role = re.split(r"\s+[-–—]\s+|:|\(", v.strip_symbols(v.plain(text)), maxsplit=1)[0].strip(" *_")
        if role and role.lower() not in {r.lower() for r in self.roles} and len(role) <= 100:
            self.roles.append(role)

    def _checkbox(self, i: int, line: str) -> bool:
        match = _CHECKBOX.match(line)
        if not match:
            return False
        bullet, mark, text = match.group(2), match.group(3).strip(), match.group(4)
        statuses = _CHECKBOX_MARKS
        # "[A] …", "[12] …" open a reference; "- [o] Backups" is a list item with a box nobody can read.
        reference = len(mark) != 1 or (mark.isalnum() and not bullet) or (mark.isascii() and mark.isdigit())
        if mark not in statuses and reference:
            return False
        if self._signing():
            self._role(text)
            return True
        if not self._can_hold_items(i):
            return True
        if mark not in statuses:
            self._unreadable(i, f"unknown checkbox mark [{mark}]")
            return True
        status = statuses[mark]
        plain = v.plain(text)
        if re.fullmatch(r"\s*~~.+~~\s*", text):
            status = v.NOT_APPLICABLE  # struck through: dropped from the launch
        elif re.search(r"\bwaived\b", plain, re.IGNORECASE):
            status = v.WAIVED
        elif re.search(r"(?:^|\(|\s[-–—]\s)(?:N/A|not applicable)\b", plain, re.IGNORECASE):
            status = v.NOT_APPLICABLE
        self._add(i, text, status, indent=len(match.group(1)))
        return True

    def _mark_line(self, i: int, line: str) -> bool:
        match = _MARK_LINE.match(line)
        if not match:
            return False
        if self._signing():
            self._role(match.group(3))
            return True
        if not self._can_hold_items(i):
            return True
        text = match.group(3).strip()
        lead = re.match(r"^\*{0,2}([A-Za-z/ ]{1,20}?)\*{0,2}\s*[:\-–—]\s+(\S.*)$", text)
        if lead and v.parse_status(lead.group(1), strict=True):
            text = lead.group(2)  # "✅ Done: thing" → "thing"
        if not v.plain(v.strip_symbols(text)):
            self._unreadable(i, "status mark with no gate title")
            return True
        self._add(i, text, v.STATUS_MARKS[match.group(2)], indent=len(match.group(1)))
        return True

    def _trailing_mark(self, i: int, line: str) -> bool:
        """ "- Feature X ✅" or "- Feature X — ❌ Missing"."""
        match = _PLAIN_BULLET.match(line)
        if not match:
            return False
        text = match.group(2)
        position = max(text.rfind(mark) for mark in v.MARK_CHARS)
        if position <= 0:
            return False
        after = text[position + 1 :].lstrip("\ufe0f\ufe0e ").strip()
        if after and not v.parse_status(after, strict=True):
            return False
        before = text[:position].rstrip(" -–—:|")
        if not v.plain(before) or any(mark in before for mark in v.MARK_CHARS):
            return False
        if self._signing():
            self._role(before)
            return True
        if self._can_hold_items(i):
            self._add(i, before, v.STATUS_MARKS[text[position]], indent=len(match.group(1)))
        return True

    def _status_value(self, i: int, line: str) -> bool:
        """ "Architecture Validator: PASSED (with skips)" — a name and nothing but a status."""
        match = _KEY_VALUE.match(v.plain(line))
        if not match or not match.group(2):
            return False
        key, value = match.group(1).strip(), match.group(2)
        if v.words(key) in _NOT_GATE_KEYS or len(key) < 2 or not v.parse_status(value, strict=True):
            return False
        if v.words(v.strip_symbols(value)) in v.WEAK_STATUS_WORDS and not any(m in value for m in v.MARK_CHARS):
            return False
        if self._signing():
            self._role(key)
            return True
        if self._can_hold_items(i):
            status = v.parse_status(value, strict=True)
            draft = self._add(i, key, status, severity=v.severity_in_text(value))
            note = v.trailer_note(value)
            if draft and note:
                draft.notes.insert(0, note)
        return True

    def _plain_bullet(self, i: int, line: str) -> bool:
        match = _PLAIN_BULLET.match(line)
        if not match:
            return False
        indent, text = len(match.group(1)), match.group(2)
        if self._signing():
            self._role(text)
            return True
        last = self.last_draft
        if last and last.section is self.section and indent > last.indent and not last.heading_item:
            last.notes.append(v.plain(text))  # a detail under a gate, not a gate of its own
            return True
        if not self._can_hold_items(i):
            return True
        status = self._context()
        if status:
            self._add(i, text, status, indent=indent)
        else:
            self._leave_out(i, NO_STATUS)
        return True

    # -- labels, meta lines, plain text --

    def _label(self, line: str) -> bool:
        match = _BOLD_LABEL.match(line)
        text = match.group(2) if match else None
        if text is None:
            plain = _PLAIN_LABEL.match(line)
            if not plain or len(plain.group(1).split()) > 6:
                return False
            text = plain.group(1)
        self.label_active = True
        self.label_status = v.context_status(text.rstrip(" :"))
        self.label_text = text
        self.label_signoff = v.is_signoff_heading(text)
        self.legend = "label" if _LEGEND_LABEL.match(v.plain(text).strip(" :*_")) else None
        self.last_draft = None
        return True

    def _meta(self, i: int, line: str) -> bool:
        plain = v.plain(line)
        match = _KEY_VALUE.match(plain)
        if not match:
            return False
        kind = _META_KEYS.get(v.words(match.group(1)))
        value = v.strip_symbols_but_marks(match.group(2)).strip()
        if kind is None:
            return False
        if not value:
            return False  # "**Problem:**" or "**Sign-off:**" with the text below it: a label
        section = self.section
        if kind == "status":
            if not section.is_title and section is not self.root:
                section.status_line = v.parse_status(value)
                section.status_severity = v.severity_in_text(value)
            verdict = v.parse_verdict(value)
            if verdict and re.search(r"\bgo\b|launch[\s-]+ready", value, re.IGNORECASE):
                self.verdicts.append((1, verdict))
        elif kind in ("verdict", "verdict_weak"):
            verdict = v.parse_verdict(value)
            if verdict and (kind == "verdict" or re.search(r"\bgo\b|ready", value, re.IGNORECASE)):
                self.verdicts.append((2 if kind == "verdict" else 1, verdict))
        elif kind == "priority":
            section.priority = v.parse_severity(value) or v.severity_in_text(value)
        elif kind == "target":
            if self.target is None:
                self.target = v.plain(match.group(2)).strip()
                number = _MIN_CLOSED.search(value)
                if number:
                    self.min_closed = int(next(g for g in number.groups() if g))
        elif kind == "score":
            number = re.fullmatch(r"(\d{1,3}(?:\.\d+)?)\s*(?:\(.*\))?", value)
            if number and self.score is None:
                self.score = min(float(number.group(1)), 100.0)  # "Score: 82"; "82/100" and "82%" below
        elif kind == "problem":
            section.notes.append(v.plain(value))
        elif kind == "verify":
            section.notes.append(f"Verify: {v.plain(value)}")
        elif kind == "signoff":
            for role in re.split(r",|;|\band\b", value):
                self._role(role)
        return True

    def _verdict_and_score(self, i: int, line: str) -> None:
        plain = v.plain(line)
        score = _SCORE.search(plain)
        if score and (_SCORE_WORDS.search(plain) or v.parse_verdict(plain[score.end() :])):
            if self.score is None:
                self.score = min(float(score.group(1)), 100.0)
            verdict = v.parse_verdict(plain[score.end() :])
            if verdict:
                self.verdicts.append((2, verdict))
        elif self.score is None:
            percent = _SCORE_PERCENT.search(plain)
            if percent:
                self.score = min(float(percent.group(1)), 100.0)
        inline = _VERDICT_IN_LINE.search(plain)
        if inline:
            verdict = v.parse_verdict(inline.group(1))
            if verdict:
                self.verdicts.append((2 if "overall" not in inline.group(0).lower() else 1, verdict))

    def _is_legend(self, stripped: str) -> bool:
        marks = len(_ANY_MARK.findall(stripped))
        if not marks:
            return False
        if _LEGEND_START.match(stripped) or _LEGEND_EQUALS.search(stripped):
            return True
        if marks >= 2:
            rest = re.sub(f"[{_MARKS}\ufe0f\ufe0e|,;/()*-]", " ", stripped)
            tokens = rest.split()
            return bool(tokens) and all(v.parse_status(t, strict=True) for t in tokens)
        return False

    # -- claims --

    def _claims_in(self, i: int, line: str) -> None:
        for text, claimed, total, status, scope, percent in claims.in_line(v.plain(line)):
            self.claims.append(
                claims.Pending(i + 1, self.raw[i], text, claimed, total, status, scope, self.section, percent)
            )

    def _flat_summary_line(self, i: int, line: str) -> None:
        """A summary table that lost its pipes: "Category Closed Partial Open Total" then rows."""
        tokens = v.plain(line).split()
        keys = [tables.SUMMARY_COLUMNS.get(v.words(t)) for t in tokens]
        if sum(1 for key in keys if key) >= 3 and all(keys[1:]):
            self.summary_columns = keys
            return
        numbers = [t for t in tokens if re.fullmatch(r"\d{1,7}", t)]
        if not numbers or not tokens or re.fullmatch(r"\d+", tokens[0]):
            return
        first_number = next(n for n, t in enumerate(tokens) if re.fullmatch(r"\d{1,7}", t))
        if tokens[first_number:] != numbers:
            return
        scope = " ".join(tokens[:first_number])
        columns = self.summary_columns
        if columns is None:
            if v.words(scope) not in tables.TOTAL_WORDS:
                return
            columns = [None, v.CLOSED, v.PARTIAL, v.OPEN, "total"][: len(numbers) + 1]
            if len(numbers) == 2:
                columns = [None, v.CLOSED, "total"]
        values = dict(zip(columns[1:], (int(n) for n in numbers), strict=False))
        self._summary_claims(i, scope, values)

    def _summary_claims(self, i: int, scope_cell: str, values: dict[str, int]) -> None:
        scope = v.clean_heading(scope_cell)
        scope = None if v.words(scope) in tables.TOTAL_WORDS else scope
        for text, claimed, total, status, name in claims.summary_row(scope, values):
            self.claims.append(claims.Pending(i + 1, self.raw[i], text, claimed, total, status, name, None))

    # -- tables --

    def _stray_row(self, i: int) -> None:
        """A pipe row outside a table: more rows of the table above (after a blank line), or reported."""
        cells = tables.split_cells(self.lines[i])
        last = self.last_table
        if last and last.section is self.section and tables.DELIMITER.match(self.lines[i]) is None:
            self._table_rows(last, [(i, cells)])
            return
        looks_like_a_gate = any(v.parse_status(cell, strict=True) for cell in cells)
        if looks_like_a_gate and not tables.DELIMITER.match(self.lines[i]) and self._can_hold_items(i, row=True):
            self._unreadable(i, "table row without a header row")

    def _table(self, i: int) -> int:
        header = tables.split_cells(self.lines[i])
        end = i + 2
        rows = []
        while end < len(self.lines) and tables.is_table_line(self.lines[end]) and self.lines[end].strip():
            if _FENCE.match(self.lines[end]) or _ATX.match(self.lines[end]):
                break
            rows.append((end, tables.split_cells(self.lines[end])))
            end += 1
        table = tables.layout(header, rows, section=self.section, context=self._context(), signing=self._signing())
        self.last_table = table
        self._table_rows(table, rows)
        return end

    def _table_rows(self, table: tables.Table, rows: list[tuple[int, list[str]]]) -> None:
        for row_i, cells in rows:
            if table.kind == "summary":
                summary = table.summary
                values = {
                    summary[j]: tables.int_cell(cell) for j, cell in enumerate(cells) if j < len(summary) and summary[j]
                }
                if cells and values and all(value is not None for value in values.values()):
                    self._summary_claims(row_i, cells[0], values)
            elif table.kind == "signoff":
                if table.title < len(cells) and cells[table.title]:
                    self._role(cells[table.title])
            elif table.kind == "gate" and self._can_hold_items(row_i, row=True):
                self._gate_row(table, row_i, cells)
            elif self._names_things(table, cells) and self._can_hold_items(row_i, row=True):
                self._leave_out(row_i, NO_STATUS_COLUMN)

    @staticmethod
    def _names_things(table: tables.Table, cells: list[str]) -> bool:
        """A row of a table with a title column but no status ("| Feature | Action | Notes |")."""
        return table.kind == "other" and "title" in table.roles and any(v.plain(cell) for cell in cells)

    def _gate_row(self, table: tables.Table, row_i: int, cells: list[str]) -> None:
        header, roles = table.header, table.roles
        cells = cells + [""] * (len(header) - len(cells))
        extra_cells = cells[len(header) :]
        if not any(v.plain(cell) for cell in cells):
            return
        title_cell = cells[table.title]
        if v.words(v.plain(title_cell)) in tables.TOTAL_WORDS:
            return  # a total row inside a gate table
        filled = [j for j, cell in enumerate(cells) if v.plain(cell)]
        if filled == [0] and re.fullmatch(r"\s*(\*\*|__).+\1\s*", cells[0]) and not v.parse_status(cells[0]):
            name = v.clean_heading(cells[0])
            table.group = (v.category_key(name), name)  # "| **Security** | | |": a group row
            return
        status = self._row_status(row_i, header, cells, table.status, table.context)
        if status is None:
            return
        if not v.plain(v.strip_symbols(title_cell)):
            self._unreadable(row_i, "no gate title")
            return
        severity = next((s for s in (v.parse_severity(cells[j]) for j in roles.get("priority", [])) if s), None)
        if severity is None and table.status is not None:
            severity = v.severity_in_text(cells[table.status])
        draft = self._add(row_i, title_cell, status, severity=severity, find_code="code" not in roles)
        if draft is None:
            return
        for j in roles.get("code", []):
            code = v.plain(cells[j]).strip()
            if code and len(code) <= MAX_CODE:
                draft.code = code
        for j in roles.get("category", []):
            name = v.clean_heading(cells[j])
            if name:
                draft.category = (v.category_key(name), name)
        draft.category = draft.category or table.group
        for j in roles.get("notes", []):
            if v.plain(cells[j]):
                draft.notes.append(v.plain(cells[j]))
        for j in roles.get("extra", []):
            if v.plain(cells[j]) not in ("", "-", "—"):
                draft.notes.append(f"{v.plain(header[j])}: {v.plain(cells[j])}")
        draft.notes.extend(v.plain(cell) for cell in extra_cells if v.plain(cell))

    def _row_status(self, row_i, header, cells, status_j, context) -> str | None:
        if status_j is None:
            return context
        raw = cells[status_j]
        status = v.parse_status(raw)
        if status:
            return status
        elsewhere = next(
            (
                j
                for j, cell in enumerate(cells)
                if j != status_j and j < len(header) and v.parse_status(cell, strict=True)
            ),
            None,
        )
        if elsewhere is not None:
            self._unreadable(
                row_i,
                f"status {v.plain(cells[elsewhere])!r} is in the {v.plain(header[elsewhere]) or 'first'!r} column "
                f"and the {v.plain(header[status_j])!r} column says {v.plain(raw)!r}: the columns look shifted",
            )
        elif not v.plain(raw):
            if context:
                return context
            self._unreadable(row_i, f"the {v.plain(header[status_j])!r} cell is blank")
        else:
            self._unreadable(row_i, f"status {v.plain(raw)!r} not recognised")
        return None

    # -- end of document --

    def _skipped_groups(self) -> list[Skipped]:
        """The lines left out, grouped by section and reason. Bullets under a heading that became a
        gate itself are that gate's details ("**Minimum Alerts**: - Error rate > 5%"), not left out."""
        gates = {id(draft.section) for draft in self.drafts if draft.heading_item}
        paths: dict[int, str] = {}
        groups: list[tuple[list[int], str, str, str]] = []  # (line numbers, section path, reason, first line)
        for i, section, reason in sorted(self.left_out, key=lambda entry: entry[0]):
            if any(id(s) in gates for s in section.chain()):
                continue
            if id(section) not in paths:
                chain = reversed(list(section.chain()))
                paths[id(section)] = " › ".join(
                    v.strip_symbols(v.plain(s.heading)) for s in chain if s.heading and not s.is_title
                )
            name = paths[id(section)]
            if groups and groups[-1][1:3] == (name, reason):
                groups[-1][0].append(i + 1)
            else:
                groups.append(([i + 1], name, reason, self.raw[i]))
        return [Skipped(tuple(numbers), name, reason, line) for numbers, name, reason, line in groups]

    def _finish(self) -> list[ParsedItem]:
        self.drafts.extend(heading_items(self.root))
        return [
            ParsedItem(
                code=draft.code,
                title=draft.title,
                category_key=category(draft)[0],
                category_name=category(draft)[1],
                status=draft.status,
                severity=severity(draft),
                notes=" — ".join(note for note in draft.notes if note)[:2000],
                line_no=draft.line_no,
                line=draft.line,
            )
            for draft in sorted(self.drafts, key=lambda d: d.line_no)
        ]


def _priority_in_title(text: str) -> tuple[str, str | None]:
    """The item's text without the priority written into it, and the severity that priority names."""
    severity = None
    lead = _PRIORITY_LEAD.match(text)
    if lead:
        severity = v.parse_severity(lead.group("boxed") or lead.group("word"))
        text = text[lead.end() :] if severity else text
    tags = [v.parse_severity(tag.group("boxed") or tag.group("word")) for tag in _PRIORITY_TAG.finditer(text)]
    if tags and all(tags):
        severity = severity or tags[0]
        text = _PRIORITY_TAG.sub("", text).strip() or text
    return text, severity


def _title_and_notes(text: str) -> tuple[str, list[str]]:
    text = text.strip()
    lead = _BOLD_LEAD.match(text)
    if lead:
        return lead.group(1).strip(" :"), [v.plain(lead.group(2))]
    return text, []


def _fit_title(title: str, notes: list[str]) -> tuple[str, list[str]]:
    if len(title) <= MAX_TITLE:
        return title, notes
    cut = title[: MAX_TITLE - 1].rsplit(" ", 1)[0].rstrip(" ,;:-") or title[: MAX_TITLE - 1]
    return cut + "…", [title, *notes]
