"""Gates over the API: filters, ETag / If-Match (412 with the current state, 428 without), waivers."""

from datetime import timedelta

import pytest
from django.utils import timezone

from audits.models import AuditEvent
from audits.services import Actor
from portal.api_common import PagePagination
from projects import readiness, services
from projects.models import ProjectGate

from ..factories import GateDefinitionFactory, GateTemplateFactory
from .helpers import assert_error_shape

pytestmark = pytest.mark.django_db

GATE = "/api/v1/projects/apollo/gates/T2"


def test_gate_list_in_display_order_with_versions(viewer, project, token_client):
    body = token_client(viewer).get("/api/v1/projects/apollo/gates").json()
    assert body["count"] == 6
    assert [g["code"] for g in body["results"]] == ["T1", "T2", "S1", "S2", "O1", "O2"]
    first = body["results"][0]
    assert first["category"] == "technical" and first["severity"] == "blocker" and first["version"] == 1
    assert first["effective_status"] == "open"


def test_gate_page_size_is_capped(owner, run_on_commit, token_client):
    cap = PagePagination.max_page_size
    many = GateTemplateFactory(name="Many gates", key="many-gates")
    GateDefinitionFactory.create_batch(cap + 5, template=many)
    with run_on_commit():
        services.project_create_from_template(actor=Actor(owner), template=many, name="Big", slug="big")
    client = token_client(owner)
    body = client.get("/api/v1/projects/big/gates?page_size=100000").json()
    assert body["count"] == cap + 5
    assert len(body["results"]) == cap
    assert len(client.get("/api/v1/projects/big/gates?page_size=100000&page=2").json()["results"]) == 5
    assert len(client.get("/api/v1/projects/big/gates").json()["results"]) == PagePagination.page_size


def test_gate_filters(owner, editor, project, token_client):
    gate = ProjectGate.objects.get(project=project, code="S2")
    services.gate_update(
        actor=Actor(owner), gate=gate, version=gate.version, status="closed", owner=editor, due_date=None
    )
    ProjectGate.objects.filter(project=project, code="O2").update(due_date=timezone.localdate() - timedelta(days=1))
    ProjectGate.objects.filter(project=project, code="T2").update(is_automated=True)
    ProjectGate.objects.filter(project=project, code="S2").update(
        verified_at=timezone.now() - timedelta(days=10), evidence_valid_days=5
    )
    ProjectGate.objects.get(project=project, code="S2").save()  # derive evidence_expires_at
    client = token_client(owner)

    def codes(query):
        response = client.get(f"/api/v1/projects/apollo/gates?{query}")
        assert response.status_code == 200, response.content
        return [g["code"] for g in response.json()["results"]]

    assert codes("status=closed") == ["S2"]
    assert codes("status=open&status=closed") == ["T1", "T2", "S1", "S2", "O1", "O2"]
    assert codes("category=observability") == ["O1", "O2"]
    assert codes("severity=blocker&severity=critical") == ["T1", "S1"]
    assert codes("owner=eddie-editor") == ["S2"]
    assert codes("overdue=true") == ["O2"]
    assert codes("stale=true") == ["S2"]
    assert "S2" not in codes("stale=false")
    assert codes("automated=true") == ["T2"]
    assert codes("ordering=-code")[:2] == ["T2", "T1"]
    assert_error_shape(client.get("/api/v1/projects/apollo/gates?status=done"), 400)


def test_gate_detail_carries_its_version_as_etag(viewer, project, token_client):
    client = token_client(viewer)
    response = client.get(GATE)
    assert response.status_code == 200 and response["ETag"] == '"1"'
    assert client.get(GATE, HTTP_IF_NONE_MATCH='"1"').status_code == 304
    assert_error_shape(client.get("/api/v1/projects/apollo/gates/NOPE"), 404)


