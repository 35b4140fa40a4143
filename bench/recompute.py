"""Full set-based recompute of N projects × M gates versus a naive per-gate ORM loop.

Run through `make bench` (or `python -m bench.recompute` with DATABASE_URL set to a scratch
database). Prints a JSON list of result rows on its last line.
"""

import argparse
import json
import os
import random
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from gates.models import Category  # noqa: E402
from projects import readiness, services  # noqa: E402
from projects.models import Project, ProjectGate, SignOffRole, Stage  # noqa: E402

STATUSES = ["open", "open", "partial", "closed", "closed", "closed", "waived", "not_applicable"]


# This fixture's projects: bench-0, bench-1, … and not the other benchmarks' bench-import or
# bench-api-…, which have audit history (protected from deletion) and are not this fixture's to count.
OWN_SLUG = r"^bench-[0-9]+$"


def generate(n_projects, n_gates):
    """Benchmark fixture data, bulk-inserted (building it through the services would take minutes)."""
    if Project.objects.filter(slug__regex=OWN_SLUG).count() == n_projects:
        first = Project.objects.filter(slug__regex=OWN_SLUG).first()
        if first.gates.count() == n_gates:
            return
    with transaction.atomic():
        ProjectGate.objects.filter(project__slug__regex=OWN_SLUG).delete()
        Stage.objects.filter(project__slug__regex=OWN_SLUG).delete()
        SignOffRole.objects.filter(project__slug__regex=OWN_SLUG).delete()
        Project.objects.filter(slug__regex=OWN_SLUG).delete()
        rng = random.Random(42)
        categories = list(Category.objects.filter(is_builtin=True))
        projects = Project.objects.bulk_create(
            [Project(name=f"Bench {i}", slug=f"bench-{i}") for i in range(n_projects)], batch_size=500
        )
        stages = Stage.objects.bulk_create(
            [Stage(project=p, name="Soft launch", order=1, min_score=70, min_closed=n_gates // 2) for p in projects],
            batch_size=500,
        )
        for p, s in zip(projects, stages, strict=True):
            p.current_stage = s
        Project.objects.bulk_update(projects, ["current_stage"], batch_size=500)
        now = timezone.now()
        gates = []
        for p in projects:
            for g in range(n_gates):
                severity = rng.choice(readiness.SEVERITIES)
                status = rng.choice(STATUSES)
                gates.append(
                    ProjectGate(
                        project=p,
                        code=f"G{g + 1}",
                        title=f"Gate {g + 1}",
                        category=categories[g % len(categories)],
                        severity=severity,
                        weight=readiness.default_weight(severity),
                        status=status,
                        waiver_reason="accepted" if status == "waived" else "",
                        verified_at=now if status == "closed" else None,
                        evidence_valid_days=rng.choice([None, 30, 90]),
                        order=g,
                    )
                )
        ProjectGate.objects.bulk_create(gates, batch_size=2000)


def naive_recompute(project_ids, now):
    """What a straightforward implementation does: walk the ORM objects gate by gate."""
    for project in Project.objects.filter(pk__in=project_ids):
        stage = project.current_stage  # a query per project
        gates = []
        for gate in project.gates.all():  # a query per project
            gates.append(gate.as_rule_input())  # gate.category: a query per gate
        roles = tuple(r.name for r in stage.required_roles.all()) if stage else ()
        stage_input = (
            readiness.StageInput(stage.name, stage.order, stage.min_score, stage.min_closed, roles) if stage else None
        )
        signoffs = [s.as_rule_input() for s in project.signoffs.filter(stage=stage)]
        result = readiness.evaluate(gates, stage_input, signoffs, now)
        project.score, project.verdict, project.state_hash = result.score, result.verdict, result.state_hash
        project.readiness = result.to_dict()
        project.save(update_fields=["score", "verdict", "state_hash", "readiness"])


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--gates", type=int, default=40)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    generate(args.projects, args.gates)
    ids = list(Project.objects.filter(slug__regex=OWN_SLUG).values_list("pk", flat=True))
    now = timezone.now()
    connection.queries_log.clear()
    set_based = min(timed(services.readiness_recompute, project_ids=ids, now=now, force=True) for _ in range(2))
    naive = min(timed(naive_recompute, ids, now) for _ in range(1))
    label = f"recompute {len(ids)} projects × {args.gates} gates"
    print(
        json.dumps(
            [
                {"benchmark": label, "measure": "set-based recompute (s)", "value": f"{set_based:.2f}"},
                {"benchmark": label, "measure": "naive per-gate loop (s)", "value": f"{naive:.2f}"},
                {"benchmark": label, "measure": "speed-up (naive / set-based)", "value": f"{naive / set_based:.1f}x"},
            ]
        )
    )


if __name__ == "__main__":
    main()
