"""The words and marks readiness documents use: statuses, severities, categories, headings.

Every function here is total: any string in, a value or ``None`` out, never an exception.
"""

from __future__ import annotations

import functools
import re
import unicodedata

OPEN, PARTIAL, CLOSED, WAIVED, NOT_APPLICABLE = "open", "partial", "closed", "waived", "not_applicable"
STATUSES = (CLOSED, PARTIAL, OPEN, WAIVED, NOT_APPLICABLE)
BLOCKER, CRITICAL, HIGH, MEDIUM, LOW = "blocker", "critical", "high", "medium", "low"
SEVERITIES = (BLOCKER, CRITICAL, HIGH, MEDIUM, LOW)
CATEGORY_KEYS = ("technical", "security", "observability", "gtm", "support", "recovery", "governance")

# --- Text clean-up ----------------------------------------------------------------------

_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_HTML = re.compile(r"<[^>]{0,200}>")
_SPACES = re.compile(r"\s+")
_PARENTHESES = re.compile(r"\([^)]*\)")


@functools.lru_cache(maxsize=4096)  # the parser asks for the same line several times
def plain(text: str) -> str:
    """Markdown inline markup removed: emphasis, code ticks, links (their text kept), tags."""
    text = _LINK.sub(r"\1", text)
    text = _HTML.sub(" ", text)
    for token in ("**", "__", "~~", "`"):
        text = text.replace(token, "")
    return _SPACES.sub(" ", text).strip()


_SYMBOLS = frozenset({"So", "Sk", "Co", "Cs", "Cn"})  # emoji, skin tones, private use (, unassigned


def strip_symbols(text: str) -> str:
    """Emoji, pictographs and their joiners/selectors removed (status marks included)."""
    kept = []
    for char in text:
        if char in "\ufe0f\ufe0e\u200d\u20e3" or (ord(char) > 127 and unicodedata.category(char) in _SYMBOLS):
            kept.append(" ")
        else:
            kept.append(char)
    return _SPACES.sub(" ", "".join(kept)).strip()


def words(text: str) -> str:
    """Lower-case words separated by single spaces, for phrase look-ups."""
    return " ".join(re.findall(r"[a-z0-9]+(?:['’][a-z]+)?", text.lower()))


# --- Status -----------------------------------------------------------------------------

# Marks are matched at the start of a cell or line (after the variation selector is dropped).
STATUS_MARKS = {
    "✅": CLOSED, "✔": CLOSED, "☑": CLOSED, "✓": CLOSED, "🟢": CLOSED, "🟩": CLOSED, "🆗": CLOSED,
    "❌": OPEN, "✖": OPEN, "✗": OPEN, "✘": OPEN, "🔴": OPEN, "🟥": OPEN, "⛔": OPEN, "🚫": OPEN, "❎": OPEN,
    "⚠": PARTIAL, "🟡": PARTIAL, "🟠": PARTIAL, "🟨": PARTIAL, "🟧": PARTIAL, "🚧": PARTIAL, "⏳": PARTIAL,
    "➖": NOT_APPLICABLE,
}  # fmt: skip
MARK_CHARS = "".join(STATUS_MARKS)

# Whole phrases, compared word by word after lower-casing (longest phrase wins).
_STATUS_PHRASES = {
    CLOSED: (
        "closed", "done", "ready", "complete", "completed", "pass", "passed", "passing", "yes", "y", "fixed",
        "resolved", "implemented", "delivered", "shipped", "live", "running", "operational", "enabled",
        "configured", "deployed", "verified", "good", "green", "ok", "okay", "finished", "met", "working",
        "available", "in place", "approved", "signed off", "go",
    ),
    PARTIAL: (
        "partial", "partially", "partly", "in progress", "in-progress", "wip", "ongoing", "started",
        "underway", "under way", "amber", "yellow", "basic", "limited", "needs work", "polish needed",
        "mostly done", "beta", "half done", "conditional",
    ),
    OPEN: (
        "open", "missing", "not started", "stub", "stubbed", "stub only", "todo", "to do", "to-do", "fail",
        "failed", "failing", "no", "n", "pending", "blocked", "red", "broken", "absent", "planned",
        "backlog", "incomplete", "outstanding", "tbd", "not done", "not ready", "not implemented",
        "not configured", "not functional", "not deployed", "not tested", "not yet", "unstarted", "no go",
    ),
    WAIVED: ("waived", "waiver", "accepted risk", "risk accepted", "exempt", "exempted"),
    NOT_APPLICABLE: ("n/a", "n a", "na", "not applicable", "not-applicable", "irrelevant", "out of scope"),
}  # fmt: skip
_PHRASE_STATUS = {words(p): s for s, ps in _STATUS_PHRASES.items() for p in ps}
# Too common in prose to make "Name: value" a gate on their own ("Breaking changes: No").
WEAK_STATUS_WORDS = frozenset({"yes", "y", "no", "n", "go", "ok", "okay", "good", "live", "basic", "limited",
                               "started", "planned", "red", "green", "yellow", "amber", "met", "na"})  # fmt: skip
