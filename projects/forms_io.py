"""Forms of the import pages. They check shape only; the import services decide what is allowed."""

from django import forms
from django.core import signing

from .markdown.encoding import UTF8, decode_document

MAX_DOCUMENT_BYTES = 2 * 1024 * 1024
# The document travels from the preview to the apply step signed, so what is applied is exactly
# what was previewed (re-parsed on the server, never taken from hidden fields of gates).
SIGNING_SALT = "projects.import-document"
SIGNED_MAX_AGE = 60 * 60 * 6


def sign_document(*, text, source, user, target, encoding=UTF8):
    return signing.dumps(
        {"text": text, "source": source, "user": user.pk, "target": target, "encoding": encoding},
        salt=SIGNING_SALT,
        compress=True,
    )


def unsign_document(value, *, user, target):
    """The previewed document, or None if the copy was altered, is too old or belongs to another page."""
    try:
        data = signing.loads(value, salt=SIGNING_SALT, max_age=SIGNED_MAX_AGE)
    except signing.BadSignature:
        return None
    if data.get("user") != user.pk or data.get("target") != target:
        return None
    return data


class DocumentForm(forms.Form):
    """Step 1: the Markdown, pasted or uploaded."""

    text = forms.CharField(
        required=False,
        label="Paste Markdown",
        strip=False,
        widget=forms.Textarea(attrs={"rows": 14, "spellcheck": "false"}),
    )
    file = forms.FileField(
        required=False,
        label="…or upload a .md file",
        help_text="UTF-8 text (Windows-1252 and Mac Roman files are read too), up to 2 MB.",
        widget=forms.ClearableFileInput(attrs={"accept": ".md,.markdown,.txt,text/markdown,text/plain"}),
    )

    def clean(self):
        data = super().clean()
        text, upload = data.get("text") or "", data.get("file")
        if upload and text.strip():
            raise forms.ValidationError("Paste the Markdown or upload a file, not both.")
        if upload:
            if upload.size > MAX_DOCUMENT_BYTES:
                self.add_error("file", "This file is larger than 2 MB.")
                return data
            raw = upload.read()
            if b"\x00" in raw:
                self.add_error("file", "This is not a text file.")
                return data
            # Strict UTF-8, else the single-byte codec it was saved in: never "�" for every "é".
            data["document"], data["encoding"] = decode_document(raw)
            data["source"] = upload.name[:200]
        elif text.strip():
            if len(text.encode("utf-8")) > MAX_DOCUMENT_BYTES:
                self.add_error("text", "This text is larger than 2 MB.")
                return data
            data["document"], data["encoding"] = text, UTF8
            data["source"] = "pasted text"
        else:
            raise forms.ValidationError("Paste a Markdown readiness document or choose a file.")
        return data


class NewProjectImportForm(DocumentForm):
    """Step 1 of a new project from a document: the document plus the project's name."""

    name = forms.CharField(
        max_length=200, required=False, label="Project name", help_text="Default: the document's title."
    )
    slug = forms.SlugField(
        max_length=80, required=False, label="Slug", help_text="Used in links. Default: from the name."
    )
    template = forms.ModelChoiceField(
        queryset=None,
        required=False,
        label="Template",
        empty_label="None: the document's gates only",
        help_text="A template adds its gates, roles and stages; the document's items update the gates they match.",
    )

    field_order = ["name", "slug", "template", "text", "file"]

    def __init__(self, *args, **kwargs):
        from gates.models import GateTemplate

        super().__init__(*args, **kwargs)
        self.fields["template"].queryset = GateTemplate.objects.order_by("name", "-version")


class TemplateImportForm(DocumentForm):
    """Step 1 of a gate template from a document (staff): the document plus the template's name."""

    name = forms.CharField(max_length=200, label="Template name")
    key = forms.SlugField(
        max_length=80,
        required=False,
        label="Key",
        help_text="Default: from the name. An existing key gets its next version.",
    )

    field_order = ["name", "key", "text", "file"]


class ApplyForm(forms.Form):
    """Step 2: apply what was previewed (the signed document and the plan's fingerprint)."""

    document = forms.CharField(widget=forms.HiddenInput)
    fingerprint = forms.CharField(widget=forms.HiddenInput, max_length=64)
    name = forms.CharField(widget=forms.HiddenInput, required=False, max_length=200)
    slug = forms.CharField(widget=forms.HiddenInput, required=False, max_length=80)
    template = forms.IntegerField(widget=forms.HiddenInput, required=False)
