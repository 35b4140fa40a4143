"""The project page: readiness header, category table, gates, and in-place status changes."""

import re

import pytest
from django.urls import reverse

from audits.models import AuditEvent
from projects.models import ProjectGate

from .conftest import MEMBERS

pytestmark = pytest.mark.django_db


def detail_url(project):
    return reverse("projects:detail", args=[project.slug])


def status_url(project, code):
    return reverse("projects:gate_status", args=[project.slug, code])


@pytest.mark.parametrize("persona", [*MEMBERS, "staff"])
def test_members_and_staff_see_the_project(login, project, persona):
    response = login(persona).get(detail_url(project))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Health check green" in body
    assert "Summary by category" in body
    assert "NO-GO" in body  # the blocker T1 is open
    assert "1 blocker gate open: T1" in body


def test_outsider_gets_404_on_every_project_url(login, project):
    client = login("outsider")
    for url in [
        detail_url(project),
        reverse("projects:gate", args=[project.slug, "T1"]),
    ]:
        assert client.get(url).status_code == 404, url
    assert client.post(status_url(project, "T1"), {"status": "closed", "version": 1}).status_code == 404


def test_anonymous_is_sent_to_login(client, project):
    response = client.get(detail_url(project))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


@pytest.mark.parametrize("persona,can_edit", [("owner", True), ("editor", True), ("signer", False), ("viewer", False)])
def test_only_writers_get_the_status_form(login, project, persona, can_edit):
    body = login(persona).get(detail_url(project)).content.decode()
    assert (f'action="{status_url(project, "T1")}"' in body) is can_edit


@pytest.mark.parametrize("persona", ["signer", "viewer"])
def test_readers_cannot_change_a_status(login, project, persona):
    gate = ProjectGate.objects.get(project=project, code="T1")
    response = login(persona).post(status_url(project, "T1"), {"status": "closed", "version": gate.version})
    assert response.status_code == 403
    gate.refresh_from_db()
    assert gate.status == "open"


def test_status_change_in_place_updates_score_verdict_and_category(login, project):
    gate = ProjectGate.objects.get(project=project, code="T1")
    client = login("editor")
    response = client.post(
        status_url(project, "T1"), {"status": "closed", "version": gate.version}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    body = response.content.decode()
    # Every part is swapped out of band: the row (in a <template>, which keeps a lone <tr> intact),
    # the readiness header, the category table and the sign-offs.
    assert re.search(rf'<template>\s*<tr id="gate-{gate.pk}" data-code="T1" hx-swap-oob="true">', body)
    assert (
        'id="readiness-summary" class="card" aria-labelledby="summary-heading" aria-live="polite" hx-swap-oob="true"'
        in body
    )
    assert 'id="category-summary" aria-labelledby="categories-heading" hx-swap-oob="true"' in body
    assert 'id="signoffs" aria-labelledby="signoffs-heading" hx-swap-oob="true"' in body
    gate.refresh_from_db()
    assert gate.status == "closed"
    # T1 (blocker, weight 8) closed of 8+2+5+2+1+2 = 20 → 40.0; the blocker reason is gone.
    assert "40.0<small>/100</small>" in body
    assert "blocker gate open" not in body
    assert 'data-label="Closed">1</td>' in body
    assert AuditEvent.objects.filter(action="gate.status_changed", object_id=str(gate.pk)).count() == 1


def test_stale_version_is_refused_and_shows_the_current_value(login, project, owner):
    from audits.services import Actor
    from projects import services

    gate = ProjectGate.objects.get(project=project, code="T2")
    seen = gate.version
    services.gate_update_status(actor=Actor(owner), gate=gate, version=seen, status="partial")
    response = login("editor").post(
        status_url(project, "T2"), {"status": "closed", "version": seen}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 409
    body = response.content.decode()
    assert "Someone else changed T2" in body
    assert "it is now “Partial”" in body
    assert 'class="badge status--partial"' in body
    gate.refresh_from_db()
    assert gate.status == "partial"
    assert gate.version == seen + 1
    # The row now carries the current version, so a deliberate retry can succeed.
    assert f'name="version" value="{gate.version}"' in body


def test_status_change_without_htmx_redirects_with_a_message(login, project):
    gate = ProjectGate.objects.get(project=project, code="S2")
    client = login("owner")
    response = client.post(status_url(project, "S2"), {"status": "partial", "version": gate.version}, follow=True)
    assert response.status_code == 200
    assert "S2 is now Partial." in response.content.decode()


def test_bad_status_is_refused_with_a_message(login, project):
    gate = ProjectGate.objects.get(project=project, code="S2")
    response = login("editor").post(
        status_url(project, "S2"), {"status": "waived", "version": gate.version}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 422
    assert "Choose a status" in response.content.decode()
    gate.refresh_from_db()
    assert gate.status == "open"


def test_gate_filters(login, project):
    client = login("viewer")
    body = client.get(detail_url(project), {"severity": "blocker"}).content.decode()
    assert "Health check green" in body
    assert "CI green on main" not in body
    body = client.get(detail_url(project), {"status": "closed"}).content.decode()
    assert "No gate matches these filters." in body


def test_owners_move_the_project_to_another_stage(login, project):
    ga = project.stages.get(name="GA")
    url = reverse("projects:stage", args=[project.slug])
    assert login("outsider").post(url, {"stage": ga.pk}).status_code == 404
    for persona in ("editor", "signer", "viewer"):
        assert login(persona).post(url, {"stage": ga.pk}).status_code == 403
        assert "Change stage" not in login(persona).get(detail_url(project)).content.decode()
    client = login("owner")
    assert "Change stage" in client.get(detail_url(project)).content.decode()
    response = client.post(url, {"stage": ga.pk}, follow=True)
    body = response.content.decode()
    assert "Apollo is now judged against GA." in body
    assert "Sign-offs for GA" in body and "DevOps Lead" in body
    project.refresh_from_db()
    assert project.current_stage == ga
    response = client.post(url, {"stage": 999999}, follow=True)
    assert "Choose one of the project&#x27;s stages." in response.content.decode()