_LONGEST_PHRASE = max(len(p.split()) for p in _PHRASE_STATUS)
_PERCENT = re.compile(r"^(\d{1,3}(?:\.\d+)?)\s*%")
_CHECKBOX_CELL = re.compile(r"^\[([ xX✓✔~/-]?)\]")


def _leading_mark(text: str) -> tuple[str | None, str]:
    text = text.lstrip()
    if text and text[0] in STATUS_MARKS:
        return STATUS_MARKS[text[0]], text[1:].lstrip("\ufe0f\ufe0e ").lstrip()
    return None, text


def _leading_phrase(text: str) -> tuple[str | None, int]:
    """Status of the longest known phrase the text starts with, and how many words it used."""
    tokens = words(text.replace("/", " ")).split()
    for n in range(min(_LONGEST_PHRASE, len(tokens)), 0, -1):
        status = _PHRASE_STATUS.get(" ".join(tokens[:n]))
        if status:
            return status, n
    # "Not verified", "not enabled": a negated closed word means open.
    if len(tokens) >= 2 and tokens[0] == "not" and _PHRASE_STATUS.get(tokens[1]) == CLOSED:
        return OPEN, 2
    return None, 0


def parse_status(text: str, *, strict: bool = False) -> str | None:
    """Status named by a cell or value, or None.

    Lenient (a Status column): the leading mark or phrase decides — "✅ Global", "Stub endpoints",
    "Closed (verified)", "20%". Strict (any other cell, a key: value line): the text must be only
    a status — "✅ Fixed", "PASSED (with skips)", "N/A" — so prose is never taken for a status.
    """
    text = strip_symbols_but_marks(plain(text))
    if not text:
        return None
    box = _CHECKBOX_CELL.match(text)
    if box:
        mark = box.group(1)
        return {"": OPEN, " ": OPEN, "~": PARTIAL, "/": PARTIAL, "-": NOT_APPLICABLE}.get(mark, CLOSED)
    status, rest = _leading_mark(text)
    if status:
        if not strict:
            return status
        rest = _drop_trailer(rest)
        return status if not rest or _leading_phrase(rest)[1] == len(words(rest.replace("/", " ")).split()) else None
    percent = _PERCENT.match(text)
    if percent:
        value = float(percent.group(1))
        rest = _drop_trailer(text[percent.end() :])
        if strict and rest and words(rest) not in ("complete", "completed", "done", "ready"):
            return None
        return CLOSED if value >= 100 else OPEN if value <= 0 else PARTIAL
    status, used = _leading_phrase(text)
    if status is None:
        return None
    if strict and used != len(words(_drop_trailer(text).replace("/", " ")).split()):
        return None
    return status


def strip_symbols_but_marks(text: str) -> str:
    """Decorative emoji removed, status marks kept (🚨 CRITICAL → CRITICAL, ✅ Done stays)."""
    kept = []
    for char in text:
        if char in STATUS_MARKS:
            kept.append(char)
        elif char in "\ufe0f\ufe0e\u200d\u20e3" or (ord(char) > 127 and unicodedata.category(char) in _SYMBOLS):
            kept.append(" ")
        else:
            kept.append(char)
    return _SPACES.sub(" ", "".join(kept)).strip()


_TRAILER = re.compile(r"\s*(\([^)]*\)|[-–—:,;.].*)$")


