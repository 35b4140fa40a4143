"""Import and export pages: every persona, the signed preview, refusals, downloads, query bounds."""

import csv
import io
import json
import re

import pytest
from django.core import signing
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from audits.models import AuditEvent
from audits.services import Actor
from projects import services
from projects.forms_io import SIGNING_SALT
from projects.models import Project, ProjectGate

from .conftest import example_text, row_counts

pytestmark = pytest.mark.django_db

DOC = """# Apollo
## Technical
| ID | Gate | Status | Notes |
|---|---|---|---|
| T1 | Health check green | Done | /health/deep green |
| T7 | Cache warmed | Open | |
| T8 | Stray | Sort of | |
2/3 gates ready
"""


@pytest.fixture
def login(client, request):
    def _login(persona):
        client.force_login(request.getfixturevalue(persona))
        return client

    return _login


def import_url(slug="apollo"):
    return reverse("io:import", args=[slug])


def hidden(html, name):
    return re.search(rf'name="{name}" value="([^"]*)"', html).group(1)


def preview(client, text=DOC, url=None, **extra):
    return client.post(url or import_url(), {"text": text, **extra})


def gate(project, code):
    return ProjectGate.objects.get(project=project, code=code)


# --- Who may import ---------------------------------------------------------------------------


@pytest.mark.parametrize(("persona", "status"), [("outsider", 404), ("viewer", 403), ("signer", 403)])
def test_only_writers_reach_the_import_page(login, project, persona, status):
    client = login(persona)
    assert client.get(import_url()).status_code == status
    before = row_counts()
    assert preview(client).status_code == status
    assert row_counts() == before


def test_anonymous_users_are_sent_to_log_in(client, project):
    response = client.get(import_url())
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


# --- Preview, then apply ----------------------------------------------------------------------


def test_preview_shows_counts_source_lines_unreadable_lines_and_claims_and_writes_nothing(login, project):
    client = login("editor")
    assert client.get(import_url()).status_code == 200
    before = row_counts()
    response = preview(client)
    assert response.status_code == 200
    assert row_counts() == before
    html = response.content.decode()
    assert "2 gates" in html and "1 Closed" in html and "1 Open" in html
    assert "1 to create · 1 to update · 0 unchanged" in html
    assert "status: open → closed" in html
    assert re.search(r'<td class="num" data-label="Line">5</td>', html)  # T1 came from line 5
    assert "Line 7: status &#x27;Sort of&#x27; not recognised" in html
    assert "Line 8: “2/3 gates ready” — the items say 1 of 2" in html
    assert "Apply: create 1, update 1" in html


def test_apply_writes_what_was_previewed_and_audits_it(login, project):
    client = login("editor")
    html = preview(client).content.decode()
    response = client.post(
        import_url(), {"document": hidden(html, "document"), "fingerprint": hidden(html, "fingerprint")}
    )
    assert response.status_code == 302 and response["Location"] == project.get_absolute_url()
    t1 = gate(project, "T1")
    assert (t1.status, t1.notes) == ("closed", "/health/deep green")
    assert project.gates.filter(code="T7", title="Cache warmed").exists()
    event = AuditEvent.objects.get(project=project, action="project.imported")
    assert (event.channel, event.actor_label, event.after["source"]) == ("web", "eddie-editor", "pasted text")
    messages = [str(m) for m in response.wsgi_request._messages]
    assert messages == ["Imported pasted text: 1 gates created, 1 updated, 0 unchanged."]


def test_an_altered_or_foreign_copy_is_refused(login, project, template, owner):
    client = login("editor")
    html = preview(client).content.decode()
    signed, fingerprint = hidden(html, "document"), hidden(html, "fingerprint")
    before = row_counts()
    tampered = signed[:-3] + ("AAA" if not signed.endswith("AAA") else "BBB")
    assert client.post(import_url(), {"document": tampered, "fingerprint": fingerprint}).status_code == 400
    assert row_counts() == before
    # Signed by us but with other text: a signature made for another page or user does not pass.
    other = services.project_create_from_template(actor=Actor(owner), template=template, name="Other", slug="other")
    services.member_add(
        actor=Actor(owner), project=other, user=project.memberships.get(role="editor").user, role="editor"
    )
    before = row_counts()
    response = client.post(import_url("other"), {"document": signed, "fingerprint": fingerprint})
    assert response.status_code == 400 and "could not be verified" in response.content.decode()
    forged = signing.dumps({"text": "- [x] Health check green", "source": "x", "user": 0, "target": "x"}, salt="other")
    assert client.post(import_url(), {"document": forged, "fingerprint": fingerprint}).status_code == 400
    assert row_counts() == before
    assert gate(project, "T1").status == "open"
    assert signing.loads(signed, salt=SIGNING_SALT)["source"] == "pasted text"


