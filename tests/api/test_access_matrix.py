"""Every endpoint for every persona and token scope: members read (whatever the token's scope),
outsiders get 404, only the right roles write, and a refused write (403, 404) changes nothing."""

from datetime import timedelta

import pytest
from django.utils import timezone

from audits.models import AuditEvent
from audits.services import Actor
from projects import services
from projects.models import CheckResult, Membership, Project, ProjectGate, SignOff, SignOffRole, Stage

from .helpers import assert_error_shape

pytestmark = pytest.mark.django_db

PERSONAS = ["owner", "editor", "signer", "viewer", "outsider", "staff"]
P = "/api/v1/projects/apollo"


@pytest.fixture(autouse=True)
def prepared(project, owner, signer):
    """A waiver on S2 to lift, an HTTP check on O1 to remove, and the signer's sign-off of GA to
    read and revoke."""
    from projects.checks import gate_set_check

    gate = ProjectGate.objects.get(project=project, code="S2")
    services.gate_waive(
        actor=Actor(owner), gate=gate, version=gate.version, reason="r", expires_at=timezone.now() + timedelta(days=3)
    )
    checked = ProjectGate.objects.get(project=project, code="O1")
    gate_set_check(
        actor=Actor(owner), gate=checked, version=checked.version, spec={"url": "https://status.example.com/health"}
    )
    services.signoff_give(
        actor=Actor(signer),
        project=project,
        stage=Stage.objects.get(project=project, name="GA"),
        role=SignOffRole.objects.get(project=project, name="Product Owner"),
        decision="go",
    )


def read_urls(project):
    stage = Stage.objects.filter(project=project).order_by("order").first()
    snapshot = project.snapshots.first()
    signoff = SignOff.objects.get(project=project)
    return [
        P,
        f"{P}/readiness",
        f"{P}/gates",
        f"{P}/gates/T1",
        f"{P}/gates/T1/check-results",
        f"{P}/stages",
        f"{P}/stages/{stage.pk}",
        f"{P}/members",
        f"{P}/members/olivia-owner",
        f"{P}/signoffs",
        f"{P}/signoffs/{signoff.pk}",
        f"{P}/gates/T1/check",
        f"{P}/snapshots",
        f"{P}/snapshots/{snapshot.pk}",
        f"{P}/audit-events",
    ]


def project_state(project):
    """Everything a write under the project could change; a refused write leaves all of it as it was.

    The audit count alone would do (every write records an event in the same transaction), but a
    write that skipped its event would slip past it, so the rows themselves are compared too.
    """
    project = Project.objects.get(pk=project.pk)
    return {
        "project": (
            project.name,
            project.description,
            project.target_launch_date,
            project.lifecycle,
            project.current_stage_id,
        ),
        "gates": sorted(
            ProjectGate.objects.filter(project=project).values_list(
                "code", "version", "status", "notes", "waiver_reason", "waiver_expires_at", "is_automated"
            )
        ),
        "checks": sorted(ProjectGate.objects.filter(project=project).values_list("code", "check_spec")),
        "stages": sorted(Stage.objects.filter(project=project).values_list("pk", "name", "min_score", "min_closed")),
        "members": sorted(Membership.objects.filter(project=project).values_list("user__username", "role")),
        "signoffs": sorted(SignOff.objects.filter(project=project).values_list("pk", "decision", "state_hash")),
        "check_results": CheckResult.objects.filter(gate__project=project).count(),
        "audit_events": AuditEvent.objects.filter(project=project).count(),
        "projects": Project.objects.count(),
    }


def assert_refused_and_unchanged(response, status, project, before):
    body = assert_error_shape(response, status)
    assert project_state(project) == before
    return body


@pytest.mark.parametrize("scope", ["read", "write", "signoff"])
@pytest.mark.parametrize("persona", PERSONAS)
def test_reads(request, persona, scope, project, token_client):
    """Every scope includes reading: a write- or signoff-scoped token reads what a read one does."""
    client = token_client(request.getfixturevalue(persona), scope)
    for url in read_urls(project):
        response = client.get(url)
        if persona == "outsider":
            assert_error_shape(response, 404)
        else:
            assert response.status_code == 200, (persona, url, response.content)


def writes(project):
    stage = Stage.objects.filter(project=project).order_by("order").first()
    signoff = SignOff.objects.get(project=project)
    waived = f'"{ProjectGate.objects.get(project=project, code="S2").version}"'
    checked = f'"{ProjectGate.objects.get(project=project, code="O1").version}"'
    later = (timezone.now() + timedelta(days=3)).isoformat()
    return {
        "project update": ("patch", P, {"description": "d"}, {}, "write"),
        "gate update": ("patch", f"{P}/gates/T1", {"notes": "n"}, {"HTTP_IF_MATCH": '"1"'}, "write"),
        "gate waive": (
            "post",
            f"{P}/gates/T1/waive",
            {"reason": "r", "expires_at": later},
            {"HTTP_IF_MATCH": '"1"'},
            "write",
        ),
        "gate unwaive": ("post", f"{P}/gates/S2/unwaive", {"status": "open"}, {"HTTP_IF_MATCH": waived}, "write"),
        "gate check set": (
            "put",
            f"{P}/gates/T1/check",
            {"url": "https://status.example.com/health"},
            {"HTTP_IF_MATCH": '"1"'},
            "write",
        ),
        "gate check remove": ("delete", f"{P}/gates/O1/check", None, {"HTTP_IF_MATCH": checked}, "write"),
        "check result": ("post", f"{P}/gates/T1/check-results", {"passed": True, "source": "ci"}, {}, "write"),
        "stage update": ("patch", f"{P}/stages/{stage.pk}", {"min_closed": 1}, {}, "write"),
        "member add": ("post", f"{P}/members", {"user": "oscar-outsider", "role": "viewer"}, {}, "write"),
        "member update": ("patch", f"{P}/members/vera-viewer", {"role": "editor", "signoff_roles": []}, {}, "write"),
        "member remove": ("delete", f"{P}/members/vera-viewer", None, {}, "write"),
        "sign-off": (
            "post",
            f"{P}/signoffs",
            {"stage": "Soft launch", "role": "Product Owner", "decision": "go"},
            {},
            "signoff",
        ),
        "sign-off revoke": ("delete", f"{P}/signoffs/{signoff.pk}", None, {}, "signoff"),
    }


