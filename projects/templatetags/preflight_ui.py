"""Small helpers of the web templates."""

from django import template
from django.template.defaultfilters import truncatechars

register = template.Library()

# Audit fields that say nothing to a reader (bookkeeping) or repeat another one.
_HIDDEN = {"version", "state_hash", "verified_at"}


def _show(value):
    if value in (None, "", []):
        return "—"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "—"
    if isinstance(value, dict):
        return "…"
    return truncatechars(str(value), 60)


@register.filter
def audit_changes(event):
    """What an audit event changed, as (field, before, after) in words, for timelines."""
    before = event.before if isinstance(event.before, dict) else {}
    after = event.after if isinstance(event.after, dict) else {}
    rows = []
    for key in [*before, *(k for k in after if k not in before)]:
        if key in _HIDDEN or before.get(key) == after.get(key):
            continue
        if not before and key in ("score",):
            continue
        rows.append((key.replace("_", " "), _show(before.get(key)), _show(after.get(key))))
    return rows
