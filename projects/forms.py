"""Forms of the web UI. They check shape only; the services decide what is allowed."""

from django import forms

from . import readiness

# Waiving needs a reason and an expiry, so it has its own form on the gate page.
SETTABLE_STATUSES = [(s, readiness.STATUS_LABELS[s]) for s in readiness.STATUSES if s != readiness.WAIVED]


class GateStatusForm(forms.Form):
    status = forms.ChoiceField(choices=SETTABLE_STATUSES, label="Status")
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)


class DashboardFilterForm(forms.Form):
    SORTS = [
        ("name", "Name (A–Z)"),
        ("-name", "Name (Z–A)"),
        ("score", "Score (lowest first)"),
        ("-score", "Score (highest first)"),
        ("date", "Launch date (soonest first)"),
        ("-date", "Launch date (latest first)"),
    ]

    verdict = forms.ChoiceField(
        required=False,
        label="Verdict",
        choices=[("", "Any verdict")] + [(v, readiness.VERDICT_LABELS[v]) for v in readiness.VERDICTS],
    )
    stage = forms.ChoiceField(required=False, label="Stage", choices=[("", "Any stage")])
    owner = forms.ChoiceField(required=False, label="Owner", choices=[("", "Any owner")])
    within = forms.IntegerField(required=False, min_value=0, max_value=3650, label="Launching within (days)")
    sort = forms.ChoiceField(required=False, label="Sort by", choices=SORTS)

    def __init__(self, *args, stages=(), owners=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["stage"].choices = [("", "Any stage")] + [(s, s) for s in stages]
        self.fields["owner"].choices = [("", "Any owner")] + [(o, o) for o in owners]


class GateFilterForm(forms.Form):
    status = forms.ChoiceField(
        required=False,
        label="Status",
        choices=[("", "Any status")] + [(s, readiness.STATUS_LABELS[s]) for s in readiness.STATUSES],
    )
    severity = forms.ChoiceField(
        required=False,
        label="Severity",
        choices=[("", "Any severity")] + [(s, readiness.SEVERITY_LABELS[s]) for s in readiness.SEVERITIES],
    )
    owner = forms.ChoiceField(required=False, label="Owner", choices=[("", "Anyone")])

    def __init__(self, *args, owners=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].choices = [("", "Anyone"), ("-", "Nobody")] + [(o, o) for o in owners]


class NewProjectForm(forms.Form):
    template = forms.ModelChoiceField(queryset=None, label="Template", empty_label=None)
    name = forms.CharField(max_length=200, label="Name")
    slug = forms.SlugField(
        max_length=80, required=False, label="Slug", help_text="Used in links. Leave empty to derive it from the name."
    )
    target_launch_date = forms.DateField(
        required=False, label="Launch date", widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, **kwargs):
        from gates.models import GateTemplate

        super().__init__(*args, **kwargs)
        self.fields["template"].queryset = GateTemplate.objects.order_by("name", "-version")
