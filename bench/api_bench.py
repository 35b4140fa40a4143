"""The REST API under gunicorn with DEBUG off: gate list vs a hand-written view, readiness, ingestion.

Run through `make bench` (or `python -m bench.api_bench` with DATABASE_URL set to a scratch
PostgreSQL database). Measures, side by side in one run against the same gunicorn:

- the gate list endpoint (50 per page, token authentication, permissions, a filter) against a
  hand-written Django view that returns the same rows as JSON with none of that machinery: it
  first checks both return the same page, then reports PASS/FAIL against the 60% target;
- the readiness endpoint and check-result ingestion (POST with an Idempotency-Key), p50/p95;
- the number of queries of every list endpoint at page size 1 and 50, each list holding more
  than one row.

Prints a JSON list of result rows on its last line. A throughput below the target is a printed
verdict (FAIL); a broken claim is an error: when the API and the hand-written view return other
rows, or a list's query count differs between the two page sizes (or it has too few rows to
tell), the row says DIFFER and carries `"failed": true`, and the process exits with status 1.

With REDIS_URL set, the cache (and so the throttles' counters) is Redis, as in production; tasks
still run in the request, as without a broker: the bench starts no Celery worker, and the
ingestion figures include the recompute a flipped gate causes.

This module is also the gunicorn app it starts (`bench.api_bench:application`): the site's URLs
plus the hand-written view.
"""

import argparse
import http.client
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.http import Http404, JsonResponse  # noqa: E402
from django.urls import include, path  # noqa: E402
from django.utils import timezone  # noqa: E402

from projects import readiness  # noqa: E402
from projects.models import CheckResult, Project, ProjectGate  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SLUG = "bench-api"
GATES = 200
PAGE = 50
GATE_LIST = f"/api/v1/projects/{SLUG}/gates?page_size={PAGE}&status=open&status=partial&status=closed"
HANDWRITTEN = f"/bench/handwritten-gates/{SLUG}?status=open&status=partial&status=closed"
READINESS = f"/api/v1/projects/{SLUG}/readiness"
# The gate list must reach this share of the hand-written view's throughput.
TARGET_RATIO = 0.60
# Rows of the project, member, sign-off, webhook and delivery lists: enough to fill a page of 50.
LIST_ROWS = PAGE


# --- the hand-written baseline, served by the same gunicorn -------------------------------------

GATE_FIELDS = (
    "code",
    "title",
    "category__key",
    "severity",
    "weight",
    "stage__name",
    "status",
    "owner__username",
    "due_date",
    "guidance",
    "verification",
    "evidence_url",
    "evidence_note",
    "notes",
    "verified_at",
    "evidence_valid_days",
    "evidence_expires_at",
    "waiver_reason",
    "waiver_approver__username",
    "waiver_expires_at",
    "is_automated",
    "version",
    "updated_at",
)


