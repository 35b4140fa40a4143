"""The project page: readiness header, category table, gates, and in-place status changes."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from audits.models import AuditEvent
from audits.services import Actor
from projects import services
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
    # Still NO-GO, now for the score and the closed count; the technical row: T1 closed (8), T2 open (2).
    assert _verdict_badge(body) == ("no_go", "NO-GO")
    assert "<li>Score 40.0 is below the Soft launch minimum of 50</li>" in body
    assert _cells(body, "category-technical") == {
        "Closed": "1", "Partial": "0", "Open": "1", "Total": "2", "Score": "80.0"
    }  # fmt: skip
    # Closing S1 (critical, 5) too: 13 of 20 → 65.0, two closed, no blocker open: the badge turns
    # CONDITIONAL GO (sign-offs are missing) and the security row follows.
    gate = ProjectGate.objects.get(project=project, code="S1")
    response = client.post(
        status_url(project, "S1"), {"status": "closed", "version": gate.version}, HTTP_HX_REQUEST="true"
    )
    body = response.content.decode()
    assert _verdict_badge(body) == ("conditional_go", "CONDITIONAL GO")
    assert "65.0<small>/100</small>" in body
    assert _cells(body, "category-security") == {
        "Closed": "1", "Partial": "0", "Open": "1", "Total": "2", "Score": "71.4"
    }  # fmt: skip
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


def test_a_waived_gate_keeps_its_waiver_when_an_editor_picks_a_status(login, project, owner):
    from datetime import timedelta

    from django.utils import timezone

    from audits.services import Actor
    from projects import services

    gate = ProjectGate.objects.get(project=project, code="T1")
    gate = services.gate_waive(
        actor=Actor(owner),
        gate=gate,
        version=gate.version,
        reason="Risk accepted",
        expires_at=timezone.now() + timedelta(days=7),
    )
    response = login("editor").post(
        status_url(project, "T1"), {"status": "closed", "version": gate.version}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 409
    assert "An owner lifts the waiver first" in response.content.decode()
    gate.refresh_from_db()
    assert (gate.status, gate.waiver_reason) == ("waived", "Risk accepted")


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


def _verdict_badge(body):
    """(verdict key, word) of the badge in the readiness header."""
    start = body.index('id="readiness-summary"')
    summary = body[start : body.index("</section>", start)]
    badges = re.findall(r'<span class="badge verdict--(\w+) verdict-large">([^<]+)</span>', summary)
    assert len(badges) == 1, summary
    return badges[0]


def _cells(body, row_id):
    start = body.index(f'id="{row_id}"')
    row = body[start : body.index("</tr>", start)]
    return dict(re.findall(r'<td class="num" data-label="(\w+)">([^<]*)</td>', row))


def _gate_row(body, project, code):
    pk = ProjectGate.objects.get(project=project, code=code).pk
    start = body.index(f'id="gate-{pk}"')
    return body[start : body.index("</tr>", start)]


@pytest.fixture
def known_state(project, owner, editor, run_on_commit):
    """T1 closed, T2 partial, S1 partial, O1 closed; S2 and O2 open. T2 is owned by the editor,
    due yesterday, with evidence; every other gate is owned by nobody."""
    with run_on_commit():
        for code, status in (("T1", "closed"), ("T2", "partial"), ("S1", "partial"), ("O1", "closed")):
            gate = ProjectGate.objects.get(project=project, code=code)
            services.gate_update_status(actor=Actor(owner), gate=gate, version=gate.version, status=status)
        gate = ProjectGate.objects.get(project=project, code="T2")
        services.gate_update(
            actor=Actor(owner),
            gate=gate,
            version=gate.version,
            owner=editor,
            due_date=timezone.localdate() - timezone.timedelta(days=1),
            evidence_url="https://ci.example.com/main",
            evidence_note="Green for a week",
        )
    return project


def test_category_table_for_a_known_state(login, known_state):
    body = login("viewer").get(detail_url(known_state)).content.decode()
    # Weights: blocker 8, critical 5, medium 2, low 1; closed earns all, partial half.
    assert _cells(body, "category-technical") == {  # T1 closed (8), T2 partial (2): 9 of 10
        "Closed": "1", "Partial": "1", "Open": "0", "Total": "2", "Score": "90.0"
    }  # fmt: skip
    assert _cells(body, "category-security") == {  # S1 partial (5), S2 open (2): 2.5 of 7
        "Closed": "0", "Partial": "1", "Open": "1", "Total": "2", "Score": "35.7"
    }  # fmt: skip
    assert _cells(body, "category-observability") == {  # O1 closed (1), O2 open (2): 1 of 3
        "Closed": "1", "Partial": "0", "Open": "1", "Total": "2", "Score": "33.3"
    }  # fmt: skip
    assert _cells(body, "category-total") == {  # 12.5 of 20
        "Closed": "2", "Partial": "2", "Open": "2", "Total": "6", "Score": "62.5"
    }  # fmt: skip


def test_gate_rows_show_owner_due_date_and_evidence(login, known_state):
    body = login("viewer").get(detail_url(known_state)).content.decode()
    t2 = _gate_row(body, known_state, "T2")
    yesterday = date_format(timezone.localdate() - timezone.timedelta(days=1), "j M Y")
    assert '<td data-label="Owner">eddie-editor</td>' in t2
    assert f'<td data-label="Due">{yesterday} <span class="badge status--open">Overdue</span></td>' in t2
    assert '<a href="https://ci.example.com/main" rel="noopener noreferrer">Link</a> Green for a week' in t2
    s2 = _gate_row(body, known_state, "S2")
    assert '<td data-label="Owner"><span class="muted">Nobody</span></td>' in s2
    assert '<td data-label="Due">—</td>' in s2
    assert '<td data-label="Evidence"><span class="muted">None</span></td>' in s2


def test_gate_list_filters_by_owner_including_nobody(login, known_state):
    client = login("viewer")

    def codes(**params):
        body = client.get(detail_url(known_state), params).content.decode()
        return sorted(re.findall(r'data-code="(\w+)"', body))

    assert codes() == ["O1", "O2", "S1", "S2", "T1", "T2"]
    assert codes(owner="eddie-editor") == ["T2"]
    assert codes(owner="-") == ["O1", "O2", "S1", "S2", "T1"]
    body = client.get(detail_url(known_state)).content.decode()
    assert '<option value="-">Nobody</option>' in body
    assert '<option value="eddie-editor">eddie-editor</option>' in body


def test_status_filter_follows_what_the_rows_show(login, project, owner, run_on_commit):
    """A closed gate whose evidence went stale is listed as stale, not closed; a waiver past its
    expiry is listed as expired, not waived: the filter agrees with the row's words."""
    now = timezone.now()
    with run_on_commit():
        for code in ("T2", "S2"):
            gate = ProjectGate.objects.get(project=project, code=code)
            services.gate_update_status(actor=Actor(owner), gate=gate, version=gate.version, status="closed")
        for code in ("O1", "O2"):
            gate = ProjectGate.objects.get(project=project, code=code)
            services.gate_waive(
                actor=Actor(owner), gate=gate, version=gate.version, reason="Later", expires_at=now + timedelta(days=9)
            )
    # As if T2 had been verified three days ago with evidence valid for one day, and O2's waiver
    # had run out yesterday (before the expiry task got to it).
    ProjectGate.objects.filter(project=project, code="T2").update(
        verified_at=now - timedelta(days=3), evidence_valid_days=1, evidence_expires_at=now - timedelta(days=2)
    )
    ProjectGate.objects.filter(project=project, code="O2").update(waiver_expires_at=now - timedelta(days=1))
    client = login("viewer")

    def codes(status):
        body = client.get(detail_url(project), {"status": status}).content.decode()
        return sorted(re.findall(r'data-code="(\w+)"', body)), body

    closed, _ = codes("closed")
    assert closed == ["S2"]
    stale, body = codes("stale")
    assert stale == ["T2"]
    assert "Evidence stale: counts as Partial" in _gate_row(body, project, "T2")
    waived, _ = codes("waived")
    assert waived == ["O1"]
    expired, body = codes("waiver_expired")
    assert expired == ["O2"]
    assert "Waiver expired: counts as Open" in _gate_row(body, project, "O2")
    assert codes("partial")[0] == []
    assert codes("open")[0] == ["S1", "T1"]
    assert '<option value="stale">Closed, evidence stale</option>' in body
