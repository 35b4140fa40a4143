"""The sign-off page: what is signed, the decision, recent authentication, stale detection."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from audits.services import Actor
from projects import readiness, selectors, services
from projects.models import ProjectGate, SignOff, SignOffRole

from .conftest import MEMBERS

pytestmark = pytest.mark.django_db

PASSWORD = "preflight-test-pw"


def url(project):
    return reverse("projects:signoff", args=[project.slug])


def reauthenticate(client):
    response = client.post(reverse("account_reauthenticate"), {"password": PASSWORD})
    assert response.status_code == 302, response.content.decode()


def hash_on_page(client, project):
    body = client.get(url(project)).content.decode()
    marker = 'name="state_hash" value="'
    start = body.index(marker) + len(marker)
    return body[start : start + 64]


@pytest.mark.parametrize("persona", [*MEMBERS, "staff"])
def test_every_member_sees_what_is_signed(login, project, persona):
    response = login(persona).get(url(project))
    assert response.status_code == 200
    body = response.content.decode()
    assert "What you are signing" in body
    assert "Open gates (6)" in body
    assert "Health check green" in body
    assert ("Your decision" in body) and (('name="decision"' in body) is (persona in ("owner", "signer")))


def test_outsider_gets_404(login, project):
    assert login("outsider").get(url(project)).status_code == 404


def test_signing_asks_for_a_recent_authentication_then_signs(login, project, signer):
    client = login("signer")
    state_hash = hash_on_page(client, project)
    role = SignOffRole.objects.get(project=project, name="Product Owner")
    data = {"role": role.pk, "decision": "no_go", "comment": "T1 must close first", "state_hash": state_hash}
    response = client.post(url(project), data)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_reauthenticate"))
    assert not SignOff.objects.exists()
    reauthenticate(client)
    response = client.post(url(project), data)
    assert response.status_code == 302
    signoff = SignOff.objects.get()
    assert (signoff.user, signoff.decision, signoff.comment) == (signer, "no_go", "T1 must close first")
    assert signoff.state_hash == state_hash


def test_comment_is_required_unless_go(login, project):
    client = login("signer")
    reauthenticate(client)
    role = SignOffRole.objects.get(project=project, name="Product Owner")
    data = {"role": role.pk, "decision": "conditional_go", "comment": "  ", "state_hash": hash_on_page(client, project)}
    response = client.post(url(project), data)
    assert response.status_code == 422
    assert "A comment is required unless the decision is GO." in response.content.decode()
    assert not SignOff.objects.exists()
    data.update(decision="go", comment="")
    assert client.post(url(project), data).status_code == 302
    assert SignOff.objects.get().decision == "go"


def test_a_change_while_reading_refuses_the_signature_and_shows_the_state_now(login, project, owner):
    client = login("signer")
    reauthenticate(client)
    seen = hash_on_page(client, project)
    gate = ProjectGate.objects.get(project=project, code="T2")
    services.gate_update_status(actor=Actor(owner), gate=gate, version=gate.version, status="closed")
    role = SignOffRole.objects.get(project=project, name="Product Owner")
    response = client.post(url(project), {"role": role.pk, "decision": "go", "state_hash": seen})
    assert response.status_code == 409
    assert "The gates changed while you were reading this page" in response.content.decode()
    assert not SignOff.objects.exists()
    now = selectors.project_readiness(project).state_hash
    assert f'name="state_hash" value="{now}"' in response.content.decode() and now != seen
    assert client.post(url(project), {"role": role.pk, "decision": "go", "state_hash": now}).status_code == 302
    assert SignOff.objects.get().state_hash == now


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_change_committed_while_the_signature_waits_for_the_lock_is_not_signed(login, project, owner):
    """The race the hash check must close: the page's hash still matches when the request
    arrives, but a gate change holding the project's row commits before the sign-off gets it."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: the race needs a second connection and row locks")
    client = login("signer")
    reauthenticate(client)
    seen = hash_on_page(client, project)
    role = SignOffRole.objects.get(project=project, name="Product Owner")
    written, commit = threading.Event(), threading.Event()

    def change_gate():
        try:
            with transaction.atomic():
                gate = ProjectGate.objects.get(project=project, code="T2")
                services.gate_update_status(actor=Actor(owner), gate=gate, version=gate.version, status="closed")
                written.set()
                assert commit.wait(60), "the test never let the change commit"
        finally:
            connections.close_all()

    def sign():
        try:
            return client.post(url(project), {"role": role.pk, "decision": "go", "state_hash": seen})
        finally:
            connections.close_all()

    with ThreadPoolExecutor(2) as pool:
        writer = pool.submit(change_gate)
        assert written.wait(60)
        signing = pool.submit(sign)
        try:
            wait_for_a_backend_waiting_on_a_lock()
        finally:
            commit.set()
        writer.result()
        response = signing.result()
    assert response.status_code == 409, response.status_code
    assert not SignOff.objects.exists()
    assert ProjectGate.objects.get(project=project, code="T2").status == "closed"


