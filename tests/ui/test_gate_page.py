"""The gate page: facts, evidence editing, waivers (owners), history and check results."""

import re

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from audits.services import Actor
from projects import services
from projects.models import CheckResult, ProjectGate

from .conftest import MEMBERS

pytestmark = pytest.mark.django_db


def url(project, code, name="gate"):
    return reverse(f"projects:{name}", args=[project.slug, code])


def edit_data(gate, **changes):
    data = {
        "evidence_url": gate.evidence_url,
        "evidence_note": gate.evidence_note,
        "notes": gate.notes,
        "owner": gate.owner_id or "",
        "due_date": gate.due_date or "",
        "version": gate.version,
    }
    data.update(changes)
    return data


@pytest.mark.parametrize("persona", [*MEMBERS, "staff"])
def test_members_see_the_gate_with_its_history_and_checks(login, project, persona, owner):
    gate = ProjectGate.objects.get(project=project, code="T1")
    services.gate_update_status(actor=Actor(owner), gate=gate, version=gate.version, status="partial")
    CheckResult.objects.create(gate=gate, source="ci", passed=False, details="health endpoint 503")
    body = login(persona).get(url(project, "T1")).content.decode()
    assert "T1 Health check green" in body
    assert "gate.status_changed" in body and "Status: open → partial" in body
    assert "health endpoint 503" in body
    assert ("Edit evidence, owner and due date" in body) is (persona in ("owner", "editor", "staff"))
    assert ("Waive this gate" in body) is (persona in ("owner", "staff"))


def test_outsider_gets_404_everywhere(login, project):
    client = login("outsider")
    assert client.get(url(project, "T1")).status_code == 404
    for name in ("gate_edit", "gate_waive", "gate_unwaive"):
        assert client.post(url(project, "T1", name), {"version": 1}).status_code == 404
    assert client.get(url(project, "NOPE")).status_code == 404


def test_editor_edits_evidence_and_owner(login, project, editor):
    gate = ProjectGate.objects.get(project=project, code="S1")
    client = login("editor")
    data = edit_data(gate, evidence_url="https://ci.example.com/run/1", evidence_note="vault audit", owner=editor.pk)
    response = client.post(url(project, "S1", "gate_edit"), data)
    assert response.status_code == 302
    gate.refresh_from_db()
    assert (gate.evidence_url, gate.evidence_note, gate.owner) == (
        "https://ci.example.com/run/1",
        "vault audit",
        editor,
    )


def test_bad_input_is_shown_beside_the_field_and_nothing_saved(login, project, outsider):
    gate = ProjectGate.objects.get(project=project, code="S1")
    client = login("editor")
    response = client.post(url(project, "S1", "gate_edit"), edit_data(gate, evidence_url="not a link at all"))
    assert response.status_code == 422
    body = response.content.decode()
    assert 'id="id_evidence_url_error"' in body
    # The field points at its error, so a screen reader reads it with the field.
    assert re.search(r'<input[^>]*aria-invalid="true"[^>]*aria-describedby="[^"]*id_evidence_url_error"', body)
    gate.refresh_from_db()
    assert gate.evidence_url == ""
    # Someone outside the project cannot be made the owner (not even offered).
    response = client.post(url(project, "S1", "gate_edit"), edit_data(gate, owner=outsider.pk))
    assert response.status_code == 422
    assert 'id="id_owner_error"' in response.content.decode()


def test_concurrent_edit_is_refused_and_shows_current_values(login, project, owner):
    gate = ProjectGate.objects.get(project=project, code="S1")
    seen = gate.version
    services.gate_update(actor=Actor(owner), gate=gate, version=seen, evidence_note="owner's note")
    response = login("editor").post(url(project, "S1", "gate_edit"), edit_data(gate, version=seen, notes="mine"))
    assert response.status_code == 409
    body = response.content.decode()
    assert "Someone else changed S1 while you were editing it. Nothing was saved" in body
    assert "owner&#x27;s note" in body
    gate.refresh_from_db()
    assert gate.notes == "" and gate.evidence_note == "owner's note"


@pytest.mark.parametrize("persona", ["signer", "viewer"])
def test_readers_cannot_edit(login, project, persona):
    gate = ProjectGate.objects.get(project=project, code="S1")
    response = login(persona).post(url(project, "S1", "gate_edit"), edit_data(gate, notes="x"))
    assert response.status_code == 403
    gate.refresh_from_db()
    assert gate.notes == ""


def test_only_owners_waive_and_a_waiver_needs_a_reason_and_expiry(login, project):
    gate = ProjectGate.objects.get(project=project, code="T1")
    expiry = (timezone.localdate() + timezone.timedelta(days=14)).isoformat()
    data = {"reason": "Accepted for the soft launch", "expires_at": expiry, "version": gate.version}
    assert login("editor").post(url(project, "T1", "gate_waive"), data).status_code == 403
    client = login("owner")
    response = client.post(url(project, "T1", "gate_waive"), {**data, "reason": ""})
    assert response.status_code == 422
    assert 'id="id_reason_error"' in response.content.decode()
    past = (timezone.localdate() - timezone.timedelta(days=1)).isoformat()
    response = client.post(url(project, "T1", "gate_waive"), {**data, "expires_at": past})
    assert response.status_code == 422
    assert "The expiry must be in the future." in response.content.decode()
    assert client.post(url(project, "T1", "gate_waive"), data).status_code == 302
    gate.refresh_from_db()
    assert gate.status == "waived" and gate.waiver_reason == "Accepted for the soft launch"
    body = client.get(url(project, "T1")).content.decode()
    assert "Lift the waiver" in body
    response = client.post(url(project, "T1", "gate_unwaive"), {"status": "partial", "version": gate.version})
    assert response.status_code == 302
    gate.refresh_from_db()
    assert gate.status == "partial" and gate.waiver_reason == ""


def test_notes_and_due_date_are_saved(login, project):
    gate = ProjectGate.objects.get(project=project, code="T2")
    due = timezone.localdate() + timezone.timedelta(days=9)
    response = login("editor").post(
        url(project, "T2", "gate_edit"), edit_data(gate, notes="Flaky on Mondays", due_date=due.isoformat())
    )
    assert response.status_code == 302
    gate.refresh_from_db()
    assert (gate.notes, gate.due_date) == ("Flaky on Mondays", due)
    body = login("viewer").get(url(project, "T2")).content.decode()
    assert "Flaky on Mondays" in body
    assert f"<dt>Due</dt><dd>{date_format(due, 'j M Y')}</dd>" in body


def test_a_bad_due_date_is_a_field_error_and_saves_nothing(login, project):
    gate = ProjectGate.objects.get(project=project, code="T2")
    response = login("editor").post(
        url(project, "T2", "gate_edit"), edit_data(gate, notes="should not be saved", due_date="31/02/2026")
    )
    assert response.status_code == 422
    body = response.content.decode()
    field = body[body.index('for="id_due_date"') :]
    field = field[: field.index("</div>")]
    assert '<ul class="field-errors" id="id_due_date_error"><li>Enter a valid date.</li></ul>' in field
    gate.refresh_from_db()
    assert (gate.notes, gate.due_date, gate.version) == ("", None, 1)
