"""Import and export of a large readiness document (2,000 items by default).

Steps timed: parse the Markdown, plan (the preview) for a new project, apply it (a new project
with every gate audited), plan a re-import against the project (every item matched), parse and
apply a re-import that changes most gates' status, export the decision pack, and export + restore
the project as JSON. Two rows add up what a user waits for: parse + preview + apply, for a new
project and for a re-import (the after-commit work is a worker's in production, so it is apart). Run through `make bench` (or `python -m bench.importer` with DATABASE_URL set to
a scratch database). Prints a JSON list of result rows on its last line.
"""

import argparse
import json
import os
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, reset_queries, transaction  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from audits.models import Channel  # noqa: E402
from audits.services import Actor  # noqa: E402
from projects import exports, imports  # noqa: E402
from projects.markdown.parser import parse_markdown  # noqa: E402
from projects.models import Project  # noqa: E402
from projects.restore import project_restore  # noqa: E402

STATUS_WORDS = ["Open", "Done", "In progress", "❌ Missing", "✅ Ready", "Not started"]
SLUG = "bench-import"


def document(items, *, shift=0):
    """A document of `items` gates in 20 sections, half tables and half checkboxes."""
    sections = []
    per_section = max(1, items // 20)
    made = 0
    n = 0
    while made < items:
        count = min(per_section, items - made)
        rows = count // 2
        table = "\n".join(
            f"| B{n}-{m} | Gate {n}.{m} of the launch | {STATUS_WORDS[(m + shift) % len(STATUS_WORDS)]} | note {m} |"
            for m in range(rows)
        )
        boxes = "\n".join(
            f"- [{'x' if (m + shift) % 2 else ' '}] Task {n}.{m} is done and verified" for m in range(count - rows)
        )
        sections.append(f"## Area {n}\n\n| ID | Gate | Status | Notes |\n|---|---|---|---|\n{table}\n\n{boxes}\n")
        made += count
        n += 1
    return "# Bench launch gates\n\n**Target:** 1500/2000 gates closed\n\n" + "\n".join(sections)


def timed(fn):
    reset_queries()
    with CaptureQueriesContext(connection) as queries:
        start = time.perf_counter()
        result = fn()
        elapsed = time.perf_counter() - start
    return result, elapsed, len(queries)


def timed_apart(fn):
    """Like `timed`, but the after-commit work (recompute, notification and webhook fan-out, which
    a worker does in production and which run in-process here) is measured on its own."""
    with CaptureQueriesContext(connection) as queries:
        start = time.perf_counter()
        with transaction.atomic():
            result = fn()
            done = time.perf_counter()
            count = len(queries)
        end = time.perf_counter()
    return result, done - start, count, end - done, len(queries) - count


def clean():
    """Remove the projects of an earlier run (audit events stay: they are append-only)."""
    for slug in (SLUG, f"{SLUG}-restored"):
        project = Project.objects.filter(slug=slug).first()
        if project is not None:
            Project.objects.filter(pk=project.pk).update(slug=f"{slug}-old-{project.pk}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=2000)
    args, _ = parser.parse_known_args()  # `make bench` also passes --projects/--gates
    call_command("migrate", verbosity=0)
    clean()
    actor = Actor.system(Channel.CLI)
    text = document(args.items)
    label = f"import {args.items} items ({len(text) // 1024} KiB)"
    rows = []

    def row(measure, seconds, queries=None):
        value = f"{seconds:.2f}" + (f" ({queries} queries)" if queries is not None else "")
        rows.append({"benchmark": label, "measure": f"{measure} (s)", "value": value})

    doc, parse_seconds, _ = timed(lambda: parse_markdown(text))
    assert len(doc.items) == args.items, len(doc.items)
    row("parse", parse_seconds)
    plan, preview_seconds, queries = timed(lambda: imports.import_plan(document=doc).preview())
    row("plan + preview, new project", preview_seconds, queries)
    project, apply_seconds, queries, after, after_queries = timed_apart(
        lambda: imports.import_new_project(actor=actor, document=doc, name="Bench import", slug=SLUG, source="bench")
    )
    assert project.gates.count() == args.items
    row("apply: new project", apply_seconds, queries)
    row("  then, after commit: recompute and fan-out", after, after_queries)
    row("new project in all: parse + preview + apply", parse_seconds + preview_seconds + apply_seconds)
    plan, seconds, queries = timed(lambda: imports.import_plan(document=doc, project=project))
    assert plan.count("unchanged") == args.items
    row("plan re-import (all match)", seconds, queries)
    changed, parse_seconds, _ = timed(lambda: parse_markdown(document(args.items, shift=1)))
    row("parse the re-imported document", parse_seconds)
    plan, preview_seconds, queries = timed(lambda: imports.import_plan(document=changed, project=project).preview())
    row("plan + preview, re-import", preview_seconds, queries)
    plan, apply_seconds, queries, after, after_queries = timed_apart(
        lambda: imports.import_into_project(actor=actor, project=project, document=changed)
    )
    row(f"apply re-import ({plan.count('update')} updated)", apply_seconds, queries)
    row("  then, after commit: recompute and fan-out", after, after_queries)
    row("re-import in all: parse + preview + apply", parse_seconds + preview_seconds + apply_seconds)
    _, seconds, queries = timed(lambda: exports.export_markdown(project))
    row("export decision pack", seconds, queries)
    data, seconds, queries = timed(lambda: json.loads(exports.export_json_text(project)))
    row("export JSON", seconds, queries)
    data["project"]["slug"] = f"{SLUG}-restored"
    _, seconds, queries, after, after_queries = timed_apart(lambda: project_restore(actor=actor, data=data))
    row("restore JSON", seconds, queries)
    row("  then, after commit: recompute and fan-out", after, after_queries)
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
