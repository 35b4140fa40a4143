"""Projects over the API: who sees what, filters, ordering, limits and bounded queries."""

import pytest

from audits.services import Actor
from gates.models import GateTemplate
from portal.api_common import PagePagination
from projects import services

from .helpers import assert_error_shape

pytestmark = pytest.mark.django_db


@pytest.fixture
def second_project(template, owner, run_on_commit):
    with run_on_commit():
        return services.project_create_from_template(actor=Actor(owner), template=template, name="Borealis")


@pytest.mark.parametrize("persona", ["owner", "editor", "signer", "viewer"])
def test_members_list_and_read_their_project(request, persona, project, token_client):
    user = request.getfixturevalue(persona)
    client = token_client(user)
    listed = client.get("/api/v1/projects")
    assert listed.status_code == 200
    assert [p["slug"] for p in listed.json()["results"]] == ["apollo"]
    detail = client.get("/api/v1/projects/apollo")
    assert detail.status_code == 200
    body = detail.json()
    assert body["slug"] == "apollo" and body["owner"] == "olivia-owner"
    assert [s["name"] for s in body["stages"]] == ["Soft launch", "GA"]
    assert body["verdict"] in ("go", "conditional_go", "no_go")


def test_outsider_sees_no_project(outsider, project, token_client):
    client = token_client(outsider)
    assert client.get("/api/v1/projects").json()["results"] == []
    assert_error_shape(client.get("/api/v1/projects/apollo"), 404)


def test_staff_sees_every_project(staff, project, second_project, token_client):
    slugs = [p["slug"] for p in token_client(staff).get("/api/v1/projects").json()["results"]]
    assert slugs == ["apollo", "borealis"]


def test_a_token_limited_to_projects_sees_no_other(owner, project, second_project, token_client):
    client = token_client(owner, projects=[second_project])
    assert [p["slug"] for p in client.get("/api/v1/projects").json()["results"]] == ["borealis"]
    assert_error_shape(client.get("/api/v1/projects/apollo"), 404)
    assert client.get("/api/v1/projects/borealis").status_code == 200


def test_session_authentication_works_for_reads(viewer, project, api):
    assert api(user=viewer).get("/api/v1/projects/apollo").status_code == 200


def test_filters_and_ordering(owner, project, second_project, token_client):
    client = token_client(owner)
    verdict = client.get("/api/v1/projects/apollo").json()["verdict"]
    assert [p["slug"] for p in client.get(f"/api/v1/projects?verdict={verdict}").json()["results"]] == [
        "apollo",
        "borealis",
    ]
    assert client.get("/api/v1/projects?verdict=go").json()["results"] == []
    assert [p["slug"] for p in client.get("/api/v1/projects?ordering=-name").json()["results"]] == [
        "borealis",
        "apollo",
    ]
    assert client.get("/api/v1/projects?score_min=101").json()["results"] == []
    assert len(client.get("/api/v1/projects?score_min=0&score_max=100").json()["results"]) == 2
    assert len(client.get("/api/v1/projects?stage=Soft launch").json()["results"]) == 2
    assert client.get("/api/v1/projects?stage=GA").json()["results"] == []
    assert len(client.get("/api/v1/projects?owner=olivia-owner").json()["results"]) == 2
    assert client.get("/api/v1/projects?launch_after=2999-01-01").json()["results"] == []
    bad = assert_error_shape(client.get("/api/v1/projects?score_min=lots"), 400)
    assert "score_min" in bad["fields"]
    assert_error_shape(client.get("/api/v1/projects?verdict=maybe"), 400)


def test_page_size_is_capped(owner, run_on_commit, token_client):
    cap = PagePagination.max_page_size
    bare = GateTemplate.objects.create(name="Bare", key="bare")  # no gates: projects are cheap to make
    with run_on_commit():
        for i in range(cap + 5):
            services.project_create_from_template(actor=Actor(owner), template=bare, name=f"Project {i:03}")
    client = token_client(owner)
    body = client.get("/api/v1/projects?page_size=100000").json()
    assert body["count"] == cap + 5
    assert len(body["results"]) == cap
    assert body["next"] is not None
    rest = client.get("/api/v1/projects?page_size=100000&page=2").json()["results"]
    assert len(rest) == 5
    assert_error_shape(client.get("/api/v1/projects?page_size=100000&page=3"), 404)


