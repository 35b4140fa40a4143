"""Web page timings: the portfolio dashboard over N projects and one project page with M gates.

Run through `make bench` (or `python -m bench.pages` with DATABASE_URL set to a scratch
database). Renders through Django's test client as a staff user (who sees every project), and
prints a JSON list of result rows on its last line: median time and number of queries.
"""

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, override_settings  # noqa: E402

from bench.recompute import generate  # noqa: E402
from projects import services  # noqa: E402
from projects.models import Project  # noqa: E402


def measure(client, url, runs):
    """Median seconds and the query count of GET url."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        response = client.get(url, secure=True, HTTP_HOST="127.0.0.1")
        times.append(time.perf_counter() - start)
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}")
    with CaptureQueriesContext(connection) as queries:
        client.get(url, secure=True, HTTP_HOST="127.0.0.1")
    return statistics.median(times), len(queries)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--gates", type=int, default=40)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    generate(args.projects, args.gates)
    ids = list(Project.objects.filter(slug__startswith="bench-").values_list("pk", flat=True))
    services.readiness_recompute(project_ids=ids, force=True)
    user, _ = get_user_model().objects.get_or_create(username="bench-staff", defaults={"is_staff": True})
    client = Client()
    client.force_login(user)
    # Static URLs without a collectstatic manifest: the pages are measured, not the asset names.
    plain_static = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    with override_settings(STORAGES=plain_static):
        dashboard_s, dashboard_q = measure(client, "/", 5)
        project_s, project_q = measure(client, Project.objects.get(pk=ids[0]).get_absolute_url(), 20)
    dash = f"dashboard of {len(ids)} projects (first page of 100)"
    page = f"project page with {args.gates} gates"
    print(
        json.dumps(
            [
                {"benchmark": dash, "measure": "median render (ms)", "value": f"{dashboard_s * 1000:.0f}"},
                {"benchmark": dash, "measure": "queries", "value": str(dashboard_q)},
                {"benchmark": page, "measure": "median render (ms)", "value": f"{project_s * 1000:.0f}"},
                {"benchmark": page, "measure": "queries", "value": str(project_q)},
            ]
        )
    )


if __name__ == "__main__":
    main()
