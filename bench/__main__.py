"""`make bench`: run every benchmark on SQLite and, when DATABASE_URL is set, PostgreSQL; print one table.

Each benchmark runs in its own process against its own database (var/bench.sqlite3, or
<DATABASE_URL's name>_bench on PostgreSQL), so the development data is never touched.

A benchmark prints its result rows as JSON on its last line. A row with `"failed": true` is a
broken claim (the API and the hand-written view return other rows, a list's query count depends
on its page size): the table is printed, then the run exits with status 1. A throughput below
its target is a verdict in the table (FAIL), not an error.
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ["bench.recompute"]
# The REST API under gunicorn (PostgreSQL only).
BENCHMARKS.append("bench.api_bench")
# Markdown import and export of a 2,000-item document.
BENCHMARKS.append("bench.importer")
# Web pages: the portfolio dashboard over every project, and one project page.
BENCHMARKS.append("bench.pages")
# Benchmarks that keep REDIS_URL: the API bench measures throttled requests with the production
# cache (Redis) and runs its tasks in the request itself. The others measure in-process work, and
# REDIS_URL, which also names the Celery broker, would send their tasks to a queue nobody reads.
KEEPS_REDIS = {"bench.api_bench"}


def bench_databases():
    yield "sqlite", f"sqlite:///{ROOT / 'var' / 'bench.sqlite3'}"
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        parts = urlsplit(url)
        name = (parts.path.lstrip("/") or "preflight") + "_bench"
        yield "postgresql", urlunsplit(parts._replace(path=f"/{name}"))


def ensure_postgres_database(url):
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--gates", type=int, default=40)
    args = parser.parse_args()

    rows, failed = [], []
    for label, url in bench_databases():
        if label == "postgresql":
            ensure_postgres_database(url)
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "DEBUG": "False",
            "SECRET_KEY": "bench-only",
            "ALLOWED_HOSTS": "127.0.0.1",
        }
        for module in BENCHMARKS:
            print(f"… {module} on {label}", file=sys.stderr, flush=True)
            module_env = env if module in KEEPS_REDIS else {k: v for k, v in env.items() if k != "REDIS_URL"}
            out = subprocess.run(
                [sys.executable, "-m", module, "--projects", str(args.projects), "--gates", str(args.gates)],
                cwd=ROOT,
                env=module_env,
                capture_output=True,
                text=True,
                check=False,
            )
            results = result_rows(out.stdout)
            broken = [row for row in results or () if row.get("failed")]
            if results is None or (out.returncode != 0 and not broken):  # it crashed: no rows to show
                print(out.stdout, out.stderr, file=sys.stderr)
                sys.exit(f"{module} failed on {label}")
            for row in results:
                rows.append({"database": label, **row})
            failed += [f"{module} on {label}: {row['measure']}: {row['value']}" for row in broken]
    print_table(rows)
    if failed:
        sys.exit("Broken claims (DIFFER):\n" + "\n".join(f"  - {line}" for line in failed))


def result_rows(stdout):
    """The JSON list of rows on a benchmark's last output line, or None if there is none."""
    lines = stdout.strip().splitlines()
    try:
        rows = json.loads(lines[-1]) if lines else None
    except ValueError:
        return None
    return rows if isinstance(rows, list) else None


def print_table(rows):
    headers = ["database", "benchmark", "measure", "value"]
    table = [[str(r.get(h, "")) for h in headers] for r in rows]
    widths = [max(len(h), *(len(row[i]) for row in table)) for i, h in enumerate(headers)]
    print(" | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("-|-".join("-" * w for w in widths))
    for row in table:
        print(" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
