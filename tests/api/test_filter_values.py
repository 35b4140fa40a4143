"""A filter value a list cannot use is a 400 naming the parameter, in the one error shape: never a
silently unfiltered list that looks like the filtered one."""

import pytest

from notifications.services import notify

from .helpers import assert_error_shape

pytestmark = pytest.mark.django_db

P = "/api/v1/projects/apollo"

INVALID = [
    (f"{P}/gates", "overdue", "maybe"),
    (f"{P}/gates", "stale", "2"),
    (f"{P}/gates", "automated", "sure"),
    (f"{P}/gates", "status", "done"),
    (f"{P}/gates", "severity", "huge"),
    (f"{P}/gates", "ordering", "colour"),
    (f"{P}/gates", "ordering", "code,-nope"),
    ("/api/v1/projects", "verdict", "maybe"),
    ("/api/v1/projects", "lifecycle", "paused"),
    ("/api/v1/projects", "launch_after", "soon"),
    ("/api/v1/projects", "launch_before", "2030-13-01"),
    ("/api/v1/projects", "score_min", "high"),
    ("/api/v1/projects", "score_max", "NaN"),
    ("/api/v1/projects", "ordering", "owner__password"),
    (f"{P}/snapshots", "kind", "weekly"),
    (f"{P}/snapshots", "taken_after", "yesterday"),
    (f"{P}/snapshots", "taken_before", "2030-02-30T00:00:00Z"),
    (f"{P}/snapshots", "ordering", "gates"),
    (f"{P}/audit-events", "channel", "carrier-pigeon"),
    ("/api/v1/notifications", "unread", "maybe"),
]


@pytest.mark.parametrize(("url", "param", "value"), INVALID)
def test_an_invalid_filter_value_is_a_400_naming_the_parameter(owner, project, token_client, url, param, value):
    response = token_client(owner).get(url, {param: value})
    body = assert_error_shape(response, 400)
    assert body["code"] == "invalid"
    assert list(body["fields"]) == [param], body


@pytest.mark.parametrize("param", ["overdue", "stale", "automated"])
@pytest.mark.parametrize("value", ["true", "false", "TRUE", "False", "1", "0", "yes", "no", ""])
def test_boolean_filters_take_the_usual_spellings(owner, project, token_client, param, value):
    response = token_client(owner).get(f"{P}/gates", {param: value})
    assert response.status_code == 200, response.content


def test_boolean_filter_spellings_filter_alike(owner, project, token_client):
    from projects.models import ProjectGate

    ProjectGate.objects.filter(project=project, code="T2").update(is_automated=True)
    client = token_client(owner)

    def codes(value):
        return [g["code"] for g in client.get(f"{P}/gates", {"automated": value}).json()["results"]]

    assert codes("true") == codes("1") == codes("Yes") == ["T2"]
    assert codes("false") == codes("0") == codes("no") == ["T1", "S1", "S2", "O1", "O2"]


def test_the_unread_filter_of_notifications(owner, project, token_client):
    from notifications.models import Kind, Notification

    for title in ("first", "second"):
        notify(user_ids=[owner.pk], kind=Kind.VERDICT_CHANGED, title=title, project=project)
    Notification.objects.filter(user=owner, title="first").update(read_at=project.created_at)
    client = token_client(owner)

    def titles(query):
        response = client.get(f"/api/v1/notifications{query}")
        assert response.status_code == 200, response.content
        return sorted(n["title"] for n in response.json()["results"])

    assert titles("") == ["first", "second"]
    assert titles("?unread=true") == ["second"]
    assert titles("?unread=false") == ["first"]


def test_an_unknown_ordering_is_refused_and_a_known_one_sorts(owner, project, token_client):
    client = token_client(owner)
    body = assert_error_shape(client.get(f"{P}/gates?ordering=colour"), 400)
    assert "code" in body["fields"]["ordering"][0]  # says what it can sort by
    codes = [g["code"] for g in client.get(f"{P}/gates?ordering=-code").json()["results"]]
    assert codes == sorted(codes, reverse=True)


def test_the_audit_channel_filter_narrows_the_history_to_its_channel(owner, project, token_client):
    client = token_client(owner, "write")
    created = client.post(f"{P}/gates/T1/check-results", {"passed": False, "source": "ci"}, format="json")
    assert created.status_code == 201, created.content

    def channels(channel):
        response = client.get(f"{P}/audit-events", {"channel": channel})
        assert response.status_code == 200, response.content
        return {e["channel"] for e in response.json()["results"]}

    assert channels("api") == {"api"}
    assert channels("web") == {"web"}  # the fixture's history, written through services
