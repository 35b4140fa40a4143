from django import forms

from . import webhooks
from .models import Delivery, Kind
from .services import DAILY_ALLOWED


class PreferencesForm(forms.Form):
    """One choice per kind of notification: immediately, in a daily digest, or off."""

    def __init__(self, *args, table, **kwargs):
        super().__init__(*args, **kwargs)
        for kind, label, delivery in table:
            choices = [c for c in Delivery.choices if c[0] != Delivery.DAILY or kind in DAILY_ALLOWED]
            self.fields[kind] = forms.ChoiceField(
                label=label, choices=choices, initial=delivery, widget=forms.RadioSelect
            )

    def choices(self):
        return {kind: self.cleaned_data[kind] for kind in Kind.values if kind in self.cleaned_data}


class WebhookForm(forms.Form):
    url = forms.URLField(label="Receiver URL", max_length=500, assume_scheme="https")
    events = forms.MultipleChoiceField(
        label="Events", choices=sorted(webhooks.EVENTS.items()), widget=forms.CheckboxSelectMultiple
    )
    description = forms.CharField(label="Description", max_length=200, required=False)
