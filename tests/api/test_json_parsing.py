"""Request bodies: JSON nested too deeply is refused with a 400 in the usual shape, never a 500."""

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
