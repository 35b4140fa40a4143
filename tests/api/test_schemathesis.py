"""Property-based run of every operation of the served schema: no 5xx, every answer as documented.

Each operation gets a bounded number of generated requests (valid and invalid), sent in-process
to the WSGI app with a real token, against a real project so that most requests reach the view
logic rather than a 404.
"""

from collections import Counter

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from audits.services import Actor
from projects.models import Stage
from tokens.services import token_create

pytestmark = [pytest.mark.schemathesis, pytest.mark.django_db]

EXAMPLES_PER_OPERATION = 15
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def real_objects(project, owner, signer, run_on_commit):
    """Path values that exist, and tokens with the scopes the operations need."""
    stage = Stage.objects.filter(project=project).order_by("order").first()
    with run_on_commit():
        from projects import services

        role = project.signoff_roles.get(name="Product Owner")
        signoff = services.signoff_give(actor=Actor(signer), project=project, stage=stage, role=role, decision="go")
    _, write = token_create(actor=Actor(owner), user=owner, name="fuzz write", scope="write")
    _, sign = token_create(actor=Actor(owner), user=owner, name="fuzz sign", scope="signoff")
    return {
        "path": {"slug": project.slug, "code": "T1", "username": "vera-viewer"},
        "ids": {
            "stages": stage.pk,
            "signoffs": signoff.pk,
            "snapshots": project.snapshots.values_list("pk", flat=True).first(),
            # Automation: a webhook subscription of the project.
            "webhooks": _webhook_id(project, owner),
        },
        "write": write,
        "signoff": sign,
    }


def _webhook_id(project, owner):
    from notifications.webhooks import webhook_subscription_create

    return webhook_subscription_create(
        actor=Actor(owner), project=project, url="http://127.0.0.1:9/hook", events=["gate.waived"]
    ).pk


def _path_value(name, path, objects):
    if name != "id":
        return objects["path"].get(name)
    for resource, pk in objects["ids"].items():
        if f"/{resource}/" in path:
            return pk
    if "/gate-templates/" in path:
        from gates.models import GateTemplate

        return GateTemplate.objects.values_list("pk", flat=True).first()
    return None


def _strategy(operation, objects):
    path = {name: _path_value(name, operation.path, objects) for name in (p.name for p in operation.path_parameters)}
    scope = "signoff" if "/signoffs" in operation.path and operation.method.upper() in ("POST", "DELETE") else "write"
    headers = {"Authorization": f"Bearer {objects[scope]}"}
    return st.one_of(
        *(
            operation.as_strategy(mode, path_parameters=path, headers=headers)
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        )
    )


@pytest.fixture
def keep_test_connection():
    """Requests go through the WSGI app, whose request signals would close the test's database
    connection (and its transaction); Django's own test client detaches them the same way."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def test_every_operation_answers_as_documented(real_objects, keep_test_connection):
    schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", get_wsgi_application())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 25, [op.label for op in operations]
    failures = {}
    statuses = Counter()
    for operation in operations:

        @given(case=_strategy(operation, real_objects))
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],  # no shrinking: report the first failure as found
        )
        def run(case):
            response = case.call()
            statuses[response.status_code] += 1
            case.validate_response(response, checks=CHECKS)

        try:
            run()
        except (AssertionError, Exception, BaseExceptionGroup) as exc:  # collect every failure, report them all
            failures[operation.label] = str(exc)[:4000]
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
    # The run reached the views, not only the authentication: successes and refusals both.
    assert sum(statuses.values()) >= 3 * len(operations), statuses
    assert sum(n for code, n in statuses.items() if code < 300) >= len(operations), statuses
    assert statuses[400] > 0, statuses
