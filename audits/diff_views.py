"""The "what changed" page: a diff between two snapshots of a project, or a snapshot and now."""

from datetime import timedelta

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils import timezone

from projects import readiness
from projects.selectors import project_get_for_user, snapshot_list

from . import diff

# The snapshots offered in the "from" and "to" menus, newest first.
SNAPSHOT_CHOICES = 100


def diff_sides(project, user, params, now=None):
    """Pick A and B from request parameters: a=<id>&b=<id>, or since=signoff|week (B = now).

    Returns (a, b, note): a may be None when there is nothing to compare with (note says why).
    """
    now = now or timezone.now()
    since = params.get("since", "")
    if since == "signoff":
        a = diff.snapshot_of_last_signoff(project, user)
        note = "" if a else "You have not signed this project off yet, so there is nothing to compare with."
        return a, diff.snapshot_live(project, now=now), note
    if since == "week":
        a = diff.snapshot_at(project, now - timedelta(days=7))
        note = "" if a else "No snapshot of this project exists yet."
        return a, diff.snapshot_live(project, now=now), note
    a = diff.snapshot_get(project, params["a"]) if params.get("a") else None
    b = diff.snapshot_get(project, params["b"]) if params.get("b") else diff.snapshot_live(project, now=now)
    if a is None:
        a = diff.snapshot_at(project, now - timedelta(days=7))
    note = "" if a else "No snapshot of this project exists yet."
    return a, b, note


@login_required
def snapshot_changes(request, slug):
    project = project_get_for_user(request.user, slug)
    a, b, note = diff_sides(project, request.user, request.GET)
    result = diff.snapshot_diff(project, a, b) if a is not None else None
    snapshots = snapshot_list(project)[:SNAPSHOT_CHOICES]
    return render(
        request,
        "audits/changes.html",
        {
            "project": project,
            "diff": result,
            "a": a,
            "b": b,
            "note": note,
            "since": request.GET.get("since", ""),
            "snapshots": snapshots,
            "a_verdict_label": readiness.VERDICT_LABELS.get(getattr(a, "verdict", ""), ""),
            "b_verdict_label": readiness.VERDICT_LABELS.get(getattr(b, "verdict", ""), ""),
        },
    )