def wait_for_a_backend_waiting_on_a_lock():
    """Poll (not sleep-and-hope) until another connection waits on a row lock, or fail."""
    deadline = time.monotonic() + 60
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.01)
    raise AssertionError("the sign-off never waited for the project lock")


@pytest.mark.parametrize("persona", ["editor", "viewer"])
def test_members_without_a_role_cannot_sign(login, project, persona):
    client = login(persona)
    reauthenticate(client)
    role = SignOffRole.objects.get(project=project, name="Product Owner")
    response = client.post(url(project), {"role": role.pk, "decision": "go", "state_hash": "x" * 64})
    assert response.status_code == 403
    assert not SignOff.objects.exists()


def test_stale_signoff_names_the_gates_changed_since(login, project, signer, editor, run_on_commit):
    role = SignOffRole.objects.get(project=project, name="Product Owner")
    with run_on_commit():
        services.signoff_give(
            actor=Actor(signer), project=project, stage=project.current_stage, role=role, decision="go"
        )
    detail = reverse("projects:detail", args=[project.slug])
    body = login("viewer").get(detail).content.decode()
    assert 'class="badge signoff--current">Current' in body
    gate = ProjectGate.objects.get(project=project, code="S2")
    with run_on_commit():
        services.gate_update_status(actor=Actor(editor), gate=gate, version=gate.version, status="partial")
    gate = ProjectGate.objects.get(project=project, code="O1")
    with run_on_commit():
        services.gate_update(actor=Actor(editor), gate=gate, version=gate.version, evidence_note="dashboards")
    gate = ProjectGate.objects.get(project=project, code="O2")
    with run_on_commit():  # not hashed: does not make the sign-off stale
        services.gate_update(actor=Actor(editor), gate=gate, version=gate.version, notes="later")
    body = login("viewer").get(detail).content.decode()
    assert 'class="badge signoff--stale">Stale' in body
    assert "Changed since it was given: O1, S2" in body
    assert "Backend Lead" in body and 'class="badge signoff--missing">Missing' in body


def test_withdraw_own_signoff(login, project, signer, run_on_commit):
    role = SignOffRole.objects.get(project=project, name="Product Owner")
    signoff = services.signoff_give(
        actor=Actor(signer), project=project, stage=project.current_stage, role=role, decision="go"
    )
    client = login("viewer")
    withdraw = reverse("projects:signoff_revoke", args=[project.slug, signoff.pk])
    assert client.post(withdraw).status_code == 403
    client = login("signer")
    assert client.post(withdraw).status_code == 302
    assert not SignOff.objects.exists()


def _section(body, heading):
    start = body.index(f"<h3>{heading}")
    end = min(i for i in (body.find("<h3>", start + 1), body.find("</section>", start)) if i > 0)
    return body[start:end]


def test_the_page_shows_the_score_verdict_partial_gates_and_waivers(login, project, owner, editor, run_on_commit):
    expiry = timezone.now() + timezone.timedelta(days=7)
    with run_on_commit():
        for code, status in (("T1", "closed"), ("T2", "partial")):
            gate = ProjectGate.objects.get(project=project, code=code)
            services.gate_update_status(actor=Actor(editor), gate=gate, version=gate.version, status=status)
        gate = ProjectGate.objects.get(project=project, code="S1")
        services.gate_waive(
            actor=Actor(owner), gate=gate, version=gate.version, reason="Vault next sprint", expires_at=expiry
        )
    project.refresh_from_db()
    result = selectors.project_readiness(project)
    assert result.score > 0
    body = login("viewer").get(url(project)).content.decode()
    assert f'<span class="score">{result.score:.1f}<small>/100</small></span>' in body
    assert readiness.VERDICT_LABELS[result.verdict] in body
    assert "1 of 6 gates closed" in body
    partial = _section(body, "Partial gates")
    assert partial.startswith("<h3>Partial gates (1)</h3>")
    assert "T2</a> CI green on main" in partial
    waivers = _section(body, "Waivers")
    assert waivers.startswith("<h3>Waivers (1)</h3>")
    assert (
        f"S1</a> Secrets in vault: “Vault next sprint”, approved by olivia-owner, until {date_format(expiry, 'j M Y')}"
        in waivers
    )
    open_gates = _section(body, "Open gates")
    assert open_gates.startswith("<h3>Open gates (3)</h3>")
    assert all(f"{code}</a>" in open_gates for code in ("S2", "O1", "O2"))
    assert "T1</a>" not in open_gates + partial + waivers
