"""Real concurrent requests (threads, one database connection each) on PostgreSQL: retries with one
Idempotency-Key record once, and writers holding the same ETag cannot both win."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from rest_framework.test import APIClient

from projects.models import CheckResult, ProjectGate

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

WRITERS = 4


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: concurrent writers need a database with row locks")


def concurrently(secret, call):
    barrier = threading.Barrier(WRITERS)

    def one(_):
        from django.db import connections

        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        barrier.wait()
        try:
            response = call(client)
            return response.status_code, response.json()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(WRITERS) as pool:
        return list(pool.map(one, range(WRITERS)))


def test_simultaneous_retries_with_one_key_record_once(project, editor, make_token):
    ProjectGate.objects.filter(project=project, code="T2").update(is_automated=True)
    _, secret = make_token(editor, "write")
    url = "/api/v1/projects/apollo/gates/T2/check-results"
    body = {"passed": True, "source": "ci", "details": "retry storm"}
    results = concurrently(secret, lambda c: c.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="run-7"))
    assert {status for status, _ in results} == {201}, results
    assert len({r["id"] for _, r in results}) == 1
    assert CheckResult.objects.count() == 1
    gate = ProjectGate.objects.get(project=project, code="T2")
    assert (gate.status, gate.version) == ("closed", 2)


def test_simultaneous_writers_with_one_etag_one_wins(project, editor, make_token):
    _, secret = make_token(editor, "write")
    url = "/api/v1/projects/apollo/gates/T1"
    results = concurrently(
        secret, lambda c: c.patch(url, {"notes": f"by {threading.get_ident()}"}, format="json", HTTP_IF_MATCH='"1"')
    )
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [412] * (WRITERS - 1), results
    winner = next(body for status, body in results if status == 200)
    gate = ProjectGate.objects.get(project=project, code="T1")
    assert gate.version == 2 and gate.notes == winner["notes"]
    for status, body in results:
        if status == 412:
            assert body["current"]["version"] == 2
