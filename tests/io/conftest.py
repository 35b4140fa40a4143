"""Fixtures for importing and exporting: the five example documents and an import helper."""

from pathlib import Path

import pytest

from audits.models import AuditEvent
from audits.services import Actor
from projects import imports
from projects.markdown.parser import parse_markdown
from projects.models import Project, ProjectGate

# The example readiness documents ship with the repository (they are also the demo data).
EXAMPLES = Path(__file__).resolve().parents[2] / "projects" / "demo_data"


def example_text(name):
    return (EXAMPLES / name).read_text(encoding="utf-8")


def example(name):
    return parse_markdown(example_text(name))


def row_counts():
    """How many rows the import and export paths could write, to prove a preview wrote none."""
    return (Project.objects.count(), ProjectGate.objects.count(), AuditEvent.objects.count())


@pytest.fixture
def import_new(owner, run_on_commit):
    """Import a document (text) into a new project owned by `owner`, recompute included."""

    def run(text, name="Imported", slug="", source="", template=None):
        with run_on_commit():
            project = imports.import_new_project(
                actor=Actor(owner),
                document=parse_markdown(text),
                name=name,
                slug=slug,
                template=template,
                source=source,
            )
        project.refresh_from_db()
        return project

    return run
