"""seed_demo reproduces the state of the five example documents, idempotently."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import transaction
from django.test import TestCase

from audits.models import AuditEvent
from audits.services import audit_verify_chain
from projects import readiness
from projects.models import Membership, Project

pytestmark = pytest.mark.django_db

# launch-gates.md, its Summary table: category → (closed, partial, open, total).
LAUNCH_GATES_SUMMARY = {
    "technical": (3, 0, 4, 7),
    "security": (4, 2, 1, 7),
    "observability": (2, 0, 3, 5),
    "gtm": (0, 1, 5, 6),
    "support": (1, 0, 3, 4),
    "recovery": (1, 0, 2, 3),
    "governance": (0, 1, 0, 1),
}


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    """Seed once for the module inside a transaction that is rolled back afterwards."""
    with django_db_blocker.unblock(), transaction.atomic():
        with TestCase.captureOnCommitCallbacks(execute=True):
            call_command("seed_demo", verbosity=0)
        yield
        transaction.set_rollback(True)


def test_five_projects_one_per_example(seeded):
    assert set(Project.objects.values_list("slug", flat=True)) == {
        "dealix",
        "batik-shop",
        "phase7",
        "store-platform",
        "atelier",
    }
    for project in Project.objects.all():
        assert project.gates.exists()
        assert project.computed_seq == project.change_seq, f"{project} readiness not computed"


def test_launch_gates_project_matches_the_document(seeded):
    dealix = Project.objects.get(slug="dealix")
    counts = dealix.readiness["counts"]
    assert (counts["closed"], counts["partial"], counts["open"], counts["total"]) == (11, 4, 18, 33)
    by_category = {c["category"]: (c["closed"], c["partial"], c["open"], c["total"]) for c in dealix.category_scores}
    assert by_category == LAUNCH_GATES_SUMMARY
    assert dealix.verdict == readiness.NO_GO
    assert "4 blocker gates open: G2, R2, T6, T7" in dealix.reasons
    assert "11 of 33 gates closed; Soft launch needs 24" in dealix.reasons
    # Severities come from the SaaS template, statuses from the document.
    t4 = dealix.gates.get(code="T4")
    assert (t4.status, t4.severity, t4.title) == ("open", "high", "DLQ wired in production")


def test_every_example_project_has_the_documents_statuses(seeded):
    expected = {  # closed, partial, open — as the document's items say
        "batik-shop": (54, 1, 325),
        "phase7": (20, 0, 16),
        "store-platform": (53, 1, 6),
        "atelier": (12, 0, 9),
    }
    for slug, (closed, partial, open_) in expected.items():
        project = Project.objects.get(slug=slug)
        statuses = list(project.gates.values_list("status", flat=True))
        assert (statuses.count("closed"), statuses.count("partial"), statuses.count("open")) == (
            closed,
            partial,
            open_,
        ), slug


def test_the_recorded_conditional_go_is_a_current_signoff(seeded):
    phase7 = Project.objects.get(slug="phase7")
    po = next(s for s in phase7.readiness["signoffs"] if s["role"] == "Product Owner")
    assert (po["state"], po["decision"]) == (readiness.CURRENT, readiness.CONDITIONAL_GO)


def test_demo_users_in_every_role(seeded):
    roles = dict(Membership.objects.filter(project__slug="dealix").values_list("user__username", "role"))
    assert roles == {"olivia": "owner", "eddie": "editor", "devon": "editor", "sam": "signer", "vera": "viewer"}
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_staff and admin.has_usable_password()


def test_seeding_again_changes_nothing(seeded):
    events = AuditEvent.objects.count()
    call_command("seed_demo", verbosity=0)
    assert AuditEvent.objects.count() == events
    assert Project.objects.count() == 5
    assert audit_verify_chain()[1] is None