def test_update_with_current_if_match(editor, project, token_client):
    client = token_client(editor, "write")
    response = client.patch(
        GATE,
        {"status": "closed", "evidence_url": "https://ci.example.com/run/1", "owner": "eddie-editor"},
        format="json",
        HTTP_IF_MATCH='"1"',
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "closed" and body["owner"] == "eddie-editor" and body["version"] == 2
    assert response["ETag"] == '"2"'
    event = AuditEvent.objects.filter(action="gate.status_changed").latest("id")
    assert event.channel == "api" and event.actor_label.startswith("eddie-editor via token pf_")


def test_update_without_if_match_is_428_and_writes_nothing(editor, project, token_client):
    body = assert_error_shape(token_client(editor, "write").patch(GATE, {"status": "closed"}, format="json"), 428)
    assert "If-Match" in body["message"]
    assert ProjectGate.objects.get(project=project, code="T2").status == "open"


def test_stale_if_match_is_412_with_the_current_state(owner, editor, project, token_client):
    gate = ProjectGate.objects.get(project=project, code="T2")
    services.gate_update(actor=Actor(owner), gate=gate, version=1, status="partial")  # someone else, now v2
    response = token_client(editor, "write").patch(GATE, {"status": "closed"}, format="json", HTTP_IF_MATCH='"1"')
    body = assert_error_shape(response, 412)
    assert body["current"]["status"] == "partial" and body["current"]["version"] == 2
    assert response["ETag"] == '"2"'
    assert ProjectGate.objects.get(pk=gate.pk).status == "partial"


# Every write to a gate (method, url, body); each needs If-Match.
GATE_WRITES = [
    ("patch", GATE, {"status": "closed"}),
    ("post", f"{GATE}/waive", {"reason": "r", "expires_at": "2999-01-01T00:00:00Z"}),
    ("put", f"{GATE}/check", {"url": "https://status.example.com/health"}),
    ("delete", f"{GATE}/check", None),
]


@pytest.mark.parametrize(("method", "url", "payload"), GATE_WRITES)
def test_if_match_star_is_refused_with_428_and_writes_nothing(owner, project, token_client, method, url, payload):
    """`*` would match whatever the gate is now: a blind overwrite, so it is refused like no header."""
    client = token_client(owner, "write")
    events = AuditEvent.objects.count()
    response = getattr(client, method)(url, payload, format="json", HTTP_IF_MATCH="*")
    body = assert_error_shape(response, 428)
    assert "If-Match: *" in body["message"] and "If-Match" in body["fields"]
    gate = ProjectGate.objects.get(project=project, code="T2")
    assert (gate.status, gate.version, gate.check_spec) == ("open", 1, None)
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize(("method", "url", "payload"), GATE_WRITES)
def test_a_weak_if_match_never_matches_412_with_the_current_gate(owner, project, token_client, method, url, payload):
    """If-Match compares strongly (RFC 9110): W/"1" is refused even though the gate is at version 1."""
    client = token_client(owner, "write")
    events = AuditEvent.objects.count()
    response = getattr(client, method)(url, payload, format="json", HTTP_IF_MATCH='W/"1"')
    body = assert_error_shape(response, 412)
    assert "weak" in body["message"] and "If-Match" in body["fields"]
    assert body["current"]["version"] == 1 and response["ETag"] == '"1"'
    gate = ProjectGate.objects.get(project=project, code="T2")
    assert (gate.status, gate.version, gate.check_spec) == ("open", 1, None)
    assert AuditEvent.objects.count() == events


def test_a_strong_tag_beside_a_weak_one_still_matches(editor, project, token_client):
    response = token_client(editor, "write").patch(
        GATE, {"status": "closed"}, format="json", HTTP_IF_MATCH='W/"1", "1"'
    )
    assert response.status_code == 200, response.content
    assert response["ETag"] == '"2"'


def test_two_writers_with_the_same_etag_one_wins(owner, editor, project, token_client):
    first = token_client(owner, "write").patch(GATE, {"status": "closed"}, format="json", HTTP_IF_MATCH='"1"')
    second = token_client(editor, "write").patch(GATE, {"notes": "mine"}, format="json", HTTP_IF_MATCH='"1"')
    assert first.status_code == 200 and second.status_code == 412
    gate = ProjectGate.objects.get(project=project, code="T2")
    assert (gate.status, gate.notes, gate.version) == ("closed", "", 2)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"status": "waived"}, "status"),
        ({"status": "done"}, "status"),
        ({"evidence_url": "not a url"}, "evidence_url"),
        ({"owner": "nobody-at-all"}, "owner"),
        ({"owner": "oscar-outsider"}, "owner"),
        ({"due_date": "tomorrow"}, "due_date"),
        ({}, None),
    ],
)
def test_bad_updates_are_400_with_field_messages(editor, outsider, project, token_client, payload, field):
    response = token_client(editor, "write").patch(GATE, payload, format="json", HTTP_IF_MATCH='"1"')
    body = assert_error_shape(response, 400)
    if field:
        assert field in body["fields"], body
    gate = ProjectGate.objects.get(project=project, code="T2")
    assert (gate.status, gate.version) == ("open", 1)


