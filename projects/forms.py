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
    lifecycle = forms.ChoiceField(
        required=False,
        label="Projects",
        choices=[("", "Active"), ("launched", "Launched"), ("archived", "Archived"), ("all", "All")],
    )

    def __init__(self, *args, stages=(), owners=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["stage"].choices = [("", "Any stage")] + [(s, s) for s in stages]
        self.fields["owner"].choices = [("", "Any owner")] + [(o, o) for o in owners]


# The gate list filters on what each row shows. A closed gate whose evidence is stale (it counts as
# partial) and a waived gate whose waiver has expired (it counts as open) say so in their row, so
# they have choices of their own instead of being listed under "Closed" and "Waived".
STALE = "stale"
WAIVER_EXPIRED = "waiver_expired"


def _gate_filter_statuses():
    choices = []
    for status in readiness.STATUSES:
        choices.append((status, readiness.STATUS_LABELS[status]))
        if status == readiness.CLOSED:
            choices.append((STALE, "Closed, evidence stale"))
        elif status == readiness.WAIVED:
            choices.append((WAIVER_EXPIRED, "Waived, waiver expired"))
    return choices


class GateFilterForm(forms.Form):
    status = forms.ChoiceField(required=False, label="Status", choices=[("", "Any status"), *_gate_filter_statuses()])
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


class StageForm(forms.Form):
    name = forms.CharField(max_length=100, required=False, label="Stage name")
    target_date = forms.DateField(required=False, label="Target date", widget=forms.DateInput(attrs={"type": "date"}))
    min_score = forms.FloatField(required=False, min_value=0, max_value=100, label="Minimum score")
    min_closed = forms.IntegerField(required=False, min_value=0, label="Minimum closed gates")

    def clean(self):
        data = super().clean()
        filled = any(data.get(f) not in (None, "") for f in ("target_date", "min_score", "min_closed"))
        if filled and not data.get("name"):
            self.add_error("name", "Give this stage a name, or clear the row.")
        return data


StageFormSet = forms.formset_factory(StageForm, extra=3, max_num=10)


class GateEditForm(forms.Form):
    evidence_url = forms.URLField(
        required=False,
        max_length=500,
        label="Evidence link",
        assume_scheme="https",
        help_text="A link to the proof: a dashboard, a run, a document.",
    )
    evidence_note = forms.CharField(required=False, label="Evidence note", widget=forms.Textarea(attrs={"rows": 3}))
    notes = forms.CharField(required=False, label="Notes", widget=forms.Textarea(attrs={"rows": 3}))
    owner = forms.ChoiceField(required=False, label="Owner")
    due_date = forms.DateField(required=False, label="Due date", widget=forms.DateInput(attrs={"type": "date"}))
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)

    def __init__(self, *args, members=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.members = {str(u.pk): u for u in members}
        self.fields["owner"].choices = [("", "Nobody")] + [(str(u.pk), u.get_username()) for u in members]

    def clean_owner(self):
        value = self.cleaned_data["owner"]
        return self.members.get(value) if value else None


class WaiveForm(forms.Form):
    reason = forms.CharField(label="Why may this gate be waived?", widget=forms.Textarea(attrs={"rows": 3}))
    expires_at = forms.DateField(
        label="Waiver expires on",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="The end of that day (UTC).",
    )
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)


class UnwaiveForm(forms.Form):
    status = forms.ChoiceField(
        label="Status after the waiver",
        choices=[(readiness.OPEN, readiness.STATUS_LABELS[readiness.OPEN]), (readiness.PARTIAL, "Partial")],
    )
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)


class SignOffForm(forms.Form):
    role = forms.ChoiceField(label="Sign as")
    decision = forms.ChoiceField(
        label="Decision",
        choices=[(d, readiness.DECISION_LABELS[d]) for d in readiness.DECISIONS],
        widget=forms.RadioSelect,
    )
    comment = forms.CharField(
        required=False,
        label="Comment",
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Required unless the decision is GO: say what must happen first.",
    )
    state_hash = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, *args, roles=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.roles = {str(r.pk): r for r in roles}
        self.fields["role"].choices = [(str(r.pk), r.name) for r in roles]

    def clean_role(self):
        return self.roles[self.cleaned_data["role"]]

    def clean(self):
        data = super().clean()
        if data.get("decision") and data["decision"] != readiness.GO and not (data.get("comment") or "").strip():
            self.add_error("comment", "A comment is required unless the decision is GO.")
        return data


class MemberForm(forms.Form):
    role = forms.ChoiceField(label="Role")
    signoff_roles = forms.MultipleChoiceField(
        required=False, label="May sign off as", widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args, roles=(), **kwargs):
        from .models import Membership

        super().__init__(*args, **kwargs)
        self.roles = {str(r.pk): r for r in roles}
        self.fields["role"].choices = Membership.Role.choices
        self.fields["signoff_roles"].choices = [(str(r.pk), r.name) for r in roles]

    def clean_signoff_roles(self):
        return [self.roles[pk] for pk in self.cleaned_data["signoff_roles"]]


class MemberAddForm(MemberForm):
    user = forms.CharField(label="Username or email", max_length=254)

    field_order = ["user", "role", "signoff_roles"]

    def clean_user(self):
        from django.contrib.auth import get_user_model

        value = self.cleaned_data["user"].strip()
        User = get_user_model()
        user = (
            User.objects.filter(username__iexact=value).first()
            or User.objects.filter(email__iexact=value).order_by("pk").first()
        )
        if user is None or not user.is_active:
            raise forms.ValidationError("No active account has this username or email.")
        return user


class AuditFilterForm(forms.Form):
    actor = forms.ChoiceField(required=False, label="Who", choices=[("", "Anyone")])
    action = forms.ChoiceField(required=False, label="Action", choices=[("", "Any action")])
    since = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, actors=(), actions=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["actor"].choices = [("", "Anyone")] + [(a, a) for a in actors]
        self.fields["action"].choices = [("", "Any action")] + [(a, a) for a in actions]

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            self.add_error("until", "The end date is before the start date.")
        return data


class StageChangeForm(forms.Form):
    stage = forms.ChoiceField(label="Judge readiness against the stage")

    def __init__(self, *args, stages=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.stages = {str(s.pk): s for s in stages}
        self.fields["stage"].choices = [(str(s.pk), s.name) for s in stages]

    def clean_stage(self):
        return self.stages[self.cleaned_data["stage"]]
