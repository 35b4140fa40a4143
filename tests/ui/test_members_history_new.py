"""Members (owners manage), the history timeline with its chart, and new projects from templates."""

import re

import pytest
from django.urls import reverse

from audits.services import Actor
from projects import services
from projects.models import Membership, Project, ProjectGate, SignOffRole

from .conftest import MEMBERS

pytestmark = pytest.mark.django_db


def members_url(project, name="members", *args):
    return reverse(f"projects:{name}", args=[project.slug, *args])


@pytest.mark.parametrize("persona", [*MEMBERS, "staff"])
def test_members_page_lists_members(login, project, persona):
    body = login(persona).get(members_url(project)).content.decode()
    assert "eddie-editor" in body and "sam-signer" in body
    assert ("Add a member" in body) is (persona in ("owner", "staff"))


def test_outsider_gets_404(login, project):
    client = login("outsider")
    assert client.get(members_url(project)).status_code == 404
    assert client.post(members_url(project, "member_add"), {}).status_code == 404
    assert client.get(reverse("projects:history", args=[project.slug])).status_code == 404


@pytest.mark.parametrize("persona", ["editor", "signer", "viewer"])
def test_non_owners_cannot_manage_members(login, project, persona, outsider):
    response = login(persona).post(
        members_url(project, "member_add"), {"add-user": outsider.username, "add-role": "viewer"}
    )
    assert response.status_code == 403
    assert not Membership.objects.filter(user=outsider).exists()


def test_owner_adds_updates_and_removes_a_member(login, project, outsider, viewer):
    client = login("owner")
    role = SignOffRole.objects.get(project=project, name="DevOps Lead")
    response = client.post(
        members_url(project, "member_add"),
        {"add-user": outsider.email, "add-role": "signer", "add-signoff_roles": [role.pk]},
    )
    assert response.status_code == 302
    m = Membership.objects.get(user=outsider, project=project)
    assert m.role == "signer" and list(m.signoff_roles.all()) == [role]
    response = client.post(members_url(project, "member_add"), {"add-user": "nobody-here", "add-role": "viewer"})
    assert response.status_code == 422
    assert "No active account has this username or email." in response.content.decode()
    vm = Membership.objects.get(user=viewer, project=project)
    response = client.post(members_url(project, "member_update", vm.pk), {f"m{vm.pk}-role": "editor"})
    assert response.status_code == 302
    vm.refresh_from_db()
    assert vm.role == "editor"
    assert client.post(members_url(project, "member_remove", m.pk)).status_code == 302
    assert not Membership.objects.filter(pk=m.pk).exists()


def test_the_last_owner_stays(login, project, owner):
    om = Membership.objects.get(user=owner, project=project)
    client = login("owner")
    response = client.post(members_url(project, "member_remove", om.pk), follow=True)
    assert "A project must keep at least one owner." in response.content.decode()
    assert Membership.objects.filter(pk=om.pk).exists()
    response = client.post(members_url(project, "member_update", om.pk), {f"m{om.pk}-role": "viewer"})
    assert response.status_code == 422
    assert "A project must keep at least one owner." in response.content.decode()


@pytest.mark.parametrize("persona", [*MEMBERS, "staff"])
def test_history_shows_the_timeline_and_the_score_chart(login, project, persona, editor, run_on_commit):
    for code, status in [("T1", "closed"), ("S1", "partial")]:
        gate = ProjectGate.objects.get(project=project, code=code)
        with run_on_commit():
            services.gate_update_status(actor=Actor(editor), gate=gate, version=gate.version, status=status)
    response = login(persona).get(reverse("projects:history", args=[project.slug]))
    assert response.status_code == 200
    body = response.content.decode()
    assert "gate.status_changed" in body and "member.added" in body and "project.created" in body
    assert '<svg class="chart"' in body and "<polyline points=" in body
    assert body.count("<circle ") >= 3  # created, T1 closed, S1 partial


def test_history_filters(login, project, editor, run_on_commit):
    gate = ProjectGate.objects.get(project=project, code="T1")
    services.gate_update_status(actor=Actor(editor), gate=gate, version=gate.version, status="closed")
    client = login("viewer")
    url = reverse("projects:history", args=[project.slug])
    body = client.get(url, {"actor": "eddie-editor"}).content.decode()
    assert "<code>gate.status_changed</code>" in body and "<code>member.added</code>" not in body
    body = client.get(url, {"action": "member.added"}).content.decode()
    assert "<code>member.added</code>" in body and "<code>gate.status_changed</code>" not in body
    body = client.get(url, {"since": "2001-01-01", "until": "2001-01-02"}).content.decode()
    assert "No event matches these filters." in body
    response = client.get(url, {"since": "2001-01-03", "until": "2001-01-02"})
    assert "The end date is before the start date." in response.content.decode()


