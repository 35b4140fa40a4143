"""Fixtures for importing and exporting: the five example documents and an import helper."""

from pathlib import Path

import pytest

from audits.models import AuditEvent, ReadinessSnapshot
from audits.services import Actor
from gates.models import Category, GateDefinition, GateTemplate
from projects import imports
from projects.markdown.parser import parse_markdown
from projects.models import CheckResult, Membership, Project, ProjectGate, SignOff, SignOffRole, Stage

# The example readiness documents ship with the repository (they are also the demo data).
EXAMPLES = Path(__file__).resolve().parents[2] / "projects" / "demo_data"


def example_text(name):
    return (EXAMPLES / name).read_text(encoding="utf-8")


def example(name):
    return parse_markdown(example_text(name))


# Every model an import, a template import or a restore writes (categories and templates included:
# a preview that made a custom category or a template would otherwise pass unnoticed).
WRITTEN_MODELS = (
    Project,
    ProjectGate,
    Stage,
    SignOffRole,
    Membership,
    CheckResult,
    SignOff,
    Category,
    GateTemplate,
    GateDefinition,
    AuditEvent,
    ReadinessSnapshot,
)


def row_counts():
    """How many rows of each model the import and export paths could write, to prove a preview wrote none."""
    return {model.__name__: model.objects.count() for model in WRITTEN_MODELS}


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
