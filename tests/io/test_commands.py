"""import_checklist, export_project and restore_project."""

import csv
import io
import json

import pytest
from django.core.management import CommandError, call_command

from audits.models import AuditEvent
from gates.models import GateTemplate
from projects.models import Project

from .conftest import EXAMPLES, row_counts

pytestmark = pytest.mark.django_db


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue()


def test_dry_run_prints_the_preview_and_writes_nothing(project):
    before = row_counts()
    out = run("import_checklist", str(EXAMPLES / "platform-launch-readiness.md"), "--project", "store", "--dry-run")
    assert row_counts() == before
    assert "60 gates: 53 closed, 1 partial, 6 open" in out
    assert "60 to create, 0 to update, 0 unchanged" in out
    assert "10 lines could not be read:" in out
    assert "line 147: status '11 containers' not recognised" in out
    assert "“16/17 features ready” — the items say 16 of 18 (Store Dashboard)" in out
    assert "Dry run: nothing was written." in out


def test_dry_run_lists_item_like_lines_that_are_not_gates_and_percentages(project):
    out = run("import_checklist", str(EXAMPLES / "production-readiness-checklist.md"), "--project", "x", "--dry-run")
    assert "lines 924-932 under “Quick Reference: Service Status” (9): summary table" in out
    out = run("import_checklist", str(EXAMPLES / "platform-launch-readiness.md"), "--project", "x", "--dry-run")
    assert "line 12: “95% complete” — the items say 84.6% (11 of 13 closed) (Admin/Platform)" in out


def test_a_file_that_is_not_utf8_is_read_as_windows_1252_and_said_so(owner, tmp_path):
    doc = tmp_path / "legacy.md"
    doc.write_bytes("# Sécurité\n## Technical\n- [x] Café réservé – “prêt”\n".encode("cp1252"))
    out = run("import_checklist", str(doc), "--project", "legacy", "--owner", owner.username)
    assert "The file is not UTF-8: it was read as Windows-1252." in out
    project = Project.objects.get(slug="legacy")
    assert project.name == "Sécurité"
    assert list(project.gates.values_list("title", flat=True)) == ["Café réservé – “prêt”"]


def test_standard_input_is_decoded_like_a_file(project, monkeypatch):
    raw = "## Technical\n- [x] Café réservé\n".encode("cp1252")
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8"))
    out = run("import_checklist", "-", "--project", "apollo", "--dry-run", "--verbosity", "2")
    assert "it was read as Windows-1252" in out and "Café réservé" in out


def test_import_creates_a_project_when_the_slug_is_new_then_updates_it(owner):
    path = str(EXAMPLES / "launch-gates.md")
    out = run("import_checklist", path, "--project", "dealix", "--owner", owner.username, "--name", "Dealix")
    assert "Project dealix created with 33 gates." in out
    project = Project.objects.get(slug="dealix")
    assert (project.name, project.owner) == ("Dealix", owner)
    statuses = list(project.gates.values_list("status", flat=True))
    assert (statuses.count("closed"), statuses.count("partial"), statuses.count("open")) == (11, 4, 18)
    out = run("import_checklist", path, "--project", "dealix")
    assert "Imported into dealix: 0 created, 0 updated, 33 unchanged." in out
    assert AuditEvent.objects.filter(project=project, action="project.imported").count() == 1


def test_import_into_an_existing_project_is_audited_on_the_command_line(project, tmp_path):
    doc = tmp_path / "apollo.md"
    doc.write_text("## Technical\n| ID | Gate | Status |\n|---|---|---|\n| T1 | Health check green | Done |\r\n")
    out = run("import_checklist", str(doc), "--project", "apollo")
    assert "0 created, 1 updated, 0 unchanged" in out
    event = AuditEvent.objects.get(project=project, action="gate.status_changed")
    assert (event.channel, event.actor_label, event.after["status"]) == ("cli", "system", "closed")


def test_import_as_template(db):
    out = run("import_checklist", str(EXAMPLES / "launch-gates.md"), "--template", "Dealix launch gates")
    assert "Template Dealix launch gates v1 created with 33 gates." in out
    assert GateTemplate.objects.get(key="dealix-launch-gates").definitions.count() == 33


def test_import_errors_are_command_errors(project, viewer, tmp_path):
    with pytest.raises(CommandError, match="Cannot read"):
        run("import_checklist", str(tmp_path / "missing.md"), "--project", "apollo")
    with pytest.raises(CommandError, match="No user named"):
        run("import_checklist", str(EXAMPLES / "launch-gates.md"), "--project", "apollo", "--owner", "nobody")
    empty = tmp_path / "empty.md"
    empty.write_text("nothing to read here\n")
    with pytest.raises(CommandError, match="no gates that could be read"):
        run("import_checklist", str(empty), "--project", "brand-new")
    before = row_counts()
    with pytest.raises(CommandError, match="may view this project but not change it"):
        run("import_checklist", str(EXAMPLES / "launch-gates.md"), "--project", "apollo", "--owner", viewer.username)
    assert row_counts() == before
    with pytest.raises(CommandError):
        run("import_checklist", str(EXAMPLES / "launch-gates.md"))  # neither --project nor --template


def test_export_project_in_each_format(project, tmp_path):
    md = run("export_project", "apollo", "--format", "md")
    assert md.startswith("# Apollo: launch decision pack") and "| T1 | Health check green |" in md
    rows = list(csv.DictReader(io.StringIO(run("export_project", "apollo", "--format", "csv"))))
    assert len(rows) == 6
    target = tmp_path / "apollo.json"
    run("export_project", "apollo", "--format", "json", "--output", str(target))
    data = json.loads(target.read_text())
    assert (data["format"], data["project"]["slug"], len(data["gates"])) == ("preflight.project", "apollo", 6)
    with pytest.raises(CommandError, match="No project"):
        run("export_project", "nope", "--format", "md")
    with pytest.raises(CommandError, match="no snapshot"):
        run("export_project", "apollo", "--format", "md", "--snapshot", "999999")
    snapshot = project.snapshots.latest()
    assert snapshot.state_hash in run("export_project", "apollo", "--format", "md", "--snapshot", str(snapshot.pk))


def test_restore_project_from_an_export_file(project, tmp_path):
    target = tmp_path / "apollo.json"
    run("export_project", "apollo", "--format", "json", "--output", str(target))
    with pytest.raises(CommandError, match="already exists"):
        run("restore_project", str(target))
    data = json.loads(target.read_text())
    data["project"]["slug"] = "apollo-restored"
    target.write_text(json.dumps(data))
    assert "Restored apollo-restored: 6 gates" in run("restore_project", str(target))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(CommandError, match="is not JSON"):
        run("restore_project", str(bad))
