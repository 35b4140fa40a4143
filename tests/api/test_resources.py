"""Projects, stages, members, sign-offs, snapshots, audit events and the catalog over the API."""

import pytest
from django.urls import reverse

from audits.models import AuditEvent, ReadinessSnapshot
from audits.services import Actor
from projects import services
from projects.models import Membership, Project, ProjectGate, SignOff, SignOffRole

from .helpers import assert_error_shape

pytestmark = pytest.mark.django_db

P = "/api/v1/projects/apollo"


def test_owner_updates_project_and_moves_stage_in_one_request(owner, project, token_client):
    response = token_client(owner, "write").patch(
        P, {"description": "Pilot", "current_stage": "GA", "target_launch_date": "2030-01-01"}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["description"], body["current_stage"], body["target_launch_date"]) == ("Pilot", "GA", "2030-01-01")


def test_project_update_refusals_change_nothing(owner, editor, project, token_client):
    assert_error_shape(token_client(editor, "write").patch(P, {"description": "x"}, format="json"), 403)
    bad = assert_error_shape(
        token_client(owner, "write").patch(P, {"description": "x", "current_stage": "Nope"}, format="json"), 400
    )
    assert "current_stage" in bad["fields"]
    assert_error_shape(token_client(owner, "write").patch(P, {"name": ""}, format="json"), 400)
    assert_error_shape(token_client(owner, "write").patch(P, {"lifecycle": "gone"}, format="json"), 400)
    assert Project.objects.get(pk=project.pk).description == ""


def test_project_create_validation(owner, template, project, token_client):
    client = token_client(owner, "write")
    taken = assert_error_shape(
        client.post("/api/v1/projects", {"template": template.pk, "name": "Apollo"}, format="json"), 400
    )
    assert "slug" in taken["fields"]
    assert (
        "template"
        in assert_error_shape(client.post("/api/v1/projects", {"template": 999999, "name": "New"}, format="json"), 400)[
            "fields"
        ]
    )
    dup = {"template": template.pk, "name": "New", "stages": [{"name": "A", "order": 1}, {"name": "A", "order": 2}]}
    assert "stages" in assert_error_shape(client.post("/api/v1/projects", dup, format="json"), 400)["fields"]
    assert Project.objects.count() == 1


