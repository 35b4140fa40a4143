"""Arbitrary and mangled Markdown: the importer never raises, reports what it could not read, and a
preview never writes."""

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audits.services import Actor, audit_verify_chain
from portal.errors import DomainError
from projects import imports, readiness
from projects.markdown.parser import parse_markdown
from projects.models import ProjectGate

from .conftest import example_text, row_counts

pytestmark = pytest.mark.django_db

FRAGMENTS = [
    "# ", "## ", "### 1.2 ", "- ", "* ", "1. ", "  ", "- [ ] ", "- [x] ", "[X] ", "| ", " | ", "|", "|---|---|",
    "Status", "Gate", "Notes", "Priority", "ID", "Done", "Open", "N/A", "Waived", "WIP", "✅", "❌", "⚠️", "🟡", "🔴",
    "**", "`", "```", "\r\n", "\n", "\n", "\t", ":", "Target: ", "82/100", "16/17 features ready", "NO-GO",
    "Summary", "Sign-off", "TOTAL", "<!--", "‚úÖ", "T1", "T1", "GATE-03", "HIGH", "blocker", "Legend:", "\\|",
    "x" * 40, "Security", "Health check green", "CI green on main",
]  # fmt: skip
_MANGLED = st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=8), max_size=80).map("".join)
_EXAMPLE_LINES = st.lists(st.sampled_from(example_text("production-readiness-checklist.md").split("\n")), max_size=40)
_DOCUMENTS = _MANGLED | _EXAMPLE_LINES.map("\n".join) | st.text(max_size=300)
_HYPOTHESIS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


def assert_preview_well_formed(preview, text):
    counts = preview["counts"]
    assert counts["gates"] == len(preview["gates"]) == sum(counts[s] for s in readiness.STATUSES)
    assert counts["create"] + counts["update"] + counts["unchanged"] == counts["gates"]
    assert counts["unreadable"] == len(preview["unreadable"])
    assert sum(c["total"] for c in preview["categories"]) == counts["gates"]
    line_count = len(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    for row in preview["gates"] + preview["unreadable"]:
        assert 1 <= row["line_no"] <= line_count
    assert all(u["reason"] for u in preview["unreadable"])


@_HYPOTHESIS
@given(_DOCUMENTS)
def test_previewing_anything_never_raises_and_never_writes(project, text):
    before = row_counts()
    plan = imports.import_plan(document=parse_markdown(text), project=project)
    assert_preview_well_formed(plan.preview(), text)
    assert row_counts() == before


@_HYPOTHESIS
@given(_DOCUMENTS)
def test_applying_anything_leaves_valid_gates_or_refuses_cleanly(project, owner, text):
    document = parse_markdown(text)
    with transaction.atomic():
        try:
            plan = imports.import_into_project(actor=Actor(owner), project=project, document=document)
        except DomainError:
            pytest.fail("an owner's import of a readable document must not be refused")
        gates = list(ProjectGate.objects.filter(project=project))
        assert len(gates) == 6 + plan.count("create")
        assert len({g.code for g in gates}) == len(gates)
        for g in gates:
            assert g.status in readiness.STATUSES and g.title and g.weight > 0
            assert (g.status == readiness.WAIVED) <= bool(g.waiver_reason)
        again = imports.import_plan(document=document, project=project)
        assert again.writes == 0  # applying is idempotent
        assert audit_verify_chain()[1] is None
        transaction.set_rollback(True)


@_HYPOTHESIS
@given(_DOCUMENTS)
def test_a_new_project_from_anything_is_created_or_refused_with_a_message(owner, text):
    document = parse_markdown(text)
    with transaction.atomic():
        try:
            project = imports.import_new_project(actor=Actor(owner), document=document, name="Fuzz")
        except DomainError as exc:
            assert not document.items and exc.message
        else:
            assert project.gates.count() == len(document.items)
        transaction.set_rollback(True)