@pytest.fixture
def spread(owner, project, template, run_on_commit):
    """Three projects on both sides of 2027-06-01, with three different scores and two verdicts.

    Apollo: launches 2027-03-01, nothing closed (no-go). Borealis: 2027-06-01, half closed but its
    blocker open (no-go). Cassini: 2027-09-01, everything closed (no blocker left: not no-go).
    """
    from datetime import date

    from projects.models import ProjectGate

    actor = Actor(owner)
    with run_on_commit():
        services.project_update(actor=actor, project=project, target_launch_date=date(2027, 3, 1))
        borealis = services.project_create_from_template(
            actor=actor, template=template, name="Borealis", target_launch_date=date(2027, 6, 1)
        )
        cassini = services.project_create_from_template(
            actor=actor, template=template, name="Cassini", target_launch_date=date(2027, 9, 1)
        )
        for proj, codes in ((borealis, ("T2", "S1", "S2")), (cassini, ("T1", "T2", "S1", "S2", "O1", "O2"))):
            for gate in ProjectGate.objects.filter(project=proj, code__in=codes):
                services.gate_update_status(actor=actor, gate=gate, version=gate.version, status="closed")
    return {p.slug: p for p in type(project).objects.all()}


def _slugs(client, query):
    response = client.get(f"/api/v1/projects?{query}")
    assert response.status_code == 200, response.content
    return [p["slug"] for p in response.json()["results"]]


def test_launch_date_filters_take_both_sides_of_the_date(owner, spread, token_client):
    client = token_client(owner)
    assert _slugs(client, "launch_before=2027-06-01") == ["apollo", "borealis"]
    assert _slugs(client, "launch_before=2027-05-31") == ["apollo"]
    assert _slugs(client, "launch_after=2027-06-01") == ["borealis", "cassini"]
    assert _slugs(client, "launch_after=2027-06-02") == ["cassini"]
    assert _slugs(client, "launch_after=2027-04-01&launch_before=2027-08-01") == ["borealis"]


def test_score_range_filters_bound_both_sides(owner, spread, token_client):
    client = token_client(owner)
    scores = {p["slug"]: p["score"] for p in client.get("/api/v1/projects").json()["results"]}
    assert scores["apollo"] < scores["borealis"] < scores["cassini"]
    middle = scores["borealis"]
    assert _slugs(client, f"score_min={middle}") == ["borealis", "cassini"]
    assert _slugs(client, f"score_max={middle}") == ["apollo", "borealis"]
    assert _slugs(client, f"score_min={middle}&score_max={middle}") == ["borealis"]
    assert _slugs(client, f"score_min={scores['apollo'] + 1}&score_max={scores['cassini'] - 1}") == ["borealis"]


def test_ordering_by_score_and_verdict_orders(owner, spread, token_client):
    client = token_client(owner)
    assert _slugs(client, "ordering=score") == ["apollo", "borealis", "cassini"]
    assert _slugs(client, "ordering=-score") == ["cassini", "borealis", "apollo"]
    verdicts = {p["slug"]: p["verdict"] for p in client.get("/api/v1/projects").json()["results"]}
    assert verdicts["apollo"] == verdicts["borealis"] == "no_go" != verdicts["cassini"]
    # Ties keep the default order (name), so only the verdict moves Cassini.
    by_verdict = sorted(verdicts, key=lambda slug: (verdicts[slug], slug))
    assert _slugs(client, "ordering=verdict,name") == by_verdict
    assert _slugs(client, "ordering=-verdict,name") == sorted(
        verdicts, key=lambda slug: (verdicts[slug] != "no_go", slug)
    )
    assert by_verdict != _slugs(client, "ordering=-verdict,name")


def test_list_queries_do_not_grow_with_page_size(
    owner, template, run_on_commit, token_client, django_assert_max_num_queries
):
    with run_on_commit():
        for i in range(6):
            services.project_create_from_template(actor=Actor(owner), template=template, name=f"Project {i}")
    client = token_client(owner)
    client.get("/api/v1/projects?page_size=1")  # token's last_used_at written once, outside the count
    counts = []
    for size in (1, 50):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as ctx:
            response = client.get(f"/api/v1/projects?page_size={size}")
        assert response.status_code == 200
        assert len(response.json()["results"]) == min(size, 6)
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]
    with django_assert_max_num_queries(5):
        client.get("/api/v1/projects?page_size=50&ordering=-score")
