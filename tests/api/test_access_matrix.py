"""Every endpoint for every persona: members read, outsiders get 404, only the right roles write,
and a read-scoped token writes nothing anywhere."""

from datetime import timedelta

import pytest
from django.utils import timezone

from projects.models import Stage

from .helpers import assert_error_shape

pytestmark = pytest.mark.django_db

PERSONAS = ["owner", "editor", "signer", "viewer", "outsider", "staff"]
P = "/api/v1/projects/apollo"


def read_urls(project):
    stage = Stage.objects.filter(project=project).order_by("order").first()
    snapshot = project.snapshots.first()
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
        "check result": ("post", f"{P}/gates/T1/check-results", {"passed": True, "source": "ci"}, {}, "write"),
        "stage update": ("patch", f"{P}/stages/{stage.pk}", {"min_closed": 1}, {}, "write"),
        "member add": ("post", f"{P}/members", {"user": "oscar-outsider", "role": "viewer"}, {}, "write"),
        "member remove": ("delete", f"{P}/members/vera-viewer", None, {}, "write"),
        "sign-off": (
            "post",
            f"{P}/signoffs",
            {"stage": "Soft launch", "role": "Product Owner", "decision": "go"},
            {},
            "signoff",
        ),
    }


ALLOWED = {
    "project update": {"owner": 200, "staff": 200},
    "gate update": {"owner": 200, "editor": 200, "staff": 200},
    "gate waive": {"owner": 200, "staff": 200},
    "check result": {"owner": 201, "editor": 201, "staff": 201},
    "stage update": {"owner": 200, "staff": 200},
    "member add": {"owner": 201, "staff": 201},
    "member remove": {"owner": 204, "staff": 204},
    # Only people holding the role sign; staff manage projects but hold no sign-off role here.
    "sign-off": {"owner": 201, "signer": 201},
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
