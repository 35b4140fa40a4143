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
    response = staff_client.post(reverse("admin:projects_projectgate_change", args=[gate.pk]), form)
    assert response.status_code == 200  # the form is shown again with the error, not saved
    assert b"Nothing was saved" in response.content and b"changed by someone else" in response.content
    gate.refresh_from_db()
    assert (gate.notes, gate.version) == ("from the web", 2)


def test_admin_gate_save_without_a_version_is_refused(staff_client, project):
    gate = ProjectGate.objects.get(project=project, code="T2")
    events = AuditEvent.objects.count()
    response = staff_client.post(
        reverse("admin:projects_projectgate_change", args=[gate.pk]), gate_form(gate, status="closed", seen_version="")
    )
    assert response.status_code == 200
    assert b"version is missing" in response.content
    gate.refresh_from_db()
    assert (gate.status, gate.version) == ("open", 1)
    assert AuditEvent.objects.count() == events


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


# --- the project change page and its inlines ---------------------------------------------------


def change_form_data(response):
    """The POST a browser would send back from an admin change page, untouched."""
    data = {}

    def add(form):
        for field in form:
            value = field.value()
            if isinstance(value, bool):
                if value:
                    data[field.html_name] = "on"
            elif isinstance(value, list | tuple):
                data[field.html_name] = [str(v) for v in value]
            else:
                data[field.html_name] = "" if value is None else str(value)

    add(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        add(inline.formset.management_form)
        for form in inline.formset.forms:
            add(form)
    return data


def inline_prefix(response, model, *, new=False):
    """Form prefix of the inline for `model` (the "add members" inline when `new`)."""
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        if formset.model is model and (formset.initial_form_count() == 0) == new:
            return formset, formset.prefix
    raise AssertionError(f"no inline for {model.__name__}")


def row_of(formset, **match):
    for form in formset.forms:
        if all(getattr(form.instance, k) == v for k, v in match.items()):
            return form.prefix
    raise AssertionError(f"no row with {match}")


def project_change(staff_client, project):
    url = reverse("admin:projects_project_change", args=[project.pk])
    response = staff_client.get(url)
    assert response.status_code == 200
    return url, response


def test_saving_the_unchanged_project_page_writes_nothing(staff_client, project, owner, editor):
    from audits.services import Actor
    from projects import services

    gate = ProjectGate.objects.select_related("project").get(project=project, code="T2")
    services.gate_update(actor=Actor(owner), gate=gate, version=1, owner=editor)
    url, page = project_change(staff_client, project)
    events = AuditEvent.objects.count()
    response = staff_client.post(url, change_form_data(page))
    assert response.status_code == 302, response.context["errors"] if response.context else response
    assert AuditEvent.objects.count() == events
    gate.refresh_from_db()
    assert (gate.owner, gate.version) == (editor, 2)


def test_project_inlines_save_through_the_services(staff_client, project, staff, editor, outsider, run_on_commit):
    from projects.models import Membership, SignOffRole, Stage

    url, page = project_change(staff_client, project)
    data = change_form_data(page)
    gates, gate_prefix = inline_prefix(page, ProjectGate)
    data[f"{row_of(gates, code='T2')}-status"] = "closed"
    members, _ = inline_prefix(page, Membership)
    editor_row = row_of(members, user=editor)
    devops = SignOffRole.objects.get(project=project, name="DevOps Lead")
    data[f"{editor_row}-role"] = "signer"
    data[f"{editor_row}-signoff_roles"] = [str(devops.pk)]
    stages, _ = inline_prefix(page, Stage)
    data[f"{row_of(stages, name='Soft launch')}-min_score"] = "55"
    _, new_prefix = inline_prefix(page, Membership, new=True)
    data[f"{new_prefix}-TOTAL_FORMS"] = "1"
    data.update(
        {
            f"{new_prefix}-0-user": str(outsider.pk),
            f"{new_prefix}-0-role": "viewer",
            f"{new_prefix}-0-project": str(project.pk),
            f"{new_prefix}-0-id": "",
        }
    )

    with run_on_commit():
        response = staff_client.post(url, data)

    assert response.status_code == 302, response.context["errors"] if response.context else response
    actions = set(
        AuditEvent.objects.filter(project=project, channel="admin", actor_user=staff).values_list("action", flat=True)
    )
    assert actions == {"gate.status_changed", "member.updated", "stage.updated", "member.added"}
    t2 = ProjectGate.objects.get(project=project, code="T2")
    assert (t2.status, t2.version) == ("closed", 2)
    promoted = Membership.objects.get(project=project, user=editor)
    assert promoted.role == "signer" and list(promoted.signoff_roles.all()) == [devops]
    assert Membership.objects.get(project=project, user=outsider).role == "viewer"
    assert Stage.objects.get(project=project, name="Soft launch").min_score == 55
    project.refresh_from_db()
    assert project.computed_seq == project.change_seq  # recomputed after the save


@pytest.mark.parametrize("seen_version", ["stale", "missing"])
def test_project_page_refuses_a_gate_edit_against_a_stale_or_missing_version(
    staff_client, project, owner, seen_version
):
    from audits.services import Actor
    from projects import services
    from projects.models import Stage

    url, page = project_change(staff_client, project)
    data = change_form_data(page)
    gates, _ = inline_prefix(page, ProjectGate)
    row = row_of(gates, code="T2")
    data[f"{row}-status"] = "closed"
    stages, _ = inline_prefix(page, Stage)
    data[f"{row_of(stages, name='Soft launch')}-min_score"] = "55"
    if seen_version == "missing":
        data[f"{row}-seen_version"] = ""
    else:  # someone else edits T2 after the page was loaded
        gate = ProjectGate.objects.select_related("project").get(project=project, code="T2")
        services.gate_update(actor=Actor(owner), gate=gate, version=1, notes="from the web")
    events = AuditEvent.objects.count()

    response = staff_client.post(url, data)

    assert response.status_code == 200
    message = b"changed by someone else" if seen_version == "stale" else b"version is missing"
    assert message in response.content
    assert AuditEvent.objects.count() == events  # nothing at all was saved, not even the stage
    t2 = ProjectGate.objects.get(project=project, code="T2")
    assert t2.status == "open"
    assert Stage.objects.get(project=project, name="Soft launch").min_score == 50


def test_snapshots_cannot_be_added_changed_or_deleted_in_admin(staff_client, project):
    from audits.models import ReadinessSnapshot

    snapshot = ReadinessSnapshot.objects.filter(project=project).first()
    assert snapshot is not None
    assert staff_client.get(reverse("admin:audits_readinesssnapshot_add")).status_code == 403
    change = reverse("admin:audits_readinesssnapshot_change", args=[snapshot.pk])
    assert staff_client.get(change).status_code == 200  # it can be read
    assert staff_client.post(change, {"score": "100"}).status_code == 403
    delete = reverse("admin:audits_readinesssnapshot_delete", args=[snapshot.pk])
    assert staff_client.post(delete, {"post": "yes"}).status_code == 403
    snapshot.refresh_from_db()
    assert ReadinessSnapshot.objects.filter(pk=snapshot.pk, score=snapshot.score).exists()


def _big_template(gates):
    from gates.models import Category

    from ..factories import GateDefinitionFactory, GateTemplateFactory

    template = GateTemplateFactory(name=f"Big {gates}")
    categories = list(Category.objects.order_by("order"))
    for i in range(gates):
        GateDefinitionFactory(template=template, code=f"B{i + 1}", category=categories[i % len(categories)], order=i)
    return template


def _big_project(template, owner, members):
    from audits.services import Actor
    from projects import services

    from ..factories import UserFactory

    project = services.project_create_from_template(actor=Actor(owner), template=template, name=template.name)
    roles = list(project.signoff_roles.all())
    people = [owner]
    for i in range(members):
        user = UserFactory(username=f"{project.slug}-member-{i}")
        services.member_add(actor=Actor(owner), project=project, user=user, role="editor", signoff_roles=roles[:1])
        people.append(user)
    for i, gate in enumerate(ProjectGate.objects.select_related("project").filter(project=project)):
        services.gate_update(actor=Actor(owner), gate=gate, version=gate.version, owner=people[i % len(people)])
    return project


def test_project_change_page_query_count_does_not_grow_with_gates_or_members(
    staff_client, owner, django_assert_max_num_queries
):
    counts = []
    for gates, members in ((6, 2), (60, 20)):
        project = _big_project(_big_template(gates), owner, members)
        url = reverse("admin:projects_project_change", args=[project.pk])
        staff_client.get(url)  # warm the per-process caches (content types)
        with django_assert_max_num_queries(20) as queries:
            response = staff_client.get(url)
        assert response.status_code == 200
        assert response.content.count(b'name="gates-') >= gates
        counts.append(len(queries.captured_queries))
    assert counts[0] == counts[1], counts


def test_template_change_page_query_count_does_not_grow_with_definitions(staff_client, django_assert_max_num_queries):
    counts = []
    for gates in (6, 60):
        template = _big_template(gates)
        url = reverse("admin:gates_gatetemplate_change", args=[template.pk])
        staff_client.get(url)
        with django_assert_max_num_queries(8) as queries:
            response = staff_client.get(url)
        assert response.status_code == 200
        assert response.content.count(b"-category") >= gates
        counts.append(len(queries.captured_queries))
    assert counts[0] == counts[1], counts