def test_a_preview_made_stale_by_another_change_is_not_applied(login, project, owner):
    client = login("editor")
    html = preview(client).content.decode()
    t1 = gate(project, "T1")
    services.gate_update(actor=Actor(owner), gate=t1, version=t1.version, status="partial")
    before = row_counts()
    response = client.post(
        import_url(), {"document": hidden(html, "document"), "fingerprint": hidden(html, "fingerprint")}
    )
    assert response.status_code == 409
    assert "The project changed since this preview was made" in response.content.decode()
    assert row_counts() == before
    assert "status: partial → closed" in response.content.decode()  # the current preview is shown


def test_waivers_in_a_document_need_an_owner(login, project):
    client = login("editor")
    html = preview(
        client, "| ID | Gate | Status |\n|---|---|---|\n| T1 | Health check green | Waived |\n"
    ).content.decode()
    before = row_counts()
    response = client.post(
        import_url(), {"document": hidden(html, "document"), "fingerprint": hidden(html, "fingerprint")}
    )
    assert response.status_code == 403 and "Only the project&#x27;s owners" in response.content.decode()
    assert row_counts() == before


def test_upload_and_form_errors(login, project):
    client = login("owner")
    upload = SimpleUploadedFile("launch-gates.md", example_text("launch-gates.md").encode(), "text/markdown")
    response = client.post(import_url(), {"file": upload})
    assert response.status_code == 200 and "Preview of launch-gates.md" in response.content.decode()
    assert "33 gates" in response.content.decode()
    response = client.post(import_url(), {"text": "   "})
    assert (
        response.status_code == 422
        and "Paste a Markdown readiness document or choose a file." in response.content.decode()
    )
    both = SimpleUploadedFile("a.md", b"- [ ] a")
    response = client.post(import_url(), {"text": "- [ ] b", "file": both})
    assert response.status_code == 422 and "not both" in response.content.decode()
    binary = SimpleUploadedFile("a.md", b"\x00\x01")
    assert "This is not a text file." in client.post(import_url(), {"file": binary}).content.decode()


CP1252_DOC = "# Sécurité\n## Technical\n- [x] Café réservé – “prêt”\n- [ ] Zürich failover\n"


def test_an_upload_that_is_not_utf8_is_read_as_windows_1252_and_the_preview_says_so(login, project):
    client = login("editor")
    upload = SimpleUploadedFile("legacy.md", CP1252_DOC.encode("cp1252"), "text/markdown")
    html = client.post(import_url(), {"file": upload}).content.decode()
    assert 'data-testid="preview-notice"' in html
    assert "The file is not UTF-8: it was read as Windows-1252." in html
    assert "Café réservé – “prêt”" in html and "\ufffd" not in html
    response = client.post(
        import_url(), {"document": hidden(html, "document"), "fingerprint": hidden(html, "fingerprint")}
    )
    assert response.status_code == 302
    titles = set(project.gates.values_list("title", flat=True))
    assert {"Café réservé – “prêt”", "Zürich failover"} <= titles


def test_a_utf8_upload_has_no_encoding_notice(login, project):
    upload = SimpleUploadedFile("modern.md", CP1252_DOC.encode(), "text/markdown")
    html = login("editor").post(import_url(), {"file": upload}).content.decode()
    assert "Café réservé – “prêt”" in html and 'data-testid="preview-notice"' not in html


def test_preview_lists_item_like_lines_that_are_not_gates_and_percentages_that_disagree(login, project):
    html = login("editor").post(import_url(), {"text": example_text("platform-launch-readiness.md")}).content.decode()
    skipped = re.search(r'<ul data-testid="preview-skipped">(.*?)</ul>', html, re.S).group(1)
    assert "Lines 95–99 under “Post-Launch Features (Slice 5)” (5 lines): post-launch" in skipped
    assert "Lines 164–181 under “Core Functionality” (18 lines): no status" in skipped
    assert "Lines that look like items but are not gates (" in html
    discrepancies = re.search(r'<ul data-testid="preview-discrepancies">(.*?)</ul>', html, re.S).group(1)
    assert "Line 12: “95% complete” — the items say 84.6% (11 of 13 closed) (Admin/Platform)." in discrepancies
    assert "Line 10: “16/17 features ready” — the items say 16 of 18 (Store Dashboard)." in discrepancies