def test_viewer_and_read_tokens_cannot_write_and_outsiders_get_404(viewer, editor, outsider, project, token_client):
    assert_error_shape(
        token_client(viewer, "write").patch(GATE, {"status": "closed"}, format="json", HTTP_IF_MATCH='"1"'), 403
    )
    assert_error_shape(
        token_client(editor, "read").patch(GATE, {"status": "closed"}, format="json", HTTP_IF_MATCH='"1"'), 403
    )
    assert_error_shape(
        token_client(outsider, "write").patch(GATE, {"status": "closed"}, format="json", HTTP_IF_MATCH='"1"'), 404
    )
    assert ProjectGate.objects.get(project=project, code="T2").version == 1


def test_waive_and_unwaive_by_owners_with_if_match(owner, editor, project, token_client):
    expires = (timezone.now() + timedelta(days=7)).isoformat()
    url = "/api/v1/projects/apollo/gates/S1/waive"
    payload = {"reason": "Accepted for the pilot", "expires_at": expires}
    assert_error_shape(token_client(editor, "write").post(url, payload, format="json", HTTP_IF_MATCH='"1"'), 403)
    assert_error_shape(token_client(owner, "write").post(url, payload, format="json"), 428)
    response = token_client(owner, "write").post(url, payload, format="json", HTTP_IF_MATCH='"1"')
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == readiness.WAIVED and body["waiver_approver"] == "olivia-owner"
    assert_error_shape(token_client(owner, "write").post(url, payload, format="json", HTTP_IF_MATCH='"1"'), 412)
    past = {"reason": "x", "expires_at": (timezone.now() - timedelta(days=1)).isoformat()}
    bad = assert_error_shape(token_client(owner, "write").post(url, past, format="json", HTTP_IF_MATCH='"2"'), 400)
    assert "expires_at" in bad["fields"]
    unwaive = token_client(owner, "write").post(
        "/api/v1/projects/apollo/gates/S1/unwaive", {"status": "partial"}, format="json", HTTP_IF_MATCH='"2"'
    )
    assert unwaive.status_code == 200 and unwaive.json()["status"] == "partial"
    again = token_client(owner, "write").post(
        "/api/v1/projects/apollo/gates/S1/unwaive", {}, format="json", HTTP_IF_MATCH='"3"'
    )
    assert_error_shape(again, 409)


def test_direct_gate_representation_equals_the_generic_one(owner, editor, project):
    """The gate list builds rows directly for speed; they must be what DRF's fields would give."""
    from projects.api_serializers import GATE_ROW_FIELDS, GateSerializer
    from projects.selectors import gate_list

    gate = ProjectGate.objects.get(project=project, code="T2")
    services.gate_update(
        actor=Actor(owner),
        gate=gate,
        version=1,
        status="closed",
        owner=editor,
        due_date=timezone.localdate() - timedelta(days=2),
        evidence_url="https://ci.example.com/1",
        evidence_note="green",
        notes="n",
    )
    s1 = ProjectGate.objects.get(project=project, code="S1")
    services.gate_waive(actor=Actor(owner), gate=s1, version=1, reason="r", expires_at=timezone.now() + timedelta(1))
    ProjectGate.objects.filter(project=project, code="O1").update(stage=project.stages.get(name="GA"))
    serializer = GateSerializer(context={"now": timezone.now()})
    rows = {row["code"]: row for row in gate_list(project).values(*GATE_ROW_FIELDS)}
    for gate in gate_list(project):
        generic = serializer.generic_representation(gate)
        assert serializer.to_representation(gate) == generic, gate.code
        assert serializer.to_representation(rows[gate.code]) == generic, gate.code


def test_a_waived_gate_is_not_reopened_by_a_status_patch(project, owner, editor, token_client):
    gate = ProjectGate.objects.get(project=project, code="T2")
    later = timezone.now() + timedelta(days=7)
    gate = services.gate_waive(actor=Actor(owner), gate=gate, version=gate.version, reason="Later", expires_at=later)
    client = token_client(editor, "write")
    events = AuditEvent.objects.count()
    response = client.patch(GATE, {"status": "closed"}, format="json", HTTP_IF_MATCH=f'"{gate.version}"')
    body = assert_error_shape(response, 409)
    assert "lifts the waiver" in body["message"] and "status" in body["fields"]
    gate.refresh_from_db()
    assert (gate.status, gate.waiver_reason, gate.version) == ("waived", "Later", 2)
    assert AuditEvent.objects.count() == events