ALLOWED = {
    "project update": {"owner": 200, "staff": 200},
    "gate update": {"owner": 200, "editor": 200, "staff": 200},
    "gate waive": {"owner": 200, "staff": 200},
    "gate unwaive": {"owner": 200, "staff": 200},
    "gate check set": {"owner": 200, "editor": 200, "staff": 200},
    "gate check remove": {"owner": 200, "editor": 200, "staff": 200},
    "check result": {"owner": 201, "editor": 201, "staff": 201},
    "stage update": {"owner": 200, "staff": 200},
    "member add": {"owner": 201, "staff": 201},
    "member update": {"owner": 200, "staff": 200},
    "member remove": {"owner": 204, "staff": 204},
    # Only people holding the role sign; staff manage projects but hold no sign-off role here.
    "sign-off": {"owner": 201, "signer": 201},
    # Its signer, or a project's owner (staff manage every project).
    "sign-off revoke": {"owner": 204, "signer": 204, "staff": 204},
}


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("operation", list(ALLOWED))
def test_writes(request, persona, operation, project, outsider, token_client):
    method, url, body, headers, scope = writes(project)[operation]
    client = token_client(request.getfixturevalue(persona), scope)
    before = project_state(project)
    response = getattr(client, method)(url, body, format="json", **headers)
    expected = 404 if persona == "outsider" else ALLOWED[operation].get(persona, 403)
    if expected >= 400:
        assert_refused_and_unchanged(response, expected, project, before)
    else:
        assert response.status_code == expected, (persona, operation, response.content)
        # The fingerprint sees what this write changes, so "unchanged" above means something.
        assert project_state(project) != before, operation


@pytest.mark.parametrize("operation", list(ALLOWED))
def test_read_scoped_tokens_write_nothing(operation, owner, project, token_client):
    method, url, body, headers, _ = writes(project)[operation]
    client = token_client(owner, "read")
    before = project_state(project)
    response = getattr(client, method)(url, body, format="json", **headers)
    assert_refused_and_unchanged(response, 403, project, before)


@pytest.mark.parametrize("operation", list(ALLOWED))
def test_tokens_limited_to_another_project_see_404(operation, owner, project, template, token_client, run_on_commit):
    from audits.services import Actor
    from projects import services

    with run_on_commit():
        other = services.project_create_from_template(actor=Actor(owner), template=template, name="Other")
    method, url, body, headers, scope = writes(project)[operation]
    client = token_client(owner, scope, projects=[other])
    before = project_state(project)
    assert_refused_and_unchanged(getattr(client, method)(url, body, format="json", **headers), 404, project, before)
    for read in read_urls(project):
        assert_error_shape(client.get(read), 404)


SIGNOFF_OPERATIONS = ["sign-off", "sign-off revoke"]
WRITE_SCOPED = [op for op in ALLOWED if op not in SIGNOFF_OPERATIONS]


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("operation", SIGNOFF_OPERATIONS)
def test_sessions_give_and_revoke_no_sign_offs(request, persona, operation, project, api):
    """Only a signoff-scoped token signs over the API: a session signs on the sign-off page, which
    asks for a recent re-authentication. Members learn why; outsiders still see nothing."""
    method, url, body, headers, _ = writes(project)[operation]
    signoffs = list(SignOff.objects.values_list("pk", "decision", "state_hash"))
    response = getattr(api(user=request.getfixturevalue(persona)), method)(url, body, format="json", **headers)
    if persona == "outsider":
        assert_error_shape(response, 404)
    else:
        assert "signoff-scoped token" in assert_error_shape(response, 403)["message"]
    assert list(SignOff.objects.values_list("pk", "decision", "state_hash")) == signoffs


@pytest.mark.parametrize("operation", WRITE_SCOPED)
def test_signoff_scoped_tokens_write_no_gates_members_or_stages(operation, owner, project, token_client):
    method, url, body, headers, scope = writes(project)[operation]
    assert scope == "write"
    client = token_client(owner, "signoff")
    before = project_state(project)
    response = getattr(client, method)(url, body, format="json", **headers)
    assert "scope" in assert_refused_and_unchanged(response, 403, project, before)["message"]


CREATE = ("/api/v1/projects", {"name": "Zephyr", "slug": "zephyr"})


@pytest.mark.parametrize("persona", PERSONAS)
def test_any_signed_in_person_creates_a_project_with_a_write_token(request, persona, template, token_client):
    url, body = CREATE
    response = token_client(request.getfixturevalue(persona), "write").post(
        url, {**body, "template": template.pk}, format="json"
    )
    assert response.status_code == 201, (persona, response.content)
    assert Project.objects.get(slug="zephyr").owner.username == response.json()["owner"]


@pytest.mark.parametrize("scope", ["read", "signoff"])
def test_read_and_signoff_tokens_create_no_project(scope, owner, template, token_client):
    url, body = CREATE
    response = token_client(owner, scope).post(url, {**body, "template": template.pk}, format="json")
    assert_error_shape(response, 403)
    assert not Project.objects.filter(slug="zephyr").exists()
