"""The portfolio dashboard: visible projects only, filters, sorting, the attention panel."""

import pytest
from django.urls import reverse

from audits.services import Actor
from projects import services
from projects.models import ProjectGate

from .conftest import MEMBERS

pytestmark = pytest.mark.django_db

URL = reverse("projects:dashboard")


@pytest.mark.parametrize("persona", [*MEMBERS, "staff"])
def test_members_see_the_project_with_its_stored_readiness(login, project, persona):
    body = login(persona).get(URL).content.decode()
    assert 'id="project-apollo"' in body
    assert f"{project.score:.1f}" in body
    assert "NO-GO" in body
    assert "0 of 6" in body  # closed of total


def test_outsider_sees_no_project(login, project):
    body = login("outsider").get(URL).content.decode()
    assert 'id="project-apollo"' not in body
    assert "You are not a member of any project yet." in body


def test_anonymous_is_sent_to_login(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_filter_by_verdict(login, project, template, owner, run_on_commit):
    with run_on_commit():
        other = services.project_create_from_template(actor=Actor(owner), template=template, name="Zephyr")
    client = login("owner")
    assert 'id="project-zephyr"' in client.get(URL).content.decode()
    body = client.get(URL, {"verdict": "go"}).content.decode()
    assert 'id="project-apollo"' not in body and 'id="project-zephyr"' not in body
    body = client.get(URL, {"verdict": "no_go", "sort": "-name"}).content.decode()
    assert body.index('id="project-zephyr"') < body.index('id="project-apollo"')
    assert other.pk


def test_attention_panel_lists_my_open_gates_and_missing_signoffs(login, project, editor, owner, run_on_commit):
    gate = ProjectGate.objects.get(project=project, code="S1")
    with run_on_commit():
        services.gate_update(actor=Actor(owner), gate=gate, version=gate.version, owner=editor)
    body = login("editor").get(URL).content.decode()
    assert "S1 Secrets in vault" in body
    body = login("signer").get(URL).content.decode()
    assert "Product Owner" in body
    assert "signoff--missing" in body


def test_dashboard_reads_the_stored_readiness_without_recomputing(login, project, owner):
    gate = ProjectGate.objects.get(project=project, code="T1")
    # Without running the on-commit recompute, the stored readiness stays as it was.
    services.gate_update_status(actor=Actor(owner), gate=gate, version=gate.version, status="closed")
    project.refresh_from_db()
    assert project.computed_seq < project.change_seq
    body = login("owner").get(URL).content.decode()
    row = body[body.index('id="project-apollo"') :]
    assert "0.0" in row[:800] and "0 of 6" in row[:1200]
    project.refresh_from_db()
    assert project.score == 0.0 and project.computed_seq < project.change_seq