def _drop_trailer(text: str) -> str:
    """A trailing "(with skips)" or " - note" removed, for strict matching."""
    return _TRAILER.sub("", text).strip()


def trailer_note(text: str) -> str:
    """The note after a strict status: "PASSED (with skips)" → "with skips"."""
    match = _TRAILER.search(plain(text))
    return match.group(1).strip(" ()-–—:,;.") if match else ""


# --- Severity ---------------------------------------------------------------------------

# P0 blocker, P1 critical, P2 high, P3 medium, P4 low.
# IMMEDIATE → blocker: work the document says must start now because the launch cannot happen
# without it. BEFORE LAUNCH → critical: required for launch, which is what critical means in
# our verdict rules (a critical gate not closed gives CONDITIONAL GO, a blocker gives NO-GO).
_SEVERITY_PHRASES = {
    "blocker": BLOCKER, "blockers": BLOCKER, "blocking": BLOCKER, "showstopper": BLOCKER,
    "show stopper": BLOCKER, "immediate": BLOCKER, "p0": BLOCKER,
    "critical": CRITICAL, "crit": CRITICAL, "before launch": CRITICAL, "must have": CRITICAL,
    "urgent": CRITICAL, "p1": CRITICAL,
    "high": HIGH, "high priority": HIGH, "p2": HIGH, "important": HIGH,
    "medium": MEDIUM, "med": MEDIUM, "moderate": MEDIUM, "normal": MEDIUM, "p3": MEDIUM,
    "low": LOW, "minor": LOW, "nice to have": LOW, "trivial": LOW, "p4": LOW,
}  # fmt: skip


def parse_severity(text: str) -> str | None:
    """Severity named by a Priority cell or a "Priority:" value ("HIGH", "🔴 High", "IMMEDIATE")."""
    tokens = words(strip_symbols(plain(text))).split()
    for n in (3, 2, 1):
        severity = _SEVERITY_PHRASES.get(" ".join(tokens[:n]))
        if severity:
            return severity
    return None


_NEGATED_BLOCKER = re.compile(r"\b(?:not|non|no)[\s-]+block(?:er|ers|ing)\b", re.IGNORECASE)


def severity_in_text(text: str) -> str | None:
    """Severity words inside a heading or status line ("🔴 CRITICAL - NOT FUNCTIONAL").

    Only unambiguous words count: "critical", "blocker" (not "Not Blockers"), "high priority".
    Critical wins over blocker when both appear ("CRITICAL BLOCKERS"): documents that say so
    still call themselves CONDITIONAL GO, which is what a critical gate gives in our rules.
    """
    text = _NEGATED_BLOCKER.sub(" ", _PARENTHESES.sub(" ", plain(text))).lower()
    found = set(re.findall(r"\b(critical|blockers?|showstoppers?|immediate|p0)\b", text))
    if "critical" in found:
        return CRITICAL
    if found:
        return BLOCKER
    match = re.search(r"\b(high|medium|low)[\s-]+priority\b", text)
    return {"high": HIGH, "medium": MEDIUM, "low": LOW}[match.group(1)] if match else None


# --- Context phrases in headings and labels --------------------------------------------

# A heading or bold label that says what the list below it is ("**Delivered**", "Ready for
# Launch", "What's Missing:") gives plain bullets under it their status.
_CONTEXT_WORDS = {
    CLOSED: (
        "working", "delivered", "done", "completed", "complete", "implemented", "ready", "resolved", "fixed",
        "shipped", "in place", "existing", "current features", "current setup", "passed", "pass", "available",
        "live",
    ),
    OPEN: (
        "outstanding", "missing", "remaining", "todo", "to do", "not started", "not implemented", "gaps",
        "open items", "open issues", "pending", "needed", "blockers", "blocker", "must fix",
    ),
    PARTIAL: ("partial", "partially", "in progress", "wip"),
    WAIVED: ("waived",),
    NOT_APPLICABLE: ("not applicable",),
}  # fmt: skip
_CONTEXT_RE = {
    status: re.compile(r"\b(?:" + "|".join(re.escape(p) for p in phrases) + r")\b")
    for status, phrases in _CONTEXT_WORDS.items()
}
_WEAK_OPEN = re.compile(r"\b(?:blockers?|must fix)\b")


