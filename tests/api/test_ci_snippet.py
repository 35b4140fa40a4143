"""The README's CI step, run with bash and curl against a live server: it passes only on GO."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from audits.services import Actor
from projects import services
from projects.models import ProjectGate, SignOffRole
from tokens.services import token_create

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.skipif(not (shutil.which("curl") and shutil.which("jq")), reason="needs curl and jq"),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def snippet(path):
    text = path.read_text()
    return re.search(r"```sh\n(# Needs PREFLIGHT_URL.*?)```", text, re.S).group(1)


def run_step(live_server, secret, project="apollo", stage=""):
    env = {**os.environ, "PREFLIGHT_URL": live_server.url, "PREFLIGHT_TOKEN": secret, "PROJECT": project}
    env["STAGE"] = stage
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", snippet(ROOT / "README.md")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_docs_and_readme_show_the_same_step():
    assert snippet(ROOT / "README.md") == snippet(ROOT / "docs" / "api.md")


def test_ci_step_blocks_unless_go(live_server, project, owner):
    _, secret = token_create(actor=Actor(owner), user=owner, name="deploy", scope="read", projects=[project])
    blocked = run_step(live_server, secret)
    assert blocked.returncode == 1, blocked
    assert "no_go, deploy blocked" in blocked.stderr and "  - " in blocked.stderr

    actor = Actor(owner)
    for gate in ProjectGate.objects.filter(project=project):
        services.gate_update(actor=actor, gate=gate, version=gate.version, status="closed")
    stage = project.stages.get(name="Soft launch")
    for role in SignOffRole.objects.filter(project=project, name__in=["Backend Lead", "Product Owner"]):
        services.signoff_give(actor=actor, project=project, stage=stage, role=role, decision="go")
    passed = run_step(live_server, secret)
    assert passed.returncode == 0, passed
    assert "apollo is GO" in passed.stdout

    # GA needs the DevOps Lead's sign-off too: not GO there.
    assert run_step(live_server, secret, stage="GA").returncode == 1
    # A project the token may not see fails the step instead of passing it.
    assert run_step(live_server, secret, project="nope").returncode != 0
    assert run_step(live_server, secret + "x").returncode != 0
