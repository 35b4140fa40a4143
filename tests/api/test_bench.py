"""`make bench`: the runner keeps Redis for the API bench only and fails on broken claims (DIFFER)
but not on a slow verdict; the API bench's list query counts cover every list, notifications too."""

import json
import subprocess
import sys

import pytest

import bench.__main__ as runner

from .test_query_counts import LISTS


def _fake_benchmarks(monkeypatch, outcomes):
    """Each benchmark module 'prints' the rows given for it and exits with the status given."""
    calls = []

    def run(cmd, **kwargs):
        module = cmd[cmd.index("-m") + 1]
        rows, status = outcomes.get(module, ([{"benchmark": module, "measure": "m", "value": "1"}], 0))
        calls.append((module, kwargs["env"]))
        return subprocess.CompletedProcess(cmd, status, stdout="progress\n" + json.dumps(rows) + "\n", stderr="")

    monkeypatch.setattr(runner.subprocess, "run", run)
    monkeypatch.setattr(sys, "argv", ["bench"])
    monkeypatch.delenv("DATABASE_URL", raising=False)  # SQLite only: no PostgreSQL database to create
    return calls


def test_redis_is_kept_for_the_api_bench_only(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/9")
    calls = _fake_benchmarks(monkeypatch, {})
    runner.main()
    envs = dict(calls)
    assert set(envs) == set(runner.BENCHMARKS)
    assert envs["bench.api_bench"]["REDIS_URL"] == "redis://127.0.0.1:6379/9"
    assert all("REDIS_URL" not in env for module, env in envs.items() if module != "bench.api_bench")


def test_a_slow_verdict_is_printed_not_an_error(monkeypatch, capsys):
    rows = [{"benchmark": "gate list", "measure": "target", "value": "FAIL"}]
    _fake_benchmarks(monkeypatch, {"bench.api_bench": (rows, 0)})
    runner.main()
    assert "FAIL" in capsys.readouterr().out


def test_a_differing_list_prints_the_table_then_exits_non_zero(monkeypatch, capsys):
    differs = {"measure": "/api/v1/notifications", "value": "3 / 4 DIFFER", "failed": True}
    rows = [{"benchmark": "queries per list request", **differs}]
    _fake_benchmarks(monkeypatch, {"bench.api_bench": (rows, 1)})
    with pytest.raises(SystemExit) as exited:
        runner.main()
    assert exited.value.code not in (0, None)
    assert "/api/v1/notifications" in str(exited.value.code)
    table = capsys.readouterr().out
    assert "3 / 4 DIFFER" in table and "bench.pages" in table  # every benchmark ran, the table was printed


def test_a_crashed_benchmark_stops_the_run(monkeypatch, capsys):
    _fake_benchmarks(monkeypatch, {"bench.importer": ([], 1)})
    with pytest.raises(SystemExit) as exited:
        runner.main()
    assert "bench.importer failed" in str(exited.value.code)


@pytest.mark.django_db
def test_the_api_bench_lists_run_the_same_queries_at_both_page_sizes(settings):
    """The bench's own fixture fills every list it measures (notifications included), and none of
    them reports DIFFER."""
    from django.core.management import call_command

    from bench import api_bench

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS]  # list_query_counts adds to it; restored after
    call_command("load_templates", verbosity=0)
    api_bench.generate()
    rows = api_bench.list_query_counts()
    measured = {row["measure"].split(" ")[0] for row in rows}
    assert "/api/v1/notifications" in measured
    assert len(measured) == len(LISTS)  # the bench measures every list the tests bound
    assert [row for row in rows if row.get("failed") or "DIFFER" in row["value"]] == []
