"""History pages: a project's audit timeline and its score over time."""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import render

from projects import selectors
from projects.charts import score_chart
from projects.forms import AuditFilterForm


@login_required
def project_history(request, slug):
    """The project's audit events, filterable by actor, action and date, with the score over time."""
    project = selectors.project_get_for_user(request.user, slug)
    actors, actions = selectors.audit_filter_choices(project)
    form = AuditFilterForm(request.GET or None, actors=actors, actions=actions)
    filters = form.cleaned_data if form.is_valid() else {}
    events = selectors.audit_events_for_project(
        project,
        actor=filters.get("actor", ""),
        action=filters.get("action", ""),
        since=filters.get("since"),
        until=filters.get("until"),
    )
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "audits/history.html",
        {
            "project": project,
            "form": form,
            "page": page,
            "query": query.urlencode(),
            "filtered": any(v for v in filters.values()),
            "chart": score_chart(selectors.score_history(project)),
        },
    )
