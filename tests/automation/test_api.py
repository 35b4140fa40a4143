"""API of automation: webhook subscriptions CRUD and log, snapshot diffs, notifications and
preferences, sign-off requests — for every persona, token scopes and project limits, the one
error shape."""

import pytest
from rest_framework.test import APIClient

from audits.models import ReadinessSnapshot
from audits.services import Actor
from notifications import services as notify_services
from notifications.models import Kind, Notification, WebhookSubscription
from projects import services
from projects.models import ProjectGate
from tokens.services import token_create

pytestmark = pytest.mark.django_db


def _client(user, scope=None, projects=()):
    c = APIClient()
    if scope is None:
        c.force_login(user)
    else:
        _, secret = token_create(actor=Actor(user), user=user, name="CI", scope=scope, projects=projects)
        c.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return c


def _error(response, status):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["status"] == status and body["message"] and isinstance(body["fields"], dict)
    return body


def test_owner_creates_lists_updates_and_deletes_a_webhook(project, owner, receiver, run_on_commit):
    c = _client(owner, "write")
    url = f"/api/v1/projects/{project.slug}/webhooks"
    created = c.post(
        url, {"url": receiver.url + "/h", "events": ["gate.status_changed"], "description": "CI"}, format="json"
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert len(body["secret"]) >= 32 and body["events"] == ["gate.status_changed"] and body["is_active"]
    listed = c.get(url).json()
    assert [w["id"] for w in listed["results"]] == [body["id"]] and "secret" not in listed["results"][0]

    detail = f"{url}/{body['id']}"
    patched = c.patch(detail, {"events": ["gate.waived", "signoff.given"], "is_active": False}, format="json")
    assert patched.status_code == 200 and patched.json()["events"] == ["gate.waived", "signoff.given"]
    assert not patched.json()["is_active"]
    rotated = c.post(f"{detail}/rotate-secret")
    assert rotated.status_code == 200 and rotated.json()["secret"] != body["secret"]

    c.patch(detail, {"is_active": True}, format="json")
    receiver.secret = rotated.json()["secret"]
    with run_on_commit():
        test = c.post(f"{detail}/test")
    assert test.status_code == 202 and test.json()["event"] == "webhook.test"
    assert [e for e, _ in receiver.verified()] == ["webhook.test"]
    log = c.get(f"{detail}/deliveries").json()["results"]
    assert (
        log[0]["status"] == "succeeded" and log[0]["last_status_code"] == 204 and log[0]["log"][0]["status_code"] == 204
    )

    assert c.delete(detail).status_code == 204
    assert not WebhookSubscription.objects.exists()


def test_bad_webhook_input_is_a_400_with_fields(project, owner):
    c = _client(owner, "write")
    body = _error(
        c.post(f"/api/v1/projects/{project.slug}/webhooks", {"url": "nope", "events": ["made.up"]}, format="json"), 400
    )
    assert "url" in body["fields"] and any(f.startswith("events") for f in body["fields"])
    body = _error(
        c.post(f"/api/v1/projects/{project.slug}/webhooks", {"url": "https://x.example", "events": []}, format="json"),
        400,
    )
    assert "events" in body["fields"]
    assert not WebhookSubscription.objects.exists()


@pytest.mark.parametrize(("persona", "status"), [("editor", 403), ("viewer", 403), ("signer", 403), ("outsider", 404)])
def test_only_owners_reach_webhooks(project, owner, request, persona, status):
    sub = WebhookSubscription.objects.create(project=project, url="https://x.example/h", events=["gate.waived"])
    c = _client(request.getfixturevalue(persona))
    base = f"/api/v1/projects/{project.slug}/webhooks"
    _error(c.get(base), status)
    _error(c.post(base, {"url": "https://y.example", "events": ["gate.waived"]}, format="json"), status)
    _error(c.get(f"{base}/{sub.pk}"), status)
    _error(c.delete(f"{base}/{sub.pk}"), status)
    _error(c.get(f"{base}/{sub.pk}/deliveries"), status)
    assert WebhookSubscription.objects.count() == 1


def test_a_read_token_cannot_manage_webhooks_and_a_limited_token_does_not_see_other_projects(
    project, template, owner, run_on_commit
):
    _error(
        _client(owner, "read").post(
            f"/api/v1/projects/{project.slug}/webhooks",
            {"url": "https://x.example", "events": ["gate.waived"]},
            format="json",
        ),
        403,
    )
    with run_on_commit():
        other = services.project_create_from_template(actor=Actor(owner), template=template, name="Other")
    limited = _client(owner, "write", projects=[other])
    _error(limited.get(f"/api/v1/projects/{project.slug}/webhooks"), 404)
    _error(limited.get(f"/api/v1/projects/{project.slug}/snapshots/diff"), 404)


def test_a_webhook_of_another_project_is_not_found(project, template, owner, run_on_commit):
    with run_on_commit():
        other = services.project_create_from_template(actor=Actor(owner), template=template, name="Other")
    sub = WebhookSubscription.objects.create(project=other, url="https://x.example/h", events=["gate.waived"])
    _error(_client(owner).get(f"/api/v1/projects/{project.slug}/webhooks/{sub.pk}"), 404)


def test_snapshot_diff_between_two_snapshots(project, owner, viewer, run_on_commit):
    a = ReadinessSnapshot.objects.filter(project=project).latest()
    gate = ProjectGate.objects.select_related("project").get(project=project, code="T1")
    with run_on_commit():
        services.gate_update(actor=Actor(owner), gate=gate, version=gate.version, status="closed")
    b = ReadinessSnapshot.objects.filter(project=project).latest()
    response = _client(viewer, "read").get(f"/api/v1/projects/{project.slug}/snapshots/diff", {"a": a.pk, "b": b.pk})
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["a"]["id"] == a.pk and data["b"]["id"] == b.pk
    assert [g["code"] for g in data["gates_moved"]] == ["T1"]
    assert data["gates_moved"][0]["before"] == "open" and data["gates_moved"][0]["after"] == "closed"
    assert data["score"]["delta"] == round(b.score - a.score, 1) > 0
    assert data["events_total"] == 1 and data["events"][0]["actor"] == "olivia-owner"
    live = _client(viewer).get(f"/api/v1/projects/{project.slug}/snapshots/diff", {"a": a.pk}).json()
    assert live["b"]["id"] is None and live["b"]["kind"] == "live"


def test_snapshot_diff_bad_input(project, owner, outsider):
    c = _client(owner)
    base = f"/api/v1/projects/{project.slug}/snapshots/diff"
    assert "a" in _error(c.get(base, {"a": "x"}), 400)["fields"]
    assert "since" in _error(c.get(base, {"since": "yesterday"}), 400)["fields"]
    _error(c.get(base, {"a": 999999}), 404)
    _error(c.get(base, {"since": "signoff"}), 404)  # the owner never signed
    _error(_client(outsider).get(base), 404)


def test_notifications_list_and_mark_read(project, owner, editor, run_on_commit, django_assert_max_num_queries):
    for code in ("T2", "S2"):
        gate = ProjectGate.objects.select_related("project").get(project=project, code=code)
        with run_on_commit():
            gate = services.gate_update(
                actor=Actor(owner), gate=gate, version=gate.version, owner=editor, status="closed"
            )
            services.gate_update(actor=Actor(owner), gate=gate, version=gate.version, status="open")
    Notification.objects.create(user=owner, kind=Kind.GATE_STALE, title="not yours")
    c = _client(editor, "write")
    with django_assert_max_num_queries(8):
        listed = c.get("/api/v1/notifications", {"unread": "true"}).json()
    assert {n["title"].split()[0] for n in listed["results"]} == {"T2", "S2"}
    first = listed["results"][0]["id"]
    foreign = Notification.objects.get(user=owner, title="not yours").pk
    marked = c.post("/api/v1/notifications/read", {"ids": [first, foreign]}, format="json").json()
    assert marked == {"marked": 1, "unread": 1}
    assert c.post("/api/v1/notifications/read", {}, format="json").json() == {"marked": 1, "unread": 0}
    assert Notification.objects.get(pk=foreign).read_at is None
    _error(_client(editor, "read").post("/api/v1/notifications/read", {}, format="json"), 403)
    _error(APIClient().get("/api/v1/notifications"), 401)


def test_preferences_read_and_write(editor):
    c = _client(editor, "write")
    table = c.get("/api/v1/notifications/preferences").json()
    assert {row["kind"] for row in table} == set(Kind.values) and {row["delivery"] for row in table} == {"immediate"}
    saved = c.put(
        "/api/v1/notifications/preferences", [{"kind": "due_reminder", "delivery": "daily"}], format="json"
    ).json()
    assert next(r for r in saved if r["kind"] == "due_reminder")["delivery"] == "daily"
    _error(
        c.put("/api/v1/notifications/preferences", [{"kind": "weekly_digest", "delivery": "daily"}], format="json"), 400
    )
    _error(c.put("/api/v1/notifications/preferences", [{"kind": "nope", "delivery": "off"}], format="json"), 400)
    assert notify_services.preferences_for([editor.pk], Kind.WEEKLY_DIGEST)[editor.pk] == "immediate"


def test_signoff_request_over_the_api(project, owner, editor, signer, run_on_commit):
    with run_on_commit():
        response = _client(owner, "write").post(f"/api/v1/projects/{project.slug}/signoffs/request")
    assert response.status_code == 200 and "sam-signer" in response.json()["asked"]
    _error(_client(editor, "write").post(f"/api/v1/projects/{project.slug}/signoffs/request"), 403)


def test_gate_check_set_read_and_removed_over_the_api(project, owner, viewer, local_server, run_on_commit):
    c = _client(owner, "write")
    url = f"/api/v1/projects/{project.slug}/gates/T1/check"
    current = c.get(url)
    assert current.json()["check_spec"] is None and current["ETag"] == '"1"'
    _error(c.put(url, {"url": local_server.url}, format="json"), 428)
    _error(c.put(url, {"url": local_server.url}, format="json", HTTP_IF_MATCH='"7"'), 412)
    bad = _error(c.put(url, {"url": "ftp://x", "timeout": 99}, format="json", HTTP_IF_MATCH='"1"'), 400)
    assert {"url", "timeout"} <= set(bad["fields"])
    _error(_client(viewer, "write").put(url, {"url": local_server.url}, format="json", HTTP_IF_MATCH='"1"'), 403)
    saved = c.put(url, {"url": local_server.url, "interval_minutes": 2}, format="json", HTTP_IF_MATCH='"1"')
    assert saved.status_code == 200, saved.content
    assert saved.json()["is_automated"] and saved.json()["check_spec"]["interval_minutes"] == 2
    from projects import checks

    with run_on_commit():
        checks.gate_probe(gate_id=ProjectGate.objects.get(project=project, code="T1").pk)
    assert ProjectGate.objects.get(project=project, code="T1").status == "closed"
    etag = c.get(url)["ETag"]
    removed = c.delete(url, HTTP_IF_MATCH=etag)
    assert removed.status_code == 200 and removed.json()["check_spec"] is None and not removed.json()["is_automated"]
