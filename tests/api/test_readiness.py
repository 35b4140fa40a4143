"""GET /projects/{slug}/readiness: the deploy gate's question, cacheable with an ETag."""

import pytest

from audits.services import Actor
from projects import services
from projects.models import ProjectGate
from projects.selectors import project_readiness

from .helpers import assert_error_shape

pytestmark = pytest.mark.django_db

URL = "/api/v1/projects/apollo/readiness"


def test_readiness_body_matches_the_rules(viewer, project, token_client):
    response = token_client(viewer).get(URL)
    assert response.status_code == 200
    body = response.json()
    expected = project_readiness(project).to_dict()
    assert body["project"] == "apollo" and body["stage"] == "Soft launch"
    for key in ("score", "verdict", "reasons", "categories", "signoffs", "counts", "state_hash"):
        assert body[key] == expected[key], key
    assert body["verdict"] == "no_go"
    assert response["Cache-Control"] == "private, no-cache"
    assert response["ETag"].startswith('"')


def test_etag_gives_304_until_the_state_changes(owner, project, token_client, run_on_commit):
    client = token_client(owner)
    etag = client.get(URL)["ETag"]
    not_modified = client.get(URL, HTTP_IF_NONE_MATCH=etag)
    assert not_modified.status_code == 304 and not_modified.content == b""
    gate = ProjectGate.objects.get(project=project, code="T1")
    with run_on_commit():
        services.gate_update(actor=Actor(owner), gate=gate, version=gate.version, status="closed")
    changed = client.get(URL, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag


def test_stale_cache_is_not_served(owner, project, token_client):
    """A change whose recompute has not run yet is still reflected (the live rules answer)."""
    client = token_client(owner)
    before = client.get(URL).json()
    gate = ProjectGate.objects.get(project=project, code="T1")
    services.gate_update(actor=Actor(owner), gate=gate, version=gate.version, status="closed")  # no on-commit run
    after = client.get(URL).json()
    assert after["state_hash"] != before["state_hash"]
    assert after["state_hash"] == project_readiness(project).state_hash


def test_another_stage_and_unknown_stage(viewer, project, token_client):
    client = token_client(viewer)
    ga = client.get(URL + "?stage=GA").json()
    assert ga["stage"] == "GA"
    assert ga["state_hash"] and ga["verdict"] == "no_go"
    body = assert_error_shape(client.get(URL + "?stage=Nope"), 400)
    assert "stage" in body["fields"]


def test_access(outsider, owner, project, token_client, make_token, api, django_assert_max_num_queries):
    assert_error_shape(token_client(outsider).get(URL), 404)
    client = token_client(owner)
    client.get(URL)
    with django_assert_max_num_queries(6):
        assert client.get(URL).status_code == 200