def test_htmx_gets_only_the_form_and_preview(login, project):
    response = login("editor").post(import_url(), {"text": DOC}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="import-area">') and "<html" not in html


def test_the_preview_page_makes_a_bounded_number_of_queries(login, project, django_assert_max_num_queries):
    client = login("editor")
    with django_assert_max_num_queries(12):
        assert preview(client, example_text("production-readiness-checklist.md")).status_code == 200


# --- New project from a document ------------------------------------------------------------


def test_new_project_from_a_document(login, owner):
    client = login("owner")
    url = reverse("io:new_import")
    assert client.get(url).status_code == 200
    html = client.post(url, {"text": example_text("launch-gates.md")}).content.decode()
    assert Project.objects.count() == 0
    assert "33 gates" in html and "Create the project with 33 gates" in html
    assert "The document states a verdict of NO-GO; Preflight computes its own" in html
    fields = {"document": hidden(html, "document"), "fingerprint": hidden(html, "fingerprint")}
    response = client.post(url, {**fields, "name": "Dealix", "slug": "dealix"})
    project = Project.objects.get(slug="dealix")
    assert response["Location"] == project.get_absolute_url()
    assert project.gates.count() == 33 and project.memberships.get().user == owner
    # The same slug again is refused beside the field, the preview kept.
    response = client.post(url, {**fields, "name": "Dealix", "slug": "dealix"})
    assert response.status_code == 422 and "is taken" in response.content.decode()
    assert Project.objects.count() == 1


def test_new_project_page_is_for_signed_in_users_only(client):
    assert client.get(reverse("io:new_import")).status_code == 302


# --- Exports ----------------------------------------------------------------------------------


def export_url(fmt, slug="apollo"):
    return reverse("io:export", args=[slug, fmt])


@pytest.mark.parametrize("persona", ["owner", "editor", "signer", "viewer", "staff"])
def test_members_download_the_decision_pack_and_csv(login, project, persona):
    client = login(persona)
    md = client.get(export_url("md"))
    assert md.status_code == 200 and md["Content-Type"] == "text/markdown; charset=utf-8"
    assert re.fullmatch(r'attachment; filename="apollo-decision-pack-\d{8}-\d{4}\.md"', md["Content-Disposition"])
    assert md.content.decode().startswith("# Apollo: launch decision pack")
    rows = list(csv.DictReader(io.StringIO(client.get(export_url("csv")).content.decode())))
    assert len(rows) == 6


@pytest.mark.parametrize(("persona", "status"), [("owner", 200), ("staff", 200), ("editor", 403), ("viewer", 403)])
def test_the_json_backup_is_for_owners(login, project, persona, status):
    response = login(persona).get(export_url("json"))
    assert response.status_code == status
    if status == 200:
        assert json.loads(response.content)["project"]["slug"] == "apollo"


def test_outsiders_and_unknown_exports_get_404(login, project):
    client = login("outsider")
    for fmt in ("md", "csv", "json"):
        assert client.get(export_url(fmt)).status_code == 404
    client = login("owner")
    assert client.get(export_url("pdf")).status_code == 404
    assert client.get(export_url("md") + "?snapshot=999999").status_code == 404
    assert client.get(export_url("md") + "?snapshot=abc").status_code == 404


def test_decision_pack_of_a_snapshot(login, project):
    snapshot = project.snapshots.latest()
    response = login("viewer").get(export_url("md") + f"?snapshot={snapshot.pk}")
    assert response.status_code == 200 and snapshot.state_hash in response.content.decode()
    assert f"apollo-decision-pack-snapshot-{snapshot.pk}.md" in response["Content-Disposition"]


def test_project_page_links_to_import_and_exports(login, project):
    html = login("owner").get(project.get_absolute_url()).content.decode()
    for url in (import_url(), export_url("md"), export_url("csv"), export_url("json")):
        assert f'href="{url}"' in html
    html = login("viewer").get(project.get_absolute_url()).content.decode()
    assert f'href="{import_url()}"' not in html and f'href="{export_url("json")}"' not in html
    assert f'href="{export_url("md")}"' in html


def test_export_queries_do_not_grow_with_the_gates(login, import_new, django_assert_max_num_queries):
    import_new(example_text("production-readiness-checklist.md"), name="Big", slug="big")
    client = login("owner")
    with django_assert_max_num_queries(14):
        assert client.get(export_url("md", "big")).status_code == 200
    with django_assert_max_num_queries(10):
        assert client.get(export_url("csv", "big")).status_code == 200
    with django_assert_max_num_queries(20):
        assert client.get(export_url("json", "big")).status_code == 200


def test_new_project_preview_with_a_template_matches_its_gates(login, template):
    client = login("owner")
    doc = "## Technical\n| ID | Gate | Status |\n|---|---|---|\n| T1 | Health check green | Done |\n| X1 | Extra | Open |\n"
    html = client.post(
        reverse("io:new_import"), {"text": doc, "template": template.pk, "name": "Apollo"}
    ).content.decode()
    assert "1 item matches its gates and sets their status, 1 new gate is added, and 5 of its gates are not in" in html
    fields = {"document": hidden(html, "document"), "fingerprint": hidden(html, "fingerprint")}
    client.post(reverse("io:new_import"), {**fields, "name": "Apollo", "slug": "apollo", "template": template.pk})
    project = Project.objects.get(slug="apollo")
    assert project.gates.count() == 7 and project.gates.get(code="T1").status == "closed"


def test_the_changes_page_links_to_the_decision_pack_of_its_snapshot(login, project):
    snapshot = project.snapshots.latest()
    html = login("viewer").get(reverse("audits:changes", args=["apollo"]) + f"?a={snapshot.pk}").content.decode()
    assert f'href="{export_url("md")}?snapshot={snapshot.pk}"' in html


# --- A gate template from a document (staff) --------------------------------------------------


def template_import_url():
    return reverse("io:template_import")


@pytest.mark.parametrize("persona", ["owner", "editor", "viewer", "outsider"])
def test_only_staff_import_templates_in_the_web_ui(login, persona, project):

    client = login(persona)
    before = row_counts()
    assert client.get(template_import_url()).status_code == 403
    response = client.post(template_import_url(), {"name": "Dealix", "text": example_text("launch-gates.md")})
    assert response.status_code == 403
    assert row_counts() == before


def test_anonymous_visitors_are_sent_to_log_in_for_template_import(client):
    response = client.get(template_import_url())
    assert response.status_code == 302 and "login" in response["Location"]


def test_staff_preview_a_template_then_create_it(login, staff):
    from gates.models import GateTemplate

    client = login("staff")
    assert client.get(template_import_url()).status_code == 200
    before = row_counts()
    response = client.post(template_import_url(), {"name": "Dealix gates", "text": example_text("launch-gates.md")})
    assert response.status_code == 200
    html = response.content.decode()
    assert "33 gate definitions" in html and "Create the template with 33 gates" in html
    assert row_counts() == before  # the preview wrote nothing
    response = client.post(
        template_import_url(),
        {
            "document": hidden(html, "document"),
            "fingerprint": hidden(html, "fingerprint"),
            "name": hidden(html, "name"),
            "slug": "",  # no key given: made from the name
        },
    )
    template = GateTemplate.objects.get(key="dealix-gates")
    assert response.status_code == 302 and response["Location"].endswith(f"/{template.pk}/change/")
    assert (template.name, template.version, template.definitions.count()) == ("Dealix gates", 1, 33)
    assert AuditEvent.objects.filter(actor_user=staff, channel="web").exists()


def test_a_template_preview_altered_on_the_way_is_refused(login):
    from gates.models import GateTemplate

    client = login("staff")
    html = client.post(template_import_url(), {"name": "Dealix", "text": "- [ ] Backups"}).content.decode()
    forged = signing.dumps(
        {"text": "- [ ] Other", "source": "x", "user": 0, "target": "new-template"}, salt=SIGNING_SALT
    )
    response = client.post(
        template_import_url(),
        {"document": forged, "fingerprint": hidden(html, "fingerprint"), "name": "Dealix", "slug": ""},
    )
    assert response.status_code == 400 and not GateTemplate.objects.filter(key="dealix").exists()
    response = client.post(template_import_url(), {"name": "", "text": "- [ ] Backups"})
    assert response.status_code == 422
