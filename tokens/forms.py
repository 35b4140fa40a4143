"""The form people create their own API tokens with."""

from datetime import datetime, time

from django import forms
from django.utils import timezone

from projects.selectors import project_list_for_user

from .models import ApiToken


class TokenCreateForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What the token is for, e.g. “CI on main”.")
    scope = forms.ChoiceField(
        choices=ApiToken.Scope.choices,
        initial=ApiToken.Scope.READ,
        widget=forms.RadioSelect,
        help_text="Read: readiness and lists. Read and write: gates, check results, projects. "
        "Read and sign off: sign-offs for the roles you hold.",
    )
    expires_on = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Optional. The token stops working at the end of this day (UTC).",
    )
    projects = forms.ModelMultipleChoiceField(
        queryset=None,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Optional. If you choose any, the token sees only these projects.",
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["projects"].queryset = project_list_for_user(user).order_by("name")

    def clean_expires_on(self):
        day = self.cleaned_data.get("expires_on")
        if day is None:
            return None
        if day <= timezone.localdate():
            raise forms.ValidationError("Choose a day after today.")
        return day

    @property
    def expires_at(self):
        day = self.cleaned_data.get("expires_on")
        if day is None:
            return None
        return timezone.make_aware(datetime.combine(day, time.max))