def context_status(text: str) -> str | None:
    """The status a heading or label gives the plain list below it, or None if none/ambiguous."""
    text = _NEGATED_BLOCKER.sub(" ", _PARENTHESES.sub(" ", plain(text))).lower()
    text = " ".join(re.findall(r"[a-z0-9']+", text.replace("’", "'")))
    found = {status for status, pattern in _CONTEXT_RE.items() if pattern.search(text)}
    if CLOSED in found and re.search(r"\bnot (?:started|implemented)\b", text):
        found.discard(CLOSED)
    if len(found) > 1 and OPEN in found and not _CONTEXT_RE[OPEN].search(_WEAK_OPEN.sub(" ", text)):
        found.discard(OPEN)  # "Launch Blockers - RESOLVED": the blockers are the subject
    return found.pop() if len(found) == 1 else None


# --- Categories -------------------------------------------------------------------------

# First keyword in the heading decides ("Backup & Recovery" → recovery, "Security & Compliance"
# → security). Matched on whole words of the cleaned heading.
_CATEGORY_KEYWORDS = {
    "technical": "technical", "tech": "technical", "infrastructure": "technical", "infra": "technical",
    "devops": "technical", "performance": "technical", "platform engineering": "technical",
    "security": "security", "secops": "security",
    "observability": "observability", "monitoring": "observability", "logging": "observability",
    "telemetry": "observability", "alerting": "observability",
    "gtm": "gtm", "go to market": "gtm", "marketing": "gtm", "funnel": "gtm",
    "support": "support", "incident": "support", "incidents": "support", "incident response": "support",
    "on call": "support",
    "recovery": "recovery", "backup": "recovery", "backups": "recovery", "disaster recovery": "recovery",
    "rollback": "recovery", "rollbacks": "recovery",
    "governance": "governance", "compliance": "governance", "legal": "governance", "privacy": "governance",
}  # fmt: skip
_CATEGORY_RE = re.compile(
    r"\b(" + "|".join(sorted((re.escape(k) for k in _CATEGORY_KEYWORDS), key=len, reverse=True)) + r")\b"
)


def category_key(name: str) -> str | None:
    """Built-in category key for a heading or summary-row name, or None for a custom one."""
    match = _CATEGORY_RE.search(words(name.replace("-", " ")))
    return _CATEGORY_KEYWORDS[match.group(1)] if match else None


_NUMBERING = re.compile(
    r"^(?:(?:appendix|part|section|phase|step|stage)\s+[a-z0-9]{1,3}\s*[:.)\-–—]\s*|[a-z]\.\s+|\d+(?:\.\d+)*[.):]?\s+)",
    re.IGNORECASE,
)
_CODE_NUMBERING = re.compile(r"^(\d+(?:\.\d+)+)[.):]?\s+")
_TRAILING_GATES = re.compile(r"\s+(?:gates?|checklist items)$", re.IGNORECASE)
_STATUS_SUFFIX = re.compile(r"\s+[-–—]\s+([^-–—]+)$")
_DURATION = re.compile(r"\s*\(?\s*\d+(?:\.\d+)?\s*(?:min|mins|minutes?|h|hrs?|hours?|days?|weeks?)\s*\)?\s*$", re.I)


def heading_code(heading: str) -> str | None:
    """Dotted section numbering as a gate code ("1.2 Refund Processing" → "1.2")."""
    match = _CODE_NUMBERING.match(strip_symbols(plain(heading)))
    return match.group(1) if match else None


def clean_heading(heading: str) -> str:
    """Heading text as a name: no markup, emoji, numbering, "(95% Complete)", "Gates", "- STUB ONLY"."""
    text = strip_symbols(plain(heading)).strip(" #:")
    text = _NUMBERING.sub("", text).strip()
    for _ in range(3):
        before = text
        text = _DURATION.sub("", text).strip()
        trailing = re.search(r"\s*\(([^()]*)\)$", text)
        if trailing and (re.search(r"\d", trailing.group(1)) or _is_status_words(trailing.group(1))):
            text = text[: trailing.start()].strip()
        suffix = _STATUS_SUFFIX.search(text)
        if suffix and _is_status_words(suffix.group(1)):
            text = text[: suffix.start()].strip()
        text = _TRAILING_GATES.sub("", text).strip(" :-–—")
        if text == before:
            break
    return text


