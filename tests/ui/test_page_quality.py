"""Quality of the pages: every field has a label, status is a word (never colour alone), scripts
run only with the CSP nonce, and nothing relies on inline styles the policy would block."""

import re
from html.parser import HTMLParser

import pytest
from django.urls import reverse

from audits.services import Actor
from projects import services
from projects.models import ProjectGate

pytestmark = pytest.mark.django_db


class PageAudit(HTMLParser):
    def __init__(self):
        super().__init__()
        self.fields = []  # (tag, id, name)
        self.label_for = set()
        self.wrapped = 0
        self.scripts = []  # attrs of every <script>
        self.inline_styles = []
        self.badges = []  # [text] per badge
        self._label_depth = 0
        self._badge = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "style" in a:
            self.inline_styles.append((tag, a["style"]))
        if tag == "label":
            self._label_depth += 1
            if a.get("for"):
                self.label_for.add(a["for"])
        if tag in ("input", "select", "textarea") and a.get("type") not in ("hidden", "submit"):
            self.fields.append((tag, a.get("id"), a.get("name"), self._label_depth > 0))
        if tag == "script":
            self.scripts.append(a)
        if tag == "span" and "badge" in (a.get("class") or "").split():
            self._badge = []

    def handle_endtag(self, tag):
        if tag == "label":
            self._label_depth -= 1
        if tag == "span" and self._badge is not None:
            self.badges.append("".join(self._badge).strip())
            self._badge = None

    def handle_data(self, data):
        if self._badge is not None:
            self._badge.append(data)


@pytest.fixture
def busy_project(project, owner, editor, run_on_commit):
    gate = ProjectGate.objects.get(project=project, code="T2")
    with run_on_commit():
        services.gate_update(actor=Actor(owner), gate=gate, version=gate.version, status="closed", owner=editor)
    return project


def pages(project):
    return [
        reverse("projects:dashboard"),
        reverse("projects:new"),
        reverse("projects:detail", args=[project.slug]),
        reverse("projects:gate", args=[project.slug, "T2"]),
        reverse("projects:signoff", args=[project.slug]),
        reverse("projects:history", args=[project.slug]),
        reverse("projects:members", args=[project.slug]),
        reverse("account_change_password"),
        reverse("mfa_index"),
    ]


def audit(response):
    parser = PageAudit()
    parser.feed(response.content.decode())
    return parser


def test_every_field_has_a_label(client, busy_project, owner):
    client.force_login(owner)
    for url in pages(busy_project):
        page = audit(client.get(url))
        for tag, field_id, name, wrapped in page.fields:
            assert wrapped or (field_id and field_id in page.label_for), f"{url}: <{tag} name={name}> has no label"


def test_login_page_fields_have_labels(client):
    page = audit(client.get(reverse("account_login")))
    assert page.fields
    assert all(f[1] in page.label_for for f in page.fields)


def test_status_and_verdict_badges_are_words(client, busy_project, owner):
    client.force_login(owner)
    for url in pages(busy_project):
        page = audit(client.get(url))
        assert all(text for text in page.badges), f"{url}: a badge without a word"
    page = audit(client.get(reverse("projects:detail", args=[busy_project.slug])))
    assert {"Closed", "Open", "NO-GO", "Blocker", "Missing"} <= set(page.badges)


def test_scripts_carry_the_csp_nonce_and_no_inline_styles(client, busy_project, owner):
    client.force_login(owner)
    for url in [*pages(busy_project), reverse("account_logout")]:
        response = client.get(url)
        policy = response["Content-Security-Policy"]
        nonce = re.search(r"'nonce-([^']+)'", policy).group(1)
        assert "'unsafe-inline'" not in policy
        page = audit(response)
        assert page.scripts, url
        for script in page.scripts:
            assert script.get("nonce") == nonce, f"{url}: a script without the nonce"
            assert script.get("src", "").startswith("/static/"), f"{url}: a script not served by the app"
        assert page.inline_styles == [], f"{url}: inline styles are blocked by the policy"


def test_htmx_is_vendored_with_its_license(client):
    from django.contrib.staticfiles import finders

    path = finders.find("vendor/htmx.min.js")
    assert path
    with open(path) as f:
        head = f.read(200)
    assert head.startswith("/*! htmx 2.") and "BSD" in head
    assert finders.find("vendor/htmx.LICENSE.txt")
