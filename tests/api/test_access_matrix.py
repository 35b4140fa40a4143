"""Every endpoint for every persona: members read, outsiders get 404, only the right roles write,
and a read-scoped token writes nothing anywhere."""

from datetime import timedelta

import pytest
from django.utils import timezone

from audits.services import Actor
from projects import services
from projects.models import Project, ProjectGate, SignOff, SignOffRole, Stage

from .helpers import assert_error_shape

pytestmark = pytest.mark.django_db

PERSONAS = ["owner", "editor", "signer", "viewer", "outsider", "staff"]
P = "/api/v1/projects/apollo"


@pytest.fixture(autouse=True)
def prepared(project, owner, signer):
    """A waiver on S2 to lift, and the signer's sign-off of GA to read and revoke."""
    gate = ProjectGate.objects.get(project=project, code="S2")
    services.gate_waive(
        actor=Actor(owner), gate=gate, version=gate.version, reason="r", expires_at=timezone.now() + timedelta(days=3)
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


@pytest.mark.parametrize("persona", PERSONAS)
def test_reads(request, persona, project, token_client):
    client = token_client(request.getfixturevalue(persona), "read")
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
        "gate check remove": ("delete", f"{P}/gates/T1/check", None, {"HTTP_IF_MATCH": '"1"'}, "write"),
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
    user = request.getfixturevalue(persona)
    response = getattr(token_client(user, scope), method)(url, body, format="json", **headers)
    expected = 404 if persona == "outsider" else ALLOWED[operation].get(persona, 403)
    if expected >= 400:
        assert_error_shape(response, expected)
    else:
        assert response.status_code == expected, (persona, operation, response.content)


@pytest.mark.parametrize("operation", list(ALLOWED))
def test_read_scoped_tokens_write_nothing(operation, owner, project, token_client):
    method, url, body, headers, _ = writes(project)[operation]
    response = getattr(token_client(owner, "read"), method)(url, body, format="json", **headers)
    assert_error_shape(response, 403)


@pytest.mark.parametrize("operation", list(ALLOWED))
def test_tokens_limited_to_another_project_see_404(operation, owner, project, template, token_client, run_on_commit):
    from audits.services import Actor
    from projects import services

    with run_on_commit():
        other = services.project_create_from_template(actor=Actor(owner), template=template, name="Other")
    method, url, body, headers, scope = writes(project)[operation]
    client = token_client(owner, scope, projects=[other])
    assert_error_shape(getattr(client, method)(url, body, format="json", **headers), 404)
    for read in read_urls(project):
        assert_error_shape(client.get(read), 404)


WRITE_SCOPED = [op for op in ALLOWED if op not in ("sign-off", "sign-off revoke")]


@pytest.mark.parametrize("operation", WRITE_SCOPED)
def test_signoff_scoped_tokens_write_no_gates_members_or_stages(operation, owner, project, token_client):
    method, url, body, headers, scope = writes(project)[operation]
    assert scope == "write"
    versions = dict(ProjectGate.objects.filter(project=project).values_list("code", "version"))
    response = getattr(token_client(owner, "signoff"), method)(url, body, format="json", **headers)
    assert "scope" in assert_error_shape(response, 403)["message"]
    assert dict(ProjectGate.objects.filter(project=project).values_list("code", "version")) == versions


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
