"""FilterSets of /api/v1/ lists. Every filter is a column or an indexed comparison, never a Python loop.

A value a filter cannot use is a 400 naming the parameter, never silently ignored (which would
answer with the unfiltered list as if it were the filtered one).
"""

import django_filters as filters
from django import forms
from django.db.models import Q
from django.utils import timezone

from audits.models import AuditEvent, Channel, ReadinessSnapshot

from . import readiness
from .models import Project, ProjectGate

VERDICT_FILTER_CHOICES = [*((v, v) for v in readiness.VERDICTS), ("none", "not computed yet")]


class StrictBooleanField(forms.NullBooleanField):
    """true / false (also 1 / 0, yes / no; any case), absent or empty for no filter; anything
    else is invalid. Django's and django-filter's boolean widgets turn unknown text into None,
    i.e. "no filter", which is how `?overdue=maybe` used to answer with every gate."""

    widget = forms.TextInput  # hands the raw text to to_python instead of mapping it to None
    TRUE = frozenset({"true", "1", "yes"})
    FALSE = frozenset({"false", "0", "no"})

    def to_python(self, value):
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in self.TRUE:
            return True
        if text in self.FALSE:
            return False
        raise forms.ValidationError("Use true or false.", code="invalid")


class StrictBooleanFilter(filters.BooleanFilter):
    field_class = StrictBooleanField


class CachedFormFilterSet(filters.FilterSet):
    """A FilterSet whose form class is built once per class, not on every request.

    Valid only for filters whose fields do not depend on the request (no per-user querysets),
    which holds for every FilterSet here.
    """

    _form_classes = {}

    def get_form_class(self):
        cls = type(self)
        if cls not in CachedFormFilterSet._form_classes:
            CachedFormFilterSet._form_classes[cls] = super().get_form_class()
        return CachedFormFilterSet._form_classes[cls]


class ProjectFilter(CachedFormFilterSet):
    verdict = filters.ChoiceFilter(choices=VERDICT_FILTER_CHOICES, method="filter_verdict")
    stage = filters.CharFilter(field_name="current_stage__name", help_text="Current stage name.")
    owner = filters.CharFilter(field_name="owner__username", help_text="Owner's username.")
    lifecycle = filters.ChoiceFilter(choices=Project.Lifecycle.choices)
    launch_after = filters.DateFilter(field_name="target_launch_date", lookup_expr="gte")
    launch_before = filters.DateFilter(field_name="target_launch_date", lookup_expr="lte")
    score_min = filters.NumberFilter(field_name="score", lookup_expr="gte")
    score_max = filters.NumberFilter(field_name="score", lookup_expr="lte")

    class Meta:
        model = Project
        fields = ["verdict", "stage", "owner", "lifecycle", "launch_after", "launch_before", "score_min", "score_max"]

    def filter_verdict(self, queryset, name, value):
        return queryset.filter(verdict="" if value == "none" else value)


class GateFilter(CachedFormFilterSet):
    # Plain columns: no join can repeat a row, so no DISTINCT (which would also defeat the index).
    status = filters.MultipleChoiceFilter(choices=[(s, s) for s in readiness.STATUSES], distinct=False)
    category = filters.CharFilter(field_name="category__key", help_text="Category key, e.g. security.")
    severity = filters.MultipleChoiceFilter(choices=[(s, s) for s in readiness.SEVERITIES], distinct=False)
    owner = filters.CharFilter(field_name="owner__username", help_text="Owner's username.")
    stage = filters.CharFilter(field_name="stage__name", help_text="Stage name.")
    automated = StrictBooleanFilter(field_name="is_automated")
    overdue = StrictBooleanFilter(method="filter_overdue", help_text="Past its due date and not done.")
    stale = StrictBooleanFilter(method="filter_stale", help_text="Closed, but its evidence has expired.")

    class Meta:
        model = ProjectGate
        fields = ["status", "category", "severity", "owner", "stage", "automated", "overdue", "stale"]

    DONE = (readiness.CLOSED, readiness.WAIVED, readiness.NOT_APPLICABLE)

    def filter_overdue(self, queryset, name, value):
        overdue = Q(due_date__lt=timezone.localdate()) & ~Q(status__in=self.DONE)
        return queryset.filter(overdue) if value else queryset.exclude(overdue)

    def filter_stale(self, queryset, name, value):
        stale = Q(status=readiness.CLOSED, evidence_expires_at__lte=timezone.now())
        return queryset.filter(stale) if value else queryset.exclude(stale)


class SnapshotFilter(CachedFormFilterSet):
    kind = filters.ChoiceFilter(choices=ReadinessSnapshot.Kind.choices)
    taken_after = filters.IsoDateTimeFilter(field_name="taken_at", lookup_expr="gte")
    taken_before = filters.IsoDateTimeFilter(field_name="taken_at", lookup_expr="lte")

    class Meta:
        model = ReadinessSnapshot
        fields = ["kind", "taken_after", "taken_before"]


class AuditEventFilter(CachedFormFilterSet):
    action = filters.CharFilter()
    channel = filters.ChoiceFilter(choices=Channel.choices)
    object_type = filters.CharFilter()

    class Meta:
        model = AuditEvent
        fields = ["action", "channel", "object_type"]