def test_stages(owner, viewer, project, token_client):
    stages = token_client(viewer).get(f"{P}/stages").json()["results"]
    assert [s["name"] for s in stages] == ["Soft launch", "GA"]
    soft = stages[0]
    assert soft["required_roles"] == ["Backend Lead", "Product Owner"]
    url = f"{P}/stages/{soft['id']}"
    assert token_client(viewer).get(url).json()["name"] == "Soft launch"
    assert_error_shape(token_client(viewer, "write").patch(url, {"min_score": 60}, format="json"), 403)
    response = token_client(owner, "write").patch(
        url, {"min_score": 60, "required_roles": ["Product Owner"]}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["min_score"] == 60 and response.json()["required_roles"] == ["Product Owner"]
    assert (
        "required_roles"
        in assert_error_shape(token_client(owner, "write").patch(url, {"required_roles": ["CEO"]}, format="json"), 400)[
            "fields"
        ]
    )
    assert_error_shape(token_client(owner, "write").patch(url, {"name": "GA"}, format="json"), 409)
    assert_error_shape(token_client(owner, "write").patch(url, {"min_score": 101}, format="json"), 400)
    assert_error_shape(token_client(viewer).get(f"{P}/stages/999999"), 404)


def test_members(owner, editor, viewer, outsider, project, token_client):
    listed = token_client(viewer).get(f"{P}/members").json()
    assert {m["user"]: m["role"] for m in listed["results"]} == {
        "olivia-owner": "owner",
        "eddie-editor": "editor",
        "sam-signer": "signer",
        "vera-viewer": "viewer",
    }
    add = {"user": "oscar-outsider", "role": "viewer", "signoff_roles": []}
    assert_error_shape(token_client(editor, "write").post(f"{P}/members", add, format="json"), 403)
    created = token_client(owner, "write").post(f"{P}/members", add, format="json")
    assert created.status_code == 201, created.content
    assert_error_shape(token_client(owner, "write").post(f"{P}/members", add, format="json"), 409)
    assert (
        "user"
        in assert_error_shape(
            token_client(owner, "write").post(f"{P}/members", {**add, "user": "ghost"}, format="json"), 400
        )["fields"]
    )
    url = f"{P}/members/oscar-outsider"
    updated = token_client(owner, "write").patch(
        url, {"role": "signer", "signoff_roles": ["DevOps Lead"]}, format="json"
    )
    assert updated.json()["signoff_roles"] == ["DevOps Lead"]
    assert token_client(owner, "write").delete(url).status_code == 204
    assert not Membership.objects.filter(project=project, user=outsider).exists()
    last_owner = token_client(owner, "write").patch(f"{P}/members/olivia-owner", {"role": "viewer"}, format="json")
    assert_error_shape(last_owner, 409)
    assert_error_shape(token_client(owner).get(f"{P}/members/ghost"), 404)


def test_signoffs_need_the_signoff_scope_and_a_held_role(signer, owner, editor, project, token_client):
    give = {"stage": "Soft launch", "role": "Product Owner", "decision": "go"}
    assert_error_shape(token_client(signer, "write").post(f"{P}/signoffs", give, format="json"), 403)
    assert_error_shape(token_client(signer, "read").post(f"{P}/signoffs", give, format="json"), 403)
    not_held = assert_error_shape(
        token_client(signer, "signoff").post(f"{P}/signoffs", {**give, "role": "DevOps Lead"}, format="json"), 403
    )
    assert "DevOps Lead" in not_held["message"]
    assert_error_shape(token_client(editor, "signoff").post(f"{P}/signoffs", give, format="json"), 403)
    no_comment = token_client(signer, "signoff").post(f"{P}/signoffs", {**give, "decision": "no_go"}, format="json")
    assert "comment" in assert_error_shape(no_comment, 400)["fields"]
    assert (
        "stage"
        in assert_error_shape(
            token_client(signer, "signoff").post(f"{P}/signoffs", {**give, "stage": "Nope"}, format="json"), 400
        )["fields"]
    )
    response = token_client(signer, "signoff").post(f"{P}/signoffs", give, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["user"] == "sam-signer" and body["state_hash"]
    listed = token_client(editor).get(f"{P}/signoffs").json()["results"]
    assert [s["id"] for s in listed] == [body["id"]]
    assert ReadinessSnapshot.objects.filter(kind="signoff").count() == 1
    url = f"{P}/signoffs/{body['id']}"
    assert_error_shape(token_client(editor, "signoff").delete(url), 403)
    assert_error_shape(token_client(signer, "write").delete(url), 403)
    assert token_client(signer, "signoff").delete(url).status_code == 204
    assert not SignOff.objects.exists()


def test_a_session_neither_gives_nor_revokes_sign_offs_over_the_api(signer, owner, outsider, project, api):
    """The sign-off page asks for a recent re-authentication; a session may not sign around it."""
    give = {"stage": "Soft launch", "role": "Product Owner", "decision": "go"}
    refused = assert_error_shape(api(user=signer).post(f"{P}/signoffs", give, format="json"), 403)
    assert (
        "signoff-scoped token" in refused["message"]
        and reverse("projects:signoff", args=["apollo"]) in refused["message"]
    )
    assert not SignOff.objects.exists()
    signoff = services.signoff_give(
        actor=Actor(signer),
        project=project,
        stage=project.current_stage,
        role=SignOffRole.objects.get(project=project, name="Product Owner"),
        decision="go",
    )
    for user in (signer, owner):
        refused = assert_error_shape(api(user=user).delete(f"{P}/signoffs/{signoff.pk}"), 403)
        assert "signoff-scoped token" in refused["message"]
    assert SignOff.objects.filter(pk=signoff.pk).exists()
    # Reading stays open to the session, and an outsider still learns nothing.
    assert api(user=signer).get(f"{P}/signoffs/{signoff.pk}").status_code == 200
    assert_error_shape(api(user=outsider).post(f"{P}/signoffs", give, format="json"), 404)
    assert_error_shape(api(user=outsider).delete(f"{P}/signoffs/{signoff.pk}"), 404)


def test_a_sign_off_binds_to_the_state_hash_sent(signer, editor, project, token_client, run_on_commit):
    give = {"stage": "Soft launch", "role": "Product Owner", "decision": "go"}
    client, reader = token_client(signer, "signoff"), token_client(signer)
    seen = reader.get(f"{P}/readiness").json()["state_hash"]
    gate = ProjectGate.objects.get(project=project, code="T2")
    with run_on_commit():
        services.gate_update(actor=Actor(editor), gate=gate, version=gate.version, status="closed")
    events = AuditEvent.objects.count()
    moved = assert_error_shape(client.post(f"{P}/signoffs", {**give, "state_hash": seen}, format="json"), 409)
    now = reader.get(f"{P}/readiness").json()
    assert "Nothing was signed" in moved["message"] and "state_hash" in moved["fields"]
    assert moved["current"]["state_hash"] == now["state_hash"] != seen
    assert (moved["current"]["score"], moved["current"]["stage"]) == (now["score"], "Soft launch")
    assert not SignOff.objects.exists() and AuditEvent.objects.count() == events
    signed = client.post(f"{P}/signoffs", {**give, "state_hash": now["state_hash"]}, format="json")
    assert signed.status_code == 201, signed.content
    assert signed.json()["state_hash"] == now["state_hash"]


def test_snapshots(owner, viewer, project, token_client):
    snapshots = token_client(viewer).get(f"{P}/snapshots").json()
    assert snapshots["count"] == ReadinessSnapshot.objects.filter(project=project).count() >= 1
    first = snapshots["results"][0]
    detail = token_client(viewer).get(f"{P}/snapshots/{first['id']}").json()
    assert detail["state_hash"] == first["state_hash"] and isinstance(detail["gates"], list)
    assert token_client(viewer).get(f"{P}/snapshots?kind=daily").json()["count"] == 0
    assert_error_shape(token_client(viewer).get(f"{P}/snapshots/999999"), 404)


def test_audit_events_page_by_cursor(owner, project, token_client):
    client = token_client(owner)
    total = AuditEvent.objects.filter(project=project).count()
    assert total >= 4
    seen, url = [], f"{P}/audit-events?page_size=2"
    while url:
        page = client.get(url).json()
        seen += [e["id"] for e in page["results"]]
        url = page["next"]
    assert seen == sorted(seen, reverse=True) and len(seen) == total
    members = client.get(f"{P}/audit-events?action=member.added").json()["results"]
    assert {e["action"] for e in members} == {"member.added"} and len(members) == 3
    assert_error_shape(client.get(f"{P}/audit-events?cursor=garbage"), 404)


def test_catalog(outsider, template, token_client):
    client = token_client(outsider)
    templates = client.get("/api/v1/gate-templates").json()["results"]
    small = next(t for t in templates if t["key"] == "small-launch")
    assert small["gate_count"] == 6
    detail = client.get(f"/api/v1/gate-templates/{small['id']}").json()
    assert [d["code"] for d in detail["definitions"]] == ["T1", "T2", "S1", "S2", "O1", "O2"]
    assert_error_shape(client.get("/api/v1/gate-templates/999999"), 404)
    keys = [c["key"] for c in client.get("/api/v1/categories").json()["results"]]
    assert keys[:3] == ["technical", "security", "observability"]
