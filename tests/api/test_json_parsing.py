"""Request bodies and query strings no view can use: JSON nested too deeply (400), a body over
DATA_UPLOAD_MAX_MEMORY_SIZE (413), more than DATA_UPLOAD_MAX_NUMBER_FIELDS parameters (400). Each is
refused in the usual shape, never a 500, and writes nothing."""

import pytest

from portal.api_common import JSON_MAX_DEPTH
from projects.models import CheckResult, Project, ProjectGate

from .helpers import assert_error_shape

pytestmark = pytest.mark.django_db

GATE = "/api/v1/projects/apollo/gates/T2"


def _post_raw(client, url, body, method="post", **headers):
    return getattr(client, method)(url, data=body, content_type="application/json", **headers)


@pytest.mark.parametrize("body", ["[" * 200_000, '{"a":' * 100_000 + "1" + "}" * 100_000])
def test_deeply_nested_json_creating_a_project_is_a_400(editor, project, token_client, body):
    response = _post_raw(token_client(editor, "write"), "/api/v1/projects", body)
    result = assert_error_shape(response, 400)
    assert "nest" in result["message"]
    assert Project.objects.count() == 1


def test_deeply_nested_json_on_a_check_result_is_a_400(editor, project, token_client):
    url = f"{GATE}/check-results"
    response = _post_raw(token_client(editor, "write"), url, "[" * 200_000)
    assert_error_shape(response, 400)
    assert not CheckResult.objects.exists()


def test_deeply_nested_json_updating_a_gate_is_a_400(editor, project, token_client):
    response = _post_raw(token_client(editor, "write"), GATE, "[" * 200_000, method="patch", HTTP_IF_MATCH='"1"')
    assert_error_shape(response, 400)
    assert ProjectGate.objects.get(project=project, code="T2").version == 1


def test_json_just_past_the_depth_limit_is_refused_and_at_the_limit_accepted(editor, project, token_client):
    client = token_client(editor, "write")
    url = f"{GATE}/check-results"

    def nested(levels):  # `levels` levels of objects, the outer one being the request itself
        inner = "180"
        for _ in range(levels - 1):
            inner = '{"x":' + inner + "}"
        return '{"passed":true,"source":"ci","data":' + inner + "}"

    too_deep = _post_raw(client, url, nested(JSON_MAX_DEPTH + 1))
    assert "nest" in assert_error_shape(too_deep, 400)["message"]
    assert _post_raw(client, url, nested(JSON_MAX_DEPTH)).status_code == 201
    assert CheckResult.objects.count() == 1


# --- request bodies and query strings Django refuses to read -------------------------------------

PROJECT = "/api/v1/projects/apollo"


def _state(project):
    """What a refused request must leave alone: the audit trail (every write records an event),
    the projects, the gates' versions, the members and the check results."""
    from audits.models import AuditEvent

    return (
        AuditEvent.objects.count(),
        Project.objects.count(),
        dict(ProjectGate.objects.filter(project=project).values_list("code", "version")),
        sorted(project.memberships.values_list("user__username", "role")),
        CheckResult.objects.count(),
    )


WRITES = [
    ("post", "/api/v1/projects", {}),
    ("patch", PROJECT, {}),
    ("patch", GATE, {"HTTP_IF_MATCH": '"1"'}),
    ("post", f"{GATE}/check-results", {}),
    ("post", f"{PROJECT}/members", {}),
    ("put", "/api/v1/notifications/preferences", {}),
]


@pytest.mark.parametrize(("method", "url", "headers"), WRITES)
def test_a_body_over_the_upload_limit_is_a_413_and_writes_nothing(
    owner, project, token_client, settings, method, url, headers
):
    client = token_client(owner, "write")
    before = _state(project)
    padding = "x" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE  # valid JSON, one byte per character
    response = _post_raw(client, url, '{"description": "' + padding + '"}', method=method, **headers)
    body = assert_error_shape(response, 413)
    assert body["code"] == "content_too_large"
    assert str(settings.DATA_UPLOAD_MAX_MEMORY_SIZE) in body["message"]
    assert _state(project) == before


def test_a_body_just_under_the_upload_limit_is_read(owner, project, token_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 200
    body = '{"passed": true, "source": "ci"}'
    body = body[:-1] + " " * (200 - len(body)) + "}"
    assert len(body) == 200
    assert _post_raw(token_client(owner, "write"), f"{GATE}/check-results", body).status_code == 201
    assert _post_raw(token_client(owner, "write"), f"{GATE}/check-results", body + " ").status_code == 413


def _too_many_parameters(settings):
    return "&".join(f"p{i}=1" for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1))


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/projects",
        PROJECT,
        f"{PROJECT}/gates",
        f"{PROJECT}/readiness",
        f"{PROJECT}/audit-events",
        "/api/v1/notifications",
        "/api/v1/gate-templates",
    ],
)
def test_too_many_query_parameters_on_a_read_is_a_400(owner, project, token_client, settings, url):
    response = token_client(owner).get(f"{url}?{_too_many_parameters(settings)}")
    body = assert_error_shape(response, 400)
    assert "Too many" in body["message"] and str(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS) in body["message"]


def test_too_many_query_parameters_on_a_write_is_a_400_and_writes_nothing(owner, project, token_client, settings):
    client = token_client(owner, "write")
    before = _state(project)
    response = client.patch(
        f"{GATE}?{_too_many_parameters(settings)}", {"status": "closed"}, format="json", HTTP_IF_MATCH='"1"'
    )
    assert_error_shape(response, 400)
    assert _state(project) == before


def test_too_many_query_parameters_without_credentials_is_a_400(api, settings):
    assert_error_shape(api().get(f"/api/v1/projects?{_too_many_parameters(settings)}"), 400)


def test_too_many_query_parameters_on_the_schema_is_a_400(api, settings):
    # The schema is YAML (or JSON on ?format=json, which is not read here): the status is what counts.
    response = api().get(f"/api/v1/schema/?{_too_many_parameters(settings)}")
    assert response.status_code == 400
    assert b"Too many query or form parameters" in response.content


def test_the_schema_documents_413_on_every_operation_with_a_body():
    from django.test import Client

    schema = Client().get("/api/v1/schema/?format=json").json()
    operations = [
        (path, method, operation)
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
        if method in ("post", "put", "patch")
    ]
    assert operations
    for path, method, operation in operations:
        response = operation["responses"].get("413")
        assert response is not None, (method, path)
        assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