def handwritten_gate_list(request, slug):
    """The same job by hand, without DRF or django-filter: check the token and the membership,
    filter, and return the same first page of rows straight from values() as JSON."""
    from django.db.models import Q

    from tokens.models import ApiToken, hash_token

    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return JsonResponse({"message": "No token."}, status=401)
    now = timezone.now()
    user_id = (
        ApiToken.objects.filter(key_hash=hash_token(header[7:]), revoked_at__isnull=True, user__is_active=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .values_list("user_id", flat=True)
        .first()
    )
    if user_id is None:
        return JsonResponse({"message": "Bad token."}, status=401)
    project = Project.objects.filter(slug=slug, memberships__user_id=user_id).values_list("pk", flat=True).first()
    if project is None:
        raise Http404
    statuses = request.GET.getlist("status") or list(readiness.STATUSES)
    rows = list(
        ProjectGate.objects.filter(project_id=project, status__in=statuses)
        .order_by("category__order", "category__name", "order", "code")
        .values(*GATE_FIELDS)[:PAGE]
    )
    today = timezone.localdate()
    done = (readiness.CLOSED, readiness.WAIVED, readiness.NOT_APPLICABLE)
    for row in rows:
        row["category"] = row.pop("category__key")
        row["stage"] = row.pop("stage__name")
        row["owner"] = row.pop("owner__username")
        row["waiver_approver"] = row.pop("waiver_approver__username")
        stale = row["status"] == readiness.CLOSED and row["evidence_expires_at"] and row["evidence_expires_at"] <= now
        lapsed = row["status"] == readiness.WAIVED and row["waiver_expires_at"] and row["waiver_expires_at"] <= now
        row["effective_status"] = readiness.PARTIAL if stale else readiness.OPEN if lapsed else row["status"]
        row["is_overdue"] = bool(row["due_date"] and row["due_date"] < today and row["status"] not in done)
    return JsonResponse({"results": rows})


urlpatterns = [
    path("bench/handwritten-gates/<slug:slug>", handwritten_gate_list),
    path("", include("portal.urls")),
]


def _tasks_in_process():
    """Run Celery tasks eagerly even when REDIS_URL (which also names the broker) is set."""
    from portal.celery import app

    settings.CELERY_TASK_ALWAYS_EAGER = True
    app.conf.task_always_eager = True


def _application():
    from django.core.wsgi import get_wsgi_application

    _tasks_in_process()
    settings.ROOT_URLCONF = __name__
    return get_wsgi_application()


def __getattr__(name):
    # Built when gunicorn asks for it, not on import, so importing this module changes no settings.
    if name == "application":
        globals()["application"] = _application()
        return globals()["application"]
    raise AttributeError(name)


# --- fixture ------------------------------------------------------------------------------------


def generate():
    """A project with GATES gates (some automated), its owner and a write token. Returns the token."""
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from audits.services import Actor
    from gates.models import Category
    from notifications import webhooks
    from notifications.models import Kind, Notification, WebhookDelivery
    from projects import services
    from projects.models import Membership, SignOffRole, Stage
    from tokens.models import ApiToken
    from tokens.services import token_create

    User = get_user_model()
    user, _ = User.objects.get_or_create(username="bench-api-owner")
    ApiToken.objects.filter(user=user).delete()
    if not Project.objects.filter(slug=SLUG).exists():
        with transaction.atomic():
            project = Project.objects.create(name="Bench API", slug=SLUG, owner=user)
            stage = Stage.objects.create(project=project, name="Soft launch", order=1, min_score=70)
            project.current_stage = stage
            project.save(update_fields=["current_stage"])
            ga = Stage.objects.create(project=project, name="GA", order=2, min_score=90)
            membership = Membership.objects.create(user=user, project=project, role=Membership.Role.OWNER)
            roles = [SignOffRole(project=project, name=f"Role {i + 1}", order=i) for i in range(LIST_ROWS // 2)]
            SignOffRole.objects.bulk_create(roles)
            membership.signoff_roles.set(SignOffRole.objects.filter(project=project))
            viewers = User.objects.bulk_create(User(username=f"bench-api-viewer-{i}") for i in range(LIST_ROWS))
            Membership.objects.bulk_create(
                Membership(user=viewer, project=project, role=Membership.Role.VIEWER) for viewer in viewers
            )
            others = Project.objects.bulk_create(
                Project(name=f"Bench API other {i}", slug=f"{SLUG}-other-{i}", owner=user) for i in range(LIST_ROWS)
            )
            Membership.objects.bulk_create(
                Membership(user=user, project=other, role=Membership.Role.OWNER) for other in others
            )
            categories = list(Category.objects.filter(is_builtin=True))
            statuses = ["open", "partial", "closed", "closed", "waived", "not_applicable"]
            now = timezone.now()
            ProjectGate.objects.bulk_create(
                ProjectGate(
                    project=project,
                    code=f"G{i + 1}",
                    title=f"Gate {i + 1}",
                    category=categories[i % len(categories)],
                    severity=readiness.SEVERITIES[i % len(readiness.SEVERITIES)],
                    weight=readiness.default_weight(readiness.SEVERITIES[i % len(readiness.SEVERITIES)]),
                    stage=stage,
                    status=statuses[i % len(statuses)],
                    waiver_reason="accepted" if statuses[i % len(statuses)] == "waived" else "",
                    verified_at=now if statuses[i % len(statuses)] == "closed" else None,
                    evidence_valid_days=90 if i % 3 == 0 else None,
                    owner=user if i % 2 else None,
                    is_automated=i < 10,
                    order=i,
                )
                for i in range(GATES)
            )
        services.readiness_recompute(project_ids=[project.pk], force=True)
        actor = Actor(user)
        for bench_stage in (stage, ga):
            for role in SignOffRole.objects.filter(project=project):
                services.signoff_give(actor=actor, project=project, stage=bench_stage, role=role, decision="go")
        # Subscribed to an event the bench never causes, so no delivery is attempted while it runs.
        for i in range(LIST_ROWS):
            subscription = webhooks.webhook_subscription_create(
                actor=actor, project=project, url=f"https://hooks.example.invalid/{i}", events=["signoff.requested"]
            )
        WebhookDelivery.objects.bulk_create(
            WebhookDelivery(
                subscription=subscription,
                event="signoff.requested",
                event_key=f"bench:{i}",
                payload={"event": "signoff.requested", "data": {"n": i}},
                status=[WebhookDelivery.Status.SUCCEEDED, WebhookDelivery.Status.FAILED][i % 2],
                attempts=1 + i % 3,
                last_status_code=[200, 500][i % 2],
                log=[{"at": now.isoformat(), "status_code": [200, 500][i % 2], "error": "", "duration_ms": 12}],
            )
            for i in range(LIST_ROWS)
        )
    project = Project.objects.get(slug=SLUG)
    # Rows of the check-result and notification lists, also in a bench database made before these
    # were (the ingestion measure adds check results too, but only once the gate lists agreed).
    automated = ProjectGate.objects.get(project=project, code="G1")
    if not CheckResult.objects.filter(gate=automated).exists():
        CheckResult.objects.bulk_create(
            CheckResult(gate=automated, source="bench-fixture", passed=bool(i % 2), details=f"fixture {i}")
            for i in range(LIST_ROWS)
        )
    if not Notification.objects.filter(user=user).exists():
        Notification.objects.bulk_create(
            Notification(
                user=user,
                kind=Kind.VERDICT_CHANGED,
                project=project if i % 2 else None,
                title=f"Bench notification {i}",
            )
            for i in range(LIST_ROWS)
        )
    _, secret = token_create(actor=Actor(user), user=user, name="bench", scope="write")
    return secret


# --- the two gate lists return the same rows ---------------------------------------------------

# DRF writes datetimes with microseconds, Django's JsonResponse with milliseconds.
DATETIME_FIELDS = ("verified_at", "evidence_expires_at", "waiver_expires_at", "updated_at")


def _comparable(row):
    from django.utils.dateparse import parse_datetime

    row = dict(row)
    for field in DATETIME_FIELDS:
        if row.get(field):
            moment = parse_datetime(row[field])
            row[field] = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    return row


def check_same_rows(port, auth):
    """The number of rows both gate lists return, or RowsDiffer: throughput is compared only
    when the API and the hand-written view return the same page."""
    pages = {}
    for url in (GATE_LIST, HANDWRITTEN):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", url, headers=auth)
        response = conn.getresponse()
        body = response.read()
        conn.close()
        if response.status != 200:
            raise RuntimeError(f"{url} answered {response.status}")
        pages[url] = [_comparable(row) for row in json.loads(body)["results"]]
    api, hand = pages[GATE_LIST], pages[HANDWRITTEN]
    if len(api) != PAGE:
        raise RowsDiffer(f"the gate list returned {len(api)} rows, not a full page of {PAGE}")
    if api != hand:
        diff = next((a, h) for a, h in zip(api, hand, strict=False) if a != h) if len(api) == len(hand) else None
        raise RowsDiffer(f"the hand-written view returns other rows than the API ({len(hand)} vs {len(api)}): {diff}")
    return len(api)


class RowsDiffer(Exception):
    """The API's gate list and the hand-written view do not return the same rows."""


# --- load ---------------------------------------------------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port, method, url, headers=None, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    start = time.perf_counter()
    conn.request(method, url, body=body, headers=headers or {})
    response = conn.getresponse()
    response.read()
    elapsed = time.perf_counter() - start
    conn.close()
    return response.status, elapsed


def load(port, method, url, *, requests, concurrency, headers=None, body_for=None, expect=(200,)):
    """Send `requests` requests from `concurrency` threads; return (requests/s, latencies)."""

    def one(i):
        hdrs = dict(headers or {})
        body = None
        if body_for is not None:
            body, extra = body_for(i)
            hdrs.update(extra)
        status, elapsed = request(port, method, url, hdrs, body)
        if status not in expect:
            raise RuntimeError(f"{method} {url} answered {status}")
        return elapsed

    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        latencies = list(pool.map(one, range(requests)))
    return requests / (time.perf_counter() - start), latencies


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def start_gunicorn(port, workers):
    env = {
        **os.environ,
        "DEBUG": "False",
        "SECURE_SSL_REDIRECT": "False",
        "API_THROTTLE_TOKEN": "100000000/min",
        "API_THROTTLE_ANON": "100000000/min",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "bench.api_bench:application",
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if request(port, "GET", "/api/v1/schema/")[0] == 200:
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("gunicorn did not start")


def list_query_counts():
    """Queries of every list endpoint at page size 1 and 50 (in-process, same settings).

    Every list must hold more than one row, or the two sizes would measure the same thing. A
    token of its own: the throughput runs spent the bench token's throttle budget, whose
    counters live in the shared cache (Redis) and count against this process too.
    """
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from audits.services import Actor
    from notifications.models import WebhookSubscription
    from tokens.services import token_create

    user = get_user_model().objects.get(username="bench-api-owner")
    _, secret = token_create(actor=Actor(user), user=user, name="bench query counts", scope="read")
    webhook = WebhookSubscription.objects.filter(project__slug=SLUG).order_by("-pk").values_list("pk", flat=True)[0]
    client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    lists = [
        "/api/v1/projects",
        f"/api/v1/projects/{SLUG}/gates",
        f"/api/v1/projects/{SLUG}/gates/G1/check-results",
        f"/api/v1/projects/{SLUG}/stages",
        f"/api/v1/projects/{SLUG}/members",
        f"/api/v1/projects/{SLUG}/signoffs",
        f"/api/v1/projects/{SLUG}/snapshots",
        f"/api/v1/projects/{SLUG}/audit-events",
        f"/api/v1/projects/{SLUG}/webhooks",
        f"/api/v1/projects/{SLUG}/webhooks/{webhook}/deliveries",
        "/api/v1/gate-templates",
        "/api/v1/categories",
        "/api/v1/notifications",
    ]
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    rows = []
    for url in lists:
        counts, sizes = [], []
        for size in (1, 50):
            client.get(f"{url}?page_size={size}", secure=True)
            with CaptureQueriesContext(connection) as ctx:
                response = client.get(f"{url}?page_size={size}", secure=True)
            if response.status_code != 200:
                raise RuntimeError(f"{url} answered {response.status_code}")
            counts.append(len(ctx.captured_queries))
            sizes.append(len(response.json()["results"]))
        same, enough = counts[0] == counts[1], sizes[1] >= 2
        rows.append(
            {
                "benchmark": "queries per list request",
                "measure": f"{url} (size 1 / 50, rows {sizes[0]} / {sizes[1]})",
                "value": f"{counts[0]} / {counts[1]}"
                + ("" if same else " DIFFER")
                + ("" if enough else " DIFFER (too few rows to compare)"),
                **({} if same and enough else {"failed": True}),
            }
        )
    return rows


def measure(port, auth, args, same_rows):
    """Throughput and latency of the gate list (against the hand-written view), the readiness
    endpoint and check-result ingestion, as result rows."""
    # Warm both paths, then alternate them so both see the same machine load.
    load(port, "GET", GATE_LIST, requests=40, concurrency=args.concurrency, headers=auth)
    load(port, "GET", HANDWRITTEN, requests=40, concurrency=args.concurrency, headers=auth)
    api_rps, hand_rps, api_lat = [], [], []
    for _ in range(args.rounds):
        rps, lat = load(port, "GET", GATE_LIST, requests=args.requests, concurrency=args.concurrency, headers=auth)
        api_rps.append(rps)
        api_lat += lat
        hand_rps.append(
            load(port, "GET", HANDWRITTEN, requests=args.requests, concurrency=args.concurrency, headers=auth)[0]
        )
    # Rounds alternate the two, so a busy moment of the machine hits both; the median round decides.
    ratio = statistics.median(a / h for a, h in zip(api_rps, hand_rps, strict=True))
    api, hand = statistics.median(api_rps), statistics.median(hand_rps)

    ready_rps, ready_lat = load(
        port, "GET", READINESS, requests=args.requests, concurrency=args.concurrency, headers=auth
    )

    run = int(time.time())

    def results(flip):
        def body_for(i):
            passed = bool(i % 2) if flip else True
            body = json.dumps({"passed": passed, "source": "bench", "details": f"run {i}"})
            key = f"bench-{run}-{'flip' if flip else 'same'}-{i}"
            return body, {"Content-Type": "application/json", "Idempotency-Key": key}

        return body_for

    ingest = {}
    for flip in (False, True):
        ingest[flip] = load(
            port,
            "POST",
            f"/api/v1/projects/{SLUG}/gates/G1/check-results",
            requests=max(100, args.requests // 2),
            concurrency=args.concurrency,
            headers=auth,
            body_for=results(flip),
            expect=(201,),
        )

    label = f"gunicorn {args.workers} workers, {args.concurrency} clients"
    ms = 1000
    rows = [
        {
            "benchmark": f"gate list, {PAGE}/page ({label})",
            "measure": "API (token, permissions, filter) req/s",
            "value": f"{api:.0f}",
        },
        {
            "benchmark": f"gate list, {PAGE}/page ({label})",
            "measure": "hand-written Django view (token, membership, filter) req/s",
            "value": f"{hand:.0f}",
        },
        {
            "benchmark": f"gate list, {PAGE}/page ({label})",
            "measure": "API / hand-written (median of alternating rounds)",
            "value": f"{100 * ratio:.0f}%",
        },
        {
            "benchmark": f"gate list, {PAGE}/page ({label})",
            "measure": f"target: API at least {TARGET_RATIO:.0%} of hand-written (same {same_rows} rows checked)",
            "value": "PASS" if ratio >= TARGET_RATIO else "FAIL",
        },
        {
            "benchmark": f"gate list, {PAGE}/page ({label})",
            "measure": "API p50 / p95 (ms)",
            "value": f"{percentile(api_lat, 50) * ms:.1f} / {percentile(api_lat, 95) * ms:.1f}",
        },
        {
            "benchmark": f"readiness ({label})",
            "measure": "p50 / p95 (ms)",
            "value": f"{percentile(ready_lat, 50) * ms:.1f} / {percentile(ready_lat, 95) * ms:.1f}",
        },
        {"benchmark": f"readiness ({label})", "measure": "req/s", "value": f"{ready_rps:.0f}"},
        *(
            {
                "benchmark": f"check-result ingestion ({label})",
                "measure": f"{what}: p50 / p95 (ms), req/s",
                "value": f"{percentile(lat, 50) * ms:.1f} / {percentile(lat, 95) * ms:.1f}, {rps:.0f}",
            }
            for what, (rps, lat) in (
                ("same outcome, gate unchanged", ingest[False]),
                ("each result flips the gate (recompute in the request, tasks run eagerly)", ingest[True]),
            )
        ),
    ]
    return rows


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--projects", type=int, default=0, help="unused (the runner passes it to every benchmark)")
    parser.add_argument("--gates", type=int, default=0, help="unused")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    from django.core.management import call_command

    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        print(json.dumps([{"benchmark": "REST API", "measure": "skipped", "value": "needs PostgreSQL"}]))
        return
    _tasks_in_process()
    call_command("migrate", verbosity=0)
    call_command("load_templates", stdout=io.StringIO())  # rows for the gate-template list
    secret = generate()
    auth = {"Authorization": f"Bearer {secret}"}
    port = free_port()
    proc = start_gunicorn(port, args.workers)
    try:
        try:
            same_rows = check_same_rows(port, auth)
        except RowsDiffer as exc:
            rows = [
                {
                    "benchmark": f"gate list, {PAGE}/page",
                    "measure": "same rows as the hand-written view (throughput not compared)",
                    "value": f"DIFFER: {exc}",
                    "failed": True,
                }
            ]
        else:
            rows = measure(port, auth, args, same_rows)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    rows += list_query_counts()
    print(json.dumps(rows))
    if any(row.get("failed") for row in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
