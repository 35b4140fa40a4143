"""POST /gates/{code}/check-results: automated results, with Idempotency-Key making retries safe."""

import pytest

from audits.models import AuditEvent
from projects.models import CheckResult, ProjectGate

from .helpers import assert_error_shape

pytestmark = pytest.mark.django_db

URL = "/api/v1/projects/apollo/gates/T2/check-results"
PASS = {"passed": True, "source": "ci/load-test", "details": "p95 180 ms", "data": {"p95_ms": 180}}


@pytest.fixture
def automated(project):
    ProjectGate.objects.filter(project=project, code="T2").update(is_automated=True)
    return project


def test_a_pass_closes_an_automated_gate(editor, automated, token_client):
    response = token_client(editor, "write").post(URL, PASS, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["gate"] == "T2" and body["passed"] is True and body["data"] == {"p95_ms": 180}
    assert response["Idempotent-Replayed"] == "false"
    assert ProjectGate.objects.get(project=automated, code="T2").status == "closed"
    listed = token_client(editor).get(URL).json()
    assert [r["id"] for r in listed["results"]] == [body["id"]]


def test_same_key_and_body_returns_the_first_response_and_records_nothing(editor, automated, token_client):
    client = token_client(editor, "write")
    first = client.post(URL, PASS, format="json", HTTP_IDEMPOTENCY_KEY="build-42")
    events = AuditEvent.objects.count()
    # The same body with its keys in another order is the same request.
    again = client.post(URL, dict(reversed(list(PASS.items()))), format="json", HTTP_IDEMPOTENCY_KEY="build-42")
    assert again.status_code == first.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert CheckResult.objects.count() == 1 and AuditEvent.objects.count() == events
    assert ProjectGate.objects.get(project=automated, code="T2").version == 2


def test_same_key_with_another_body_is_409(editor, automated, token_client):
    client = token_client(editor, "write")
    client.post(URL, PASS, format="json", HTTP_IDEMPOTENCY_KEY="build-42")
    body = assert_error_shape(
        client.post(URL, {**PASS, "passed": False}, format="json", HTTP_IDEMPOTENCY_KEY="build-42"), 409
    )
    assert "Idempotency-Key" in body["message"]
    assert CheckResult.objects.count() == 1
    assert ProjectGate.objects.get(project=automated, code="T2").status == "closed"


def test_without_a_key_every_post_records(editor, automated, token_client):
    client = token_client(editor, "write")
    client.post(URL, PASS, format="json")
    client.post(URL, PASS, format="json")
    assert CheckResult.objects.count() == 2


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"source": "ci"}, "passed"),
        ({"passed": True}, "source"),
        ({"passed": "maybe", "source": "ci"}, "passed"),
        ({"passed": True, "source": "x" * 201}, "source"),
        ({"passed": True, "source": "ci", "data": [1, 2]}, "data"),
    ],
)
def test_bad_results_are_400(editor, automated, token_client, payload, field):
    body = assert_error_shape(token_client(editor, "write").post(URL, payload, format="json"), 400)
    assert field in body["fields"]
    assert not CheckResult.objects.exists()


def test_bad_idempotency_keys_and_bodies_are_400(editor, automated, token_client):
    client = token_client(editor, "write")
    assert_error_shape(client.post(URL, PASS, format="json", HTTP_IDEMPOTENCY_KEY="k" * 201), 400)
    assert_error_shape(client.post(URL, "{not json", content_type="application/json"), 400)
    assert_error_shape(client.post(URL, "passed=1", content_type="application/x-www-form-urlencoded"), 415)
    assert not CheckResult.objects.exists()


def test_access(viewer, outsider, editor, automated, token_client):
    assert_error_shape(token_client(viewer, "write").post(URL, PASS, format="json"), 403)
    assert_error_shape(token_client(editor, "read").post(URL, PASS, format="json"), 403)
    assert_error_shape(token_client(outsider, "write").post(URL, PASS, format="json"), 404)
    assert_error_shape(token_client(outsider, "write").get(URL), 404)
    assert not CheckResult.objects.exists()


@pytest.mark.parametrize(
    "data",
    [
        {"log": "a\x00b"},
        {"a\x00": 1},
        {"nested": [{"x": "\ud800"}]},
        {"big": "x" * (70 * 1024)},
    ],
)
def test_data_the_database_cannot_keep_is_400(editor, automated, token_client, data):
    import json

    body = json.dumps({"passed": True, "source": "ci", "data": data})
    response = token_client(editor, "write").post(URL, body, content_type="application/json")
    assert "data" in assert_error_shape(response, 400)["fields"]
    assert not CheckResult.objects.exists()


@pytest.mark.parametrize("code", ["%00", "T1%00", "x" * 300])
def test_odd_gate_codes_are_404(editor, automated, token_client, code):
    assert_error_shape(token_client(editor).get(f"/api/v1/projects/apollo/gates/{code}"), 404)
    assert_error_shape(
        token_client(editor, "write").post(f"/api/v1/projects/apollo/gates/{code}/check-results", PASS, format="json"),
        404,
    )


@pytest.mark.parametrize(
    "query", ["page=99999999999999999999999", "page=-1", "page=abc", "page_size=-5", "page_size=abc"]
)
def test_odd_paging_never_fails(editor, automated, token_client, query):
    response = token_client(editor).get(f"/api/v1/projects/apollo/gates?{query}")
    assert response.status_code in (200, 404), response.content
    if response.status_code == 404:
        assert_error_shape(response, 404)
