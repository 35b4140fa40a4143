"""/api/v1/ import preview, project import and exports, for every persona and token scope."""

import csv
import io

import pytest
from rest_framework.test import APIClient

from audits.models import AuditEvent
from audits.services import Actor
from projects import services
from projects.models import ProjectGate
from tokens.services import token_create

from .conftest import example_text, row_counts

pytestmark = pytest.mark.django_db

DOC = """## Technical
| ID | Gate | Status | Notes |
|---|---|---|---|
| T1 | Health check green | Done | green |
| T7 | Cache warmed | Open | |
| T8 | Stray | Sort of | |
2/3 gates ready
"""


@pytest.fixture
def api(request):
    """api("editor", scope="write") -> an APIClient with a fresh token of that persona; scope=None: session."""

    def client(persona, scope="write", projects=()):
        user = request.getfixturevalue(persona)
        c = APIClient()
        if scope is None:
            c.force_login(user)
        else:
            _, secret = token_create(actor=Actor(user), user=user, name="CI", scope=scope, projects=projects)
            c.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        return c

    return client


def gate(project, code):
    return ProjectGate.objects.get(project=project, code=code)


# --- Preview --------------------------------------------------------------------------------


def test_preview_of_a_new_document_writes_nothing(api, project):
    client = api("viewer", scope="read")
    before = row_counts()
    response = client.post(
        "/api/v1/imports/preview", {"markdown": example_text("platform-launch-readiness.md")}, format="json"
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert row_counts() == before
    counts = body["counts"]
    assert (counts["closed"], counts["partial"], counts["open"], counts["gates"], counts["unreadable"]) == (
        53,
        1,
        6,
        60,
        10,
    )
    assert [(d["text"], d["actual"], d["actual_total"], d["percent"]) for d in body["discrepancies"]] == [
        ("95% Feature Complete", 53, 60, True),
        ("95% complete", 16, 18, True),
        ("16/17 features ready", 16, 18, False),
        ("15/16 features ready", 14, 16, False),
        ("95% complete", 11, 13, True),
        ("95% Complete", 16, 18, True),
        ("95% Complete", 11, 13, True),
    ]
    assert body["encoding"] == "utf-8" and body["notices"] == []
    post_launch = next(s for s in body["skipped"] if s["section"] == "Post-Launch Features (Slice 5)")
    assert (post_launch["line_nos"], post_launch["reason"].split(":")[0]) == ([95, 96, 97, 98, 99], "post-launch")
    assert counts["skipped"] == sum(len(s["line_nos"]) for s in body["skipped"]) > 0
    email = next(g for g in body["gates"] if g["title"] == "Email System")
    assert (email["status"], email["action"]) == ("partial", "create") and "Email System" in email["line"]
    assert {u["line_no"] for u in body["unreadable"]} >= {147, 154}


def test_preview_into_a_project_needs_write_access(api, project):
    ok = api("editor").post("/api/v1/imports/preview", {"markdown": DOC, "project": "apollo"}, format="json")
    assert ok.status_code == 200
    t1 = next(g for g in ok.json()["gates"] if g["code"] == "T1")
    assert (t1["action"], t1["changes"]["status"]) == ("update", {"from": "open", "to": "closed"})
    denied = api("viewer").post("/api/v1/imports/preview", {"markdown": DOC, "project": "apollo"}, format="json")
    assert denied.status_code == 403 and denied.json()["code"] == "forbidden"
    hidden = api("outsider").post("/api/v1/imports/preview", {"markdown": DOC, "project": "apollo"}, format="json")
    assert hidden.status_code == 404 and hidden.json()["code"] == "not_found"


def test_bad_input_is_a_400_in_the_error_shape(api, project):
    client = api("editor")
    response = client.post("/api/v1/imports/preview", {}, format="json")
    assert response.status_code == 400 and "markdown" in response.json()["fields"]
    response = client.post("/api/v1/imports/preview", {"markdown": 5, "project": "not a slug!"}, format="json")
    assert response.status_code == 400 and "project" in response.json()["fields"]
    response = client.post("/api/v1/projects/apollo/import", "not json", content_type="application/json")
    assert response.status_code == 400


def test_anonymous_requests_are_refused(project):
    response = APIClient().post("/api/v1/imports/preview", {"markdown": DOC}, format="json")
    assert response.status_code in (401, 403)


# --- Import into a project --------------------------------------------------------------------


def test_dry_run_then_apply_with_the_fingerprint(api, project):
    client = api("editor")
    before = row_counts()
    dry = client.post("/api/v1/projects/apollo/import", {"markdown": DOC, "dry_run": True}, format="json")
    assert dry.status_code == 200
    assert (dry.json()["applied"], dry.json()["created"], dry.json()["updated"]) == (False, 1, 1)
    assert row_counts() == before
    fingerprint = dry.json()["preview"]["fingerprint"]
    done = client.post(
        "/api/v1/projects/apollo/import",
        {"markdown": DOC, "fingerprint": fingerprint, "source": "ci.md"},
        format="json",
    )
    assert done.status_code == 200
    assert (done.json()["applied"], done.json()["created"], done.json()["updated"]) == (True, 1, 1)
    assert gate(project, "T1").status == "closed"
    event = AuditEvent.objects.get(project=project, action="project.imported")
    assert (event.channel, event.after["source"]) == ("api", "ci.md")
    assert event.actor_label.startswith("eddie-editor via token")
    # Re-importing the same document changes nothing.
    again = client.post("/api/v1/projects/apollo/import", {"markdown": DOC}, format="json")
    assert (again.json()["created"], again.json()["updated"], again.json()["unchanged"]) == (0, 0, 2)


def test_a_stale_fingerprint_is_a_409_and_writes_nothing(api, project, owner):
    client = api("editor")
    fingerprint = client.post("/api/v1/imports/preview", {"markdown": DOC, "project": "apollo"}, format="json").json()[
        "fingerprint"
    ]
    t1 = gate(project, "T1")
    services.gate_update(actor=Actor(owner), gate=t1, version=t1.version, notes="moved on")
    before = row_counts()
    response = client.post(
        "/api/v1/projects/apollo/import", {"markdown": DOC, "fingerprint": fingerprint}, format="json"
    )
    assert response.status_code == 409 and response.json()["code"] == "conflict"
    assert "changed since this preview" in response.json()["message"]
    assert row_counts() == before


@pytest.mark.parametrize(
    ("persona", "scope", "status"),
    [
        ("owner", "write", 200),
        ("editor", None, 200),
        ("editor", "read", 403),
        ("editor", "signoff", 403),
        ("signer", "write", 403),
        ("viewer", "write", 403),
        ("outsider", "write", 404),
        ("staff", "write", 200),
    ],
)
def test_who_may_import(api, project, persona, scope, status):
    client = api(persona, scope=scope)
    before = row_counts()
    response = client.post("/api/v1/projects/apollo/import", {"markdown": DOC}, format="json")
    assert response.status_code == status, response.json()
    if status != 200:
        assert row_counts() == before and response.json()["status"] == status


def test_session_calls_keep_csrf(project, editor):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(editor)
    response = client.post("/api/v1/projects/apollo/import", {"markdown": DOC}, format="json")
    assert response.status_code == 403


def test_a_token_limited_to_other_projects_sees_no_project(api, project, owner, template):
    other = services.project_create_from_template(actor=Actor(owner), template=template, name="Other", slug="other")
    client = api("owner", projects=[other])
    assert client.post("/api/v1/projects/apollo/import", {"markdown": DOC}, format="json").status_code == 404
    assert client.get("/api/v1/projects/apollo/export?format=md").status_code == 404
    assert client.get("/api/v1/projects/other/export?format=md").status_code == 200


def test_waivers_need_an_owner(api, project):
    doc = "| ID | Gate | Status |\n|---|---|---|\n| T1 | Health check green | Waived |\n"
    response = api("editor").post("/api/v1/projects/apollo/import", {"markdown": doc}, format="json")
    assert response.status_code == 403 and "owners" in response.json()["message"]
    assert api("owner").post("/api/v1/projects/apollo/import", {"markdown": doc}, format="json").status_code == 200
    assert gate(project, "T1").status == "waived"


# --- Exports --------------------------------------------------------------------------------


def test_exports_in_each_format(api, project):
    client = api("viewer", scope="read")
    md = client.get("/api/v1/projects/apollo/export?format=md")
    assert md.status_code == 200 and md["Content-Type"] == "text/markdown; charset=utf-8"
    assert md.content.decode().startswith("# Apollo: launch decision pack")
    rows = list(csv.DictReader(io.StringIO(client.get("/api/v1/projects/apollo/export?format=csv").content.decode())))
    assert len(rows) == 6 and rows[0]["code"]
    snapshot = project.snapshots.latest()
    pack = client.get(f"/api/v1/projects/apollo/export?format=md&snapshot={snapshot.pk}")
    assert snapshot.state_hash in pack.content.decode()
    assert client.get("/api/v1/projects/apollo/export?format=json").status_code == 403  # owners only
    backup = api("owner", scope="read").get("/api/v1/projects/apollo/export?format=json")
    assert backup.status_code == 200 and backup.json()["project"]["slug"] == "apollo"


def test_export_errors(api, project):
    client = api("owner", scope="read")
    response = client.get("/api/v1/projects/apollo/export?format=pdf")
    assert response.status_code == 400 and "format" in response.json()["fields"]
    assert client.get("/api/v1/projects/apollo/export").status_code == 400
    assert client.get("/api/v1/projects/apollo/export?format=md&snapshot=999999").status_code == 404
    assert client.get("/api/v1/projects/apollo/export?format=csv&snapshot=1").status_code == 400
    assert api("outsider", scope="read").get("/api/v1/projects/apollo/export?format=md").status_code == 404


def test_api_import_query_count_does_not_grow_with_the_document(api, project, django_assert_max_num_queries):
    client = api("editor")
    with django_assert_max_num_queries(12):
        response = client.post(
            "/api/v1/imports/preview",
            {"markdown": example_text("production-readiness-checklist.md"), "project": "apollo"},
            format="json",
        )
    assert response.status_code == 200 and response.json()["counts"]["gates"] == 380


# --- A new project, a new template ----------------------------------------------------------


def test_a_new_project_from_a_document_previews_then_creates_owned_by_the_token_user(api, outsider):
    from projects.models import Project

    client = api("outsider", scope="write")
    text = example_text("launch-gates.md")
    before = row_counts()  # after the token was made (that is audited)
    response = client.post("/api/v1/imports/project", {"markdown": text, "dry_run": True}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["applied"], body["project"], body["gates"]) == (False, None, 33)
    assert body["preview"]["counts"]["create"] == 33
    assert row_counts() == before  # a dry run writes nothing

    response = client.post(
        "/api/v1/imports/project", {"markdown": text, "name": "Dealix", "source": "launch-gates.md"}, format="json"
    )
    assert response.status_code == 201, response.json()
    assert (response.json()["project"], response.json()["gates"]) == ("dealix", 33)
    project = Project.objects.get(slug="dealix")
    assert project.owner == outsider and project.memberships.get().user == outsider
    event = AuditEvent.objects.get(project=project, action="project.imported")
    assert (event.actor_user, event.channel, event.after["created"]) == (outsider, "api", 33)
    # The slug is taken now: a field error, nothing written.
    before = row_counts()
    again = client.post("/api/v1/imports/project", {"markdown": text, "name": "Dealix"}, format="json")
    assert again.status_code == 400 and "taken" in str(again.json())
    assert row_counts() == before


def test_a_new_project_from_a_document_needs_write_scope_and_readable_gates(api):
    reader, writer = api("owner", scope="read"), api("owner")
    before = row_counts()
    response = reader.post("/api/v1/imports/project", {"markdown": "- [ ] A"}, format="json")
    assert response.status_code == 403
    response = writer.post("/api/v1/imports/project", {"markdown": "just prose", "name": "P"}, format="json")
    assert response.status_code == 400 and response.json()["message"]
    response = writer.post("/api/v1/imports/project", {"template": 999999, "markdown": "- [ ] A"}, format="json")
    assert response.status_code == 400 and "template" in str(response.json())
    assert row_counts() == before


def test_a_new_project_on_a_template_counts_the_template_gates(api, template):
    text = "## Technical\n- [x] Health check green\n- [ ] Brand new gate\n"
    body = {"markdown": text, "template": template.pk, "name": "On template"}
    preview = api("owner").post("/api/v1/imports/project", {**body, "dry_run": True}, format="json").json()
    assert (preview["gates"], preview["preview"]["counts"]["update"], preview["preview"]["counts"]["create"]) == (
        7,
        1,
        1,
    )
    response = api("owner").post("/api/v1/imports/project", body, format="json")
    assert response.status_code == 201 and response.json()["gates"] == 7


def test_only_staff_import_templates_through_the_api(api):
    from gates.models import GateTemplate

    text = example_text("launch-gates.md")
    clients = {persona: api(persona) for persona in ("owner", "outsider", "staff")}  # tokens are audited
    before = row_counts()
    for persona in ("owner", "outsider"):
        for dry_run in (True, False):
            response = clients[persona].post(
                "/api/v1/imports/template", {"markdown": text, "name": "Dealix", "dry_run": dry_run}, format="json"
            )
            assert response.status_code == 403
    response = clients["staff"].post(
        "/api/v1/imports/template", {"markdown": text, "name": "Dealix gates", "dry_run": True}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert (response.json()["key"], response.json()["preview"]["counts"]["gates"]) == ("dealix-gates", 33)
    assert row_counts() == before  # previews wrote nothing
    response = clients["staff"].post(
        "/api/v1/imports/template", {"markdown": text, "name": "Dealix gates"}, format="json"
    )
    assert response.status_code == 201, response.json()
    template = GateTemplate.objects.get(pk=response.json()["template"])
    assert (template.key, template.version, template.definitions.count()) == ("dealix-gates", 1, 33)
    response = clients["staff"].post("/api/v1/imports/template", {"markdown": text}, format="json")
    assert response.status_code == 400 and "name" in str(response.json())
