"""Pipe tables: split rows into cells and work out what a table is and which column holds what.

A gate table has a status column, found by its header ("Status", "State", "Done", a "✅" column)
or, failing that, by its values ("| Wishlist | Not Started |"); or a priority column, when the
heading or label above it says what its rows are ("**Missing Features:**"). Columns may come in
any order and under many names. A table whose columns are counts per status ("Category | Closed
| Partial | Open | Total") is a summary: its rows are claims. Anything else (a legend, "Gateway |
Region | Features", "Version | Date | Changes") is not about gates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from . import vocabulary as v

DELIMITER = re.compile(r"^\s*\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)*\|?\s*$")
TOTAL_WORDS = frozenset({"total", "totals", "sum", "overall", "all", "grand total"})

COLUMNS = {
    "code": {"#", "id", "no", "nr", "num", "number", "ref", "code", "gate id", "item id", "gate no"},
    "title": {
        "gate", "gates", "feature", "features", "item", "items", "component", "components", "check", "checks",
        "task", "tasks", "requirement", "requirements", "name", "title", "area", "service", "capability",
        "deliverable", "criterion", "criteria", "control", "page", "page feature", "report", "notification",
        "integration", "previous blocker", "blocker", "issue", "milestone", "step", "test", "workstream",
        "module", "system", "topic", "gate name", "check item", "what", "deliverables",
    },
    "status": {
        "status", "state", "result", "done", "ready", "complete", "completed", "progress", "outcome",
        "current status", "go no go", "pass fail", "closed", "readiness",
    },
    "notes": {
        "notes", "note", "gap", "gaps", "details", "detail", "description", "comment", "comments", "remarks",
        "evidence", "resolution", "action required", "action", "actions", "next steps", "why", "rationale",
        "problem", "reason", "explanation", "what's missing", "missing",
    },
    "priority": {"priority", "severity", "impact", "importance", "prio", "urgency", "risk"},
    "category": {"category", "section", "group", "domain", "pillar", "track"},
}  # fmt: skip
SUMMARY_COLUMNS = {
    "closed": v.CLOSED, "done": v.CLOSED, "ready": v.CLOSED, "complete": v.CLOSED, "completed": v.CLOSED,
    "passed": v.CLOSED, "pass": v.CLOSED, "partial": v.PARTIAL, "in progress": v.PARTIAL, "wip": v.PARTIAL,
    "open": v.OPEN, "missing": v.OPEN, "remaining": v.OPEN, "todo": v.OPEN, "not started": v.OPEN,
    "failed": v.OPEN, "fail": v.OPEN, "waived": v.WAIVED, "n a": v.NOT_APPLICABLE,
    "not applicable": v.NOT_APPLICABLE, "total": "total", "count": "total", "gates": "total",
}  # fmt: skip
_LEGEND_COLUMNS = frozenset({"legend", "symbol", "icon", "meaning", "emoji", "mark"})
_SIGNOFF_COLUMNS = frozenset({"role", "sign off role", "function"})
# "| Status | Description |" over "| ✅ Complete | Done and verified |": what each status means.
_LEGEND_TEXT_COLUMNS = frozenset({"description", "meaning", "means", "definition", "explanation", "what it means"})

Rows = list[tuple[int, list[str]]]  # (line index, cells)


@dataclass
class Table:
    section: object  # the parser's section the table sits in
    kind: str  # "gate", "summary", "signoff" or "other" (ignored)
    header: list[str]
    context: str | None = None  # status for the rows of a table with no status column
    roles: dict[str, list[int]] = field(default_factory=dict)  # code, title, status, notes, priority, …
    title: int = 0
    status: int | None = None
    summary: list[str | None] = field(default_factory=list)  # per column: a status, "total" or None
    group: tuple[str | None, str] | None = None  # set by a "| **Security** | | |" row


def is_table_line(line: str) -> bool:
    return "|" in line.replace("\\|", "")


def split_cells(line: str) -> list[str]:
    text = line.strip()
    if text.startswith("|"):
        text = text[1:]
    if text.endswith("|") and not text.endswith("\\|"):
        text = text[:-1]
    return [cell.replace("\\|", "|").strip() for cell in re.split(r"(?<!\\)\|", text)]


def int_cell(cell: str) -> int | None:
    text = v.plain(cell).strip()
    return int(text) if re.fullmatch(r"\d{1,7}", text) else None


def _header_key(cell: str) -> str:
    text = v.strip_symbols(v.plain(cell)).lower().strip(" :*")
    return v.words(text) or text


def layout(header: list[str], rows: Rows, *, section: object, context: str | None, signing: bool) -> Table:
    """What kind of table this is, and which column holds what."""
    keys = [_header_key(cell) for cell in header]
    table = Table(section, "other", header, context=context)
    if any(key in _LEGEND_COLUMNS for key in keys):
        return table
    summary = [SUMMARY_COLUMNS.get(key) for key in keys]
    if sum(1 for s in summary[1:] if s) >= 2 and any(s and s != "total" for s in summary[1:]) and not summary[0]:
        table.kind, table.summary = "summary", summary
        return table
    if signing:
        roles = [j for j, key in enumerate(keys) if key in _SIGNOFF_COLUMNS]
        table.kind, table.title = "signoff", (roles or [0])[0]
        return table
    roles = _roles(header, keys)
    if "status" not in roles:
        column = _status_column_by_values(len(keys), rows, roles)
        if column is not None:
            for members in roles.values():
                if column in members:
                    members.remove(column)
            roles["status"] = [column]
    if "status" not in roles and not ("priority" in roles and context):
        # Not a gate table: "Gateway | Region | Features", "Version | Date | Changes". Its roles stay,
        # so that rows naming features ("| Feature | Action |") are reported as left out.
        table.roles = roles
        return table
    if "title" in roles:
        table.title = roles["title"][0]
    else:
        free = roles.get("extra", []) + roles.get("notes", [])
        if not free:
            return table
        table.title = min(free)
        for name in ("extra", "notes"):
            if table.title in roles.get(name, []):
                roles[name].remove(table.title)
    table.kind, table.roles = "gate", roles
    table.status = roles["status"][0] if "status" in roles else None
    if _is_legend(table, keys, rows):
        table.kind, table.roles = "other", {}
    return table


def _is_legend(table: Table, keys: list[str], rows: Rows) -> bool:
    """A status column and only descriptions beside it, each status once: a legend, not gates."""
    if table.status is None or "title" in table.roles or "code" in table.roles or len(rows) < 2:
        return False
    others = [key for j, key in enumerate(keys) if j != table.status and key]
    if not others or not all(key in _LEGEND_TEXT_COLUMNS for key in others):
        return False
    statuses = []
    for _, cells in rows:
        cell = cells[table.status] if table.status < len(cells) else ""
        status = v.parse_status(cell, strict=True)
        if status is None:
            return False
        statuses.append(status)
    return len(set(statuses)) == len(statuses)


def _roles(header: list[str], keys: list[str]) -> dict[str, list[int]]:
    roles: dict[str, list[int]] = {}
    for j, key in enumerate(keys):
        if key in ("", "#") and any(mark in header[j] for mark in v.MARK_CHARS):
            role = "status"  # a "✅" column
        else:
            role = next((r for r in ("code", "status", "priority", "category", "title", "notes")
                         if key in COLUMNS[r]), None)  # fmt: skip
            if role is None and "/" in header[j]:  # "Page/Feature", "Notes/Gap"
                role = next((r for r in ("title", "notes") if set(key.split()) & COLUMNS[r]), None)
        if role in ("title", "status") and role in roles:
            role = None  # the first one counts; later ones become notes
        roles.setdefault(role or "extra", []).append(j)
    return roles


def _status_column_by_values(width: int, rows: Rows, roles: dict[str, list[int]]) -> int | None:
    """A column with no status header whose cells mostly read as statuses."""
    taken = {j for role in ("code", "title", "priority", "category") for j in roles.get(role, [])}
    best, best_ratio = None, 0.0
    for j in range(width):
        values = [cells[j] for _, cells in rows if j < len(cells) and v.plain(cells[j])]
        if j in taken or not values:
            continue
        ratio = sum(1 for value in values if v.parse_status(value, strict=True)) / len(values)
        if ratio >= 0.6 and len(values) >= min(2, len(rows)) and ratio > best_ratio:
            best, best_ratio = j, ratio
    return best
