"""The portfolio dashboard: visible projects only, filters, sorting, the attention panel."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from audits.models import ReadinessSnapshot
from audits.services import Actor, snapshot_take
from projects import services
from projects.models import Membership, Project, ProjectGate, SignOffRole

from .conftest import MEMBERS

pytestmark = pytest.mark.django_db

URL = reverse("projects:dashboard")


@pytest.mark.parametrize("persona", [*MEMBERS, "staff"])
def test_members_see_the_project_with_its_stored_readiness(login, project, persona):
    body = login(persona).get(URL).content.decode()
    row = _row(body, "apollo")  # not the verdict filter's options, which list every verdict
    assert f"{project.score:.1f}" in row
    assert re.search(r'<td data-label="Verdict">\s*<span class="badge verdict--no_go">NO-GO</span>\s*</td>', row)
    assert "0 of 6" in row  # closed of total


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


def _row(body, slug):
    start = body.index(f'id="project-{slug}"')
    return body[start : body.index("</tr>", start)]


def _order(body, *slugs):
    return sorted(slugs, key=lambda slug: body.index(f'id="project-{slug}"'))


@pytest.fixture
def portfolio(project, template, owner, editor, run_on_commit):
    """Three projects on both sides of every filter.

    apollo: olivia-owner, stage Soft launch, launched 3 days ago, one open blocker, score 0.
    borealis: eddie-editor, stage Beta (target in 5 days), launch in 10 days, no open blocker.
    cygnus: olivia-owner, stage Soft launch, launch in 40 days, score 0.
    """
    today = timezone.localdate()
    with run_on_commit():
        services.project_update(actor=Actor(owner), project=project, target_launch_date=today - timedelta(days=3))
        borealis = services.project_create_from_template(
            actor=Actor(editor),
            template=template,
            name="Borealis",
            slug="borealis",
            target_launch_date=today + timedelta(days=10),
            stages=[
                {"name": "Beta", "order": 1, "target_date": today + timedelta(days=5), "required_roles": []},
            ],
        )
        services.member_add(actor=Actor(editor), project=borealis, user=owner, role=Membership.Role.VIEWER)
        for code in ("T1", "T2", "S1"):
            gate = ProjectGate.objects.get(project=borealis, code=code)
            services.gate_update_status(actor=Actor(editor), gate=gate, version=gate.version, status="closed")
        services.project_create_from_template(
            actor=Actor(owner),
            template=template,
            name="Cygnus",
            slug="cygnus",
            target_launch_date=today + timedelta(days=40),
        )
    return Project.objects.get(slug="borealis")


def test_filter_by_stage_owner_and_launch_window(login, portfolio):
    client = login("owner")
    all_three = {"apollo", "borealis", "cygnus"}

    def shown(**params):
        body = client.get(URL, params).content.decode()
        return {slug for slug in all_three if f'id="project-{slug}"' in body}

    assert shown() == all_three
    assert shown(stage="Beta") == {"borealis"}
    assert shown(stage="Soft launch") == {"apollo", "cygnus"}
    assert shown(owner="eddie-editor") == {"borealis"}
    assert shown(owner="olivia-owner") == {"apollo", "cygnus"}
    assert shown(within=30) == {"borealis"}  # apollo's date is past, cygnus's beyond
    assert shown(within=45) == {"borealis", "cygnus"}
    assert shown(within=5) == set()


def test_sort_by_score_and_by_date(login, portfolio):
    client = login("owner")
    assert portfolio.score > 0
    body = client.get(URL, {"sort": "score"}).content.decode()
    assert _order(body, "apollo", "borealis", "cygnus") == ["apollo", "cygnus", "borealis"]
    body = client.get(URL, {"sort": "-score"}).content.decode()
    assert _order(body, "apollo", "borealis", "cygnus") == ["borealis", "apollo", "cygnus"]
    body = client.get(URL, {"sort": "date"}).content.decode()
    assert _order(body, "apollo", "borealis", "cygnus") == ["apollo", "borealis", "cygnus"]
    body = client.get(URL, {"sort": "-date"}).content.decode()
    assert _order(body, "apollo", "borealis", "cygnus") == ["cygnus", "borealis", "apollo"]


def test_rows_show_open_blockers_stage_date_and_days_to_launch(login, portfolio):
    body = login("owner").get(URL).content.decode()
    stage_date = date_format(timezone.localdate() + timedelta(days=5), "j M Y")
    apollo, borealis, cygnus = (_row(body, slug) for slug in ("apollo", "borealis", "cygnus"))
    assert 'data-label="Open blockers">1</td>' in apollo
    assert 'data-label="Open blockers">0</td>' in borealis
    assert "3 of 6" in borealis
    assert f'Beta<br><span class="muted">{stage_date}</span>' in borealis
    assert "in 10 days" in borealis
    assert "in 40 days" in cygnus
    assert "3 days ago" in apollo


def test_trend_line_follows_the_snapshots(login, portfolio):
    ReadinessSnapshot.objects.filter(project=portfolio).delete()
    now = timezone.now()
    for hours_ago, score in ((3, 0.0), (2, 50.0), (1, 100.0)):
        snapshot_take(
            project=portfolio,
            result={**portfolio.readiness, "score": score},
            kind=ReadinessSnapshot.Kind.MANUAL,
            now=now - timedelta(hours=hours_ago),
        )
    row = _row(login("owner").get(URL).content.decode(), "borealis")
    # 96×24 with a 2 px pad: x steps by 46, a score of 0 sits at y=22 and 100 at y=2.
    assert '<polyline points="2.0,22.0 48.0,12.0 94.0,2.0"/>' in row
    assert "Score went from 0 to 100" in row


def test_lifecycle_filter_shows_launched_and_archived_projects(login, portfolio, project, owner, run_on_commit):
    with run_on_commit():
        services.project_update(actor=Actor(owner), project=project, lifecycle=Project.Lifecycle.ARCHIVED)
        cygnus = Project.objects.get(slug="cygnus")
        services.project_update(actor=Actor(owner), project=cygnus, lifecycle=Project.Lifecycle.LAUNCHED)
    client = login("owner")
    all_three = {"apollo", "borealis", "cygnus"}

    def shown(**params):
        response = client.get(URL, params)
        assert response.status_code == 200
        body = response.content.decode()
        return {slug for slug in all_three if f'id="project-{slug}"' in body}

    assert shown() == {"borealis"}  # active projects by default
    assert shown(lifecycle="launched") == {"cygnus"}
    assert shown(lifecycle="archived") == {"apollo"}
    assert shown(lifecycle="all") == all_three
    assert shown(lifecycle="nonsense") == {"borealis"}  # an unknown choice falls back to the default
    body = client.get(URL, {"lifecycle": "archived"}).content.decode()
    assert '<label for="id_lifecycle">Projects</label>' in body
    assert "Clear filters" in body


def _attention(body):
    start = body.index('id="attention-heading"')
    return body[start : body.index("</aside>", start)]


def test_attention_panel_marks_overdue_gates(login, project, owner, editor, run_on_commit):
    today = timezone.localdate()
    with run_on_commit():
        for code, due in (("T2", today - timedelta(days=2)), ("S2", today + timedelta(days=2))):
            gate = ProjectGate.objects.get(project=project, code=code)
            services.gate_update(actor=Actor(owner), gate=gate, version=gate.version, owner=editor, due_date=due)
    panel = _attention(login("editor").get(URL).content.decode())
    overdue = f"Overdue since {date_format(today - timedelta(days=2), 'j M')}"
    t2 = panel[panel.index("T2 CI green on main") : panel.index("</li>", panel.index("T2 CI green on main"))]
    s2 = panel[panel.index("S2 Rate limiting") : panel.index("</li>", panel.index("S2 Rate limiting"))]
    assert overdue in t2
    assert "Overdue" not in s2


def test_attention_panel_lists_closed_gates_whose_evidence_went_stale(login, project, owner, editor, run_on_commit):
    with run_on_commit():
        for code in ("T2", "S2"):
            gate = ProjectGate.objects.get(project=project, code=code)
            services.gate_update(actor=Actor(owner), gate=gate, version=gate.version, owner=editor, status="closed")
    # As if T2 had been verified three days ago with evidence valid for one day; S2's is still valid.
    now = timezone.now()
    ProjectGate.objects.filter(project=project, code="T2").update(
        verified_at=now - timedelta(days=3), evidence_valid_days=1, evidence_expires_at=now - timedelta(days=2)
    )
    ProjectGate.objects.filter(project=project, code="S2").update(
        verified_at=now, evidence_valid_days=30, evidence_expires_at=now + timedelta(days=30)
    )
    panel = _attention(login("editor").get(URL).content.decode())
    assert "T2 CI green on main" in panel
    assert "Evidence stale" in panel[panel.index("T2 CI green on main") :]
    assert "S2 Rate limiting" not in panel  # closed with valid evidence: nothing to do


def test_attention_panel_asks_me_to_sign_again_when_my_signoff_went_stale(
    login, project, signer, editor, run_on_commit
):
    role = SignOffRole.objects.get(project=project, name="Product Owner")
    with run_on_commit():
        services.signoff_give(
            actor=Actor(signer), project=project, stage=project.current_stage, role=role, decision="go"
        )
    panel = _attention(login("signer").get(URL).content.decode())
    assert "No sign-off is waiting for you." in panel
    gate = ProjectGate.objects.get(project=project, code="S2")
    with run_on_commit():
        services.gate_update_status(actor=Actor(editor), gate=gate, version=gate.version, status="partial")
    panel = _attention(login("signer").get(URL).content.decode())
    assert "Product Owner" in panel
    assert 'class="badge signoff--stale">Stale' in panel
    signoff_url = reverse("projects:signoff", args=[project.slug])
    assert f'<a href="{signoff_url}">Sign again: the gates changed since you signed</a>' in panel
    # The editor holds no sign-off role: nothing asks them to sign.
    assert "Sign again" not in _attention(login("editor").get(URL).content.decode())
