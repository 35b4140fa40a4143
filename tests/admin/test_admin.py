"""The back office: every model is listed and searchable, saves go through services."""

import pytest
from django.urls import reverse

from audits.models import AuditEvent
from projects.models import ProjectGate

pytestmark = pytest.mark.django_db

ADMIN_MODELS = [
    "gates/category",
    "gates/gatetemplate",
    "gates/gatedefinition",
    "projects/project",
    "projects/projectgate",
    "projects/membership",
    "projects/stage",
    "projects/signoffrole",
    "projects/signoff",
    "projects/checkresult",
    "audits/auditevent",
    "audits/readinesssnapshot",
]


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


@pytest.mark.parametrize("model", ADMIN_MODELS)
def test_every_model_has_a_searchable_changelist(staff_client, project, model):
    response = staff_client.get(f"/admin/{model}/", {"q": "apollo"})
    assert response.status_code == 200


def test_project_change_page_shows_gate_inline(staff_client, project):
    response = staff_client.get(reverse("admin:projects_project_change", args=[project.pk]))
    assert response.status_code == 200
    assert b"Health check green" in response.content


def test_gate_changelist_query_count_does_not_grow_with_rows(
    staff_client, project, template, owner, django_assert_max_num_queries
):
    from audits.services import Actor
    from projects import services

    for i in range(20):
        services.project_create_from_template(actor=Actor(owner), template=template, name=f"Bulk {i}")
    assert ProjectGate.objects.count() == 126
    with django_assert_max_num_queries(12):
        assert staff_client.get("/admin/projects/projectgate/").status_code == 200
    with django_assert_max_num_queries(12):
        assert staff_client.get("/admin/projects/project/").status_code == 200


def gate_form(gate, **changes):
    data = {
        "status": gate.status,
        "evidence_url": gate.evidence_url,
        "evidence_note": gate.evidence_note,
        "owner": gate.owner_id or "",
        "due_date": "",
        "notes": gate.notes,
        "seen_version": gate.version,
    }
    data.update(changes)
    return data


def test_gate_save_in_admin_goes_through_the_service(staff_client, project, staff):
    gate = ProjectGate.objects.get(project=project, code="T2")
    url = reverse("admin:projects_projectgate_change", args=[gate.pk])
    response = staff_client.post(url, gate_form(gate, status="closed"))
    assert response.status_code == 302
    gate.refresh_from_db()
    assert (gate.status, gate.version) == ("closed", 2)
    event = AuditEvent.objects.get(action="gate.status_changed")
    assert (event.channel, event.actor_user) == ("admin", staff)


def test_stale_admin_save_is_refused_and_nothing_is_overwritten(staff_client, project, owner):
    from audits.services import Actor
    from projects import services

    gate = ProjectGate.objects.select_related("project").get(project=project, code="T2")
    form = gate_form(gate, notes="from the admin")
    services.gate_update(actor=Actor(owner), gate=gate, version=1, notes="from the web")
    response = staff_client.post(reverse("admin:projects_projectgate_change", args=[gate.pk]), form, follow=True)
    assert b"Nothing was saved" in response.content
    gate.refresh_from_db()
    assert (gate.notes, gate.version) == ("from the web", 2)


def test_audit_events_cannot_be_changed_or_deleted_in_admin(staff_client, project):
    event = AuditEvent.objects.first()
    assert (
        staff_client.post(reverse("admin:audits_auditevent_delete", args=[event.pk]), {"post": "yes"}).status_code
        == 403
    )
    assert (
        staff_client.post(reverse("admin:audits_auditevent_change", args=[event.pk]), {"action": "x"}).status_code
        == 403
    )
    assert AuditEvent.objects.filter(pk=event.pk, action=event.action).exists()


def test_create_project_from_template_in_admin(staff_client, template, staff):
    response = staff_client.post(
        reverse("admin:projects_project_add"),
        {
            "name": "Gemini",
            "slug": "gemini",
            "description": "",
            "template": template.pk,
            "owner": staff.pk,
            "target_launch_date": "",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    from projects.models import Project

    gemini = Project.objects.get(slug="gemini")
    assert gemini.gates.count() == 6 and gemini.stages.count() == 2
    assert AuditEvent.objects.filter(project=gemini, action="project.created", channel="admin").exists()
