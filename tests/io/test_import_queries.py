"""Importing a large document: the number of queries does not grow with the items.

A new project from a 2,000-item document, and a re-import that changes every gate, take a fixed
number of queries plus one per 500 gates for each bulk insert (gates, audit events): the rows are
written in batches, never one by one. The timings live in bench/importer.py (`make bench`).
"""

import math

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audits.services import Actor
from projects import imports
from projects.markdown.parser import parse_markdown

pytestmark = pytest.mark.django_db

SECTIONS = 20
BATCH = 500  # ProjectGate and AuditEvent bulk inserts (imports.py, audits.services.audit_append)
STATUS_WORDS = ["Open", "Done", "In progress", "❌ Missing", "✅ Ready", "Not started"]


def document(items, *, shift=0):
    """`items` gates in 20 sections (so 20 categories whatever the size), half table rows, half checkboxes."""
    sections, made = [], 0
    for n in range(SECTIONS):
        count = items // SECTIONS + (1 if n < items % SECTIONS else 0)
        rows = "\n".join(
            f"| B{n}-{m} | Gate {n}.{m} of the launch | {STATUS_WORDS[(m + shift) % len(STATUS_WORDS)]} | note {m} |"
            for m in range(count // 2)
        )
        boxes = "\n".join(
            f"- [{'x' if (m + shift) % 2 else ' '}] Task {n}.{m} is done and verified"
            for m in range(count - count // 2)
        )
        sections.append(f"## Area {n}\n\n| ID | Gate | Status | Notes |\n|---|---|---|---|\n{rows}\n\n{boxes}\n")
        made += count
    assert made == items
    return "# Bench launch gates\n\n" + "\n".join(sections)


def queries(fn):
    with CaptureQueriesContext(connection) as captured:
        result = fn()
    return result, len(captured)


def batches(items):
    return math.ceil(items / BATCH)


@pytest.fixture
def new_project(owner):
    def run(items, slug, shift=0):
        document_ = parse_markdown(document(items, shift=shift))
        assert len(document_.items) == items
        return queries(lambda: imports.import_new_project(actor=Actor(owner), document=document_, name=slug, slug=slug))

    run(SECTIONS, "warm-up")  # makes the 20 categories, which later imports find
    return run


def test_a_new_project_from_2000_items_takes_the_queries_of_200_plus_the_insert_batches(new_project):
    small, small_queries = new_project(200, "small")
    large, large_queries = new_project(2000, "large")
    assert (small.gates.count(), large.gates.count()) == (200, 2000)
    # Two bulk inserts grow by a batch per 500 gates: gates and their "gate.imported" audit events.
    assert large_queries - small_queries == 2 * (batches(2000) - batches(200)) == 6
    # Creating the project (roles, stage, membership, audit: 37 queries today, with headroom), one
    # look-up per category, and the batches.
    assert large_queries <= 40 + SECTIONS + 2 * batches(2000)


def test_reimporting_2000_changed_items_takes_the_queries_of_200_plus_the_audit_batches(new_project, owner):
    results = {}
    for items in (200, 2000):
        project, _ = new_project(items, f"re-{items}")
        changed = parse_markdown(document(items, shift=1))
        plan, plan_queries = queries(
            lambda project=project, changed=changed: imports.import_plan(document=changed, project=project)
        )
        assert plan.count("update") > 0.9 * items and plan.count("create") == 0
        assert plan_queries == 1  # the project's gates with their categories, in one query
        applied, apply_queries = queries(
            lambda project=project, changed=changed: imports.import_into_project(
                actor=Actor(owner), project=project, document=changed
            )
        )
        assert applied.count("update") == plan.count("update")
        assert project.gates.filter(status="closed").count() == sum(1 for i in changed.items if i.status == "closed")
        results[items] = (applied.count("update"), apply_queries)
    (small_updates, small_queries), (large_updates, large_queries) = results[200], results[2000]
    # The gates are locked in one query and updated in one batch; only the audit events grow.
    assert large_queries - small_queries == batches(large_updates) - batches(small_updates)
    assert large_queries <= 25