# Words that name a status, a severity or a time rather than a subject.
_NOISE_WORDS = frozenset(
    re.findall(
        r"\S+",
        "a an the of for and or to in on at by with after before until from not non what what's whats we our is are "
        "ready launch pre post prelaunch postlaunch launched day today week weeks month first second next later now "
        "earlier recent short medium long term phase step stage must fix fixed blocker blockers critical high low "
        "priority priorities immediate delivered outstanding done completed complete missing partial resolved "
        "working great good remaining pending open closed status implemented needed items tasks slice "
        "january february march april may june july august september october november december q1 q2 q3 q4 "
        "recommended optional",
    )
)


_SUFFIX_WORDS = _NOISE_WORDS | {w for phrase in _PHRASE_STATUS for w in phrase.split()} | {"only", "functional"}


def _is_status_words(text: str) -> bool:
    """Whether a heading suffix only says status or time: "STUB ONLY", "95% Complete", "Slice 5"."""
    tokens = words(text).split()
    return bool(tokens) and all(t in _SUFFIX_WORDS or t.isdigit() for t in tokens)


def is_meaningful(heading: str) -> bool:
    """Whether a heading names a subject (a category) rather than a status, a time or a score."""
    text = clean_heading(heading)
    if re.search(r"\d+\s*/\s*100\b|\bscore\b", plain(heading), re.IGNORECASE):
        return False
    tokens = [t for t in words(_PARENTHESES.sub(" ", text)).split() if not t.isdigit()]
    return any(t not in _NOISE_WORDS for t in tokens)


_SKIP_HEADINGS = re.compile(
    r"^(?:(?:overall|executive|quick|project|status|readiness|launch|gates?|final)\s+)*"
    r"(?:summary|overview|tl;?dr|at a glance|reference|table of contents|contents|toc|document history|"
    r"revision history|version history|change ?log|recent changes|recent completions|release notes|"
    r"files (?:created|modified|changed)|references|glossary|legend|contacts?|further reading)\b",
    re.IGNORECASE,
)
_SIGNOFF_HEADINGS = re.compile(
    r"\b(?:sign[\s-]?offs?|signatures?|approvals? (?:required|needed)|approvers?|required approvals?)\b",
    re.IGNORECASE,
)


def is_skip_heading(heading: str) -> bool:
    """Sections that restate or surround the gates (summaries, history, contents): no items."""
    return bool(_SKIP_HEADINGS.search(plain(heading)))


_AFTER_LAUNCH = re.compile(
    r"\bpost[\s-]*(?:launch|v\d+|mvp|release|ga)\b|\bafter\s+(?:the\s+)?launch\b|\bnot\s+(?:a\s+)?blockers?\b|"
    r"\bfuture\b|\bnice[\s-]+to[\s-]+have\b|\bbacklog\b|\blater\b",
    re.IGNORECASE,
)


def is_after_launch(text: str) -> bool:
    """Whether a heading or label says its list is for after the launch ("Post-Launch", "Post-V1
    Improvements", "Recommended (Not Blockers)")."""
    return bool(_AFTER_LAUNCH.search(plain(text)))


def is_signoff_heading(heading: str) -> bool:
    return bool(_SIGNOFF_HEADINGS.search(plain(heading)))


# --- Verdict ----------------------------------------------------------------------------

_NO_GO = re.compile(r"\bno[\s-]*go\b|\bnot\s+(?:\w+\s+)?ready\b|\bnot\s+launch[\s-]+ready\b|\bblocked\b", re.I)
_CONDITIONAL = re.compile(r"\bconditional(?:ly)?[\s-]+go\b|\bgo\s+with\s+conditions\b", re.IGNORECASE)
_GO = re.compile(r"(?<![-/])\bgo\b(?![-/])|\blaunch[\s-]+ready\b|\bready\s+(?:to|for)\s+launch\b", re.IGNORECASE)


def parse_verdict(text: str) -> str | None:
    """ "✅ CONDITIONAL GO - …" → conditional_go; "Not ready for soft launch" → no_go."""
    text = plain(text)
    if _CONDITIONAL.search(text):
        return "conditional_go"
    if _NO_GO.search(text):
        return "no_go"
    if _GO.search(text):
        return "go"
    return None