def test_new_project_from_a_template(login, template, outsider):
    client = login("outsider")
    assert client.get(reverse("projects:new")).status_code == 200
    data = {
        "template": template.pk,
        "name": "Hermes",
        "slug": "",
        "target_launch_date": "2031-05-01",
        "stages-TOTAL_FORMS": "3",
        "stages-INITIAL_FORMS": "0",
        "stages-0-name": "Beta",
        "stages-0-target_date": "2031-04-01",
        "stages-0-min_score": "60",
        "stages-1-name": "GA",
        "stages-1-min_closed": "5",
    }
    response = client.post(reverse("projects:new"), data)
    assert response.status_code == 302
    project = Project.objects.get(slug="hermes")
    assert response["Location"] == project.get_absolute_url()
    assert project.gates.count() == 6
    assert [s.name for s in project.stages.order_by("order")] == ["Beta", "GA"]
    assert project.current_stage.name == "Beta"
    assert Membership.objects.get(project=project).user == outsider
    # The same slug again is refused beside the field, nothing created.
    response = client.post(reverse("projects:new"), {**data, "name": "Hermes"})
    assert response.status_code == 422
    assert "The slug “hermes” is taken." in response.content.decode()
    assert Project.objects.filter(slug="hermes").count() == 1


def test_new_project_stage_row_needs_a_name(login, template):
    data = {
        "template": template.pk,
        "name": "Iris",
        "stages-TOTAL_FORMS": "1",
        "stages-INITIAL_FORMS": "0",
        "stages-0-min_score": "60",
    }
    response = login("editor").post(reverse("projects:new"), data)
    assert response.status_code == 422
    assert "Give this stage a name, or clear the row." in response.content.decode()
    assert not Project.objects.filter(name="Iris").exists()


def test_history_says_what_changed(login, project, editor):
    gate = ProjectGate.objects.get(project=project, code="S1")
    services.gate_update(
        actor=Actor(editor), gate=gate, version=gate.version, evidence_url="https://vault.example.com/audit"
    )
    body = login("viewer").get(reverse("projects:history", args=[project.slug])).content.decode()
    assert "Evidence url: — → https://vault.example.com/audit" in body
    assert "Role: — → signer" in body  # member events list their fields too
    assert "Signoff roles: — → Product Owner" in body


def test_member_update_changes_the_signoff_roles(login, project, signer):
    client = login("owner")
    roles = {r.name: r for r in SignOffRole.objects.filter(project=project)}
    sm = Membership.objects.get(user=signer, project=project)
    assert {r.name for r in sm.signoff_roles.all()} == {"Product Owner"}
    response = client.post(
        members_url(project, "member_update", sm.pk),
        {f"m{sm.pk}-role": "signer", f"m{sm.pk}-signoff_roles": [roles["Backend Lead"].pk, roles["DevOps Lead"].pk]},
    )
    assert response.status_code == 302
    assert {r.name for r in sm.signoff_roles.all()} == {"Backend Lead", "DevOps Lead"}
    body = client.get(members_url(project)).content.decode()
    checked = re.findall(rf'name="m{sm.pk}-signoff_roles" value="(\d+)"[^>]*checked', body)
    assert sorted(checked) == sorted([str(roles["Backend Lead"].pk), str(roles["DevOps Lead"].pk)])
    # None ticked removes them all; a role of another project is refused beside the field.
    response = client.post(members_url(project, "member_update", sm.pk), {f"m{sm.pk}-role": "signer"})
    assert response.status_code == 302
    assert not sm.signoff_roles.exists()
    response = client.post(
        members_url(project, "member_update", sm.pk), {f"m{sm.pk}-role": "signer", f"m{sm.pk}-signoff_roles": [999999]}
    )
    assert response.status_code == 422
    assert not sm.signoff_roles.exists()
    body = response.content.decode()
    fieldset = _fieldset(body, f"m{sm.pk}-signoff_roles")
    assert INVALID_ROLE in fieldset
    assert f'aria-describedby="id_m{sm.pk}-signoff_roles_error"' in fieldset
    assert body.count(INVALID_ROLE) == 1  # beside that member's roles only


INVALID_ROLE = "Select a valid choice. 999999 is not one of the available choices."


def _fieldset(body, name):
    """The <fieldset> that holds the inputs named `name`."""
    at = body.index(f'name="{name}"')
    start = body.rindex("<fieldset", 0, at)
    return body[start : body.index("</fieldset>", at)]


def test_adding_a_member_with_an_unknown_signoff_role_says_so_beside_the_roles(login, project, outsider):
    response = login("owner").post(
        members_url(project, "member_add"),
        {"add-user": outsider.username, "add-role": "signer", "add-signoff_roles": [999999]},
    )
    assert response.status_code == 422
    assert not Membership.objects.filter(user=outsider, project=project).exists()
    fieldset = _fieldset(response.content.decode(), "add-signoff_roles")
    assert "field--error" in fieldset
    assert f'<ul class="field-errors" id="id_add-signoff_roles_error"><li>{INVALID_ROLE}</li></ul>' in fieldset
