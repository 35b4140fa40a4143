"""manage.py restore_project PATH — recreate a project from `export_project --format json`."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from audits.models import Channel
from audits.services import Actor
from portal.errors import DomainError
from projects.restore import project_restore


class Command(BaseCommand):
    help = "Restore a project exported with `export_project SLUG --format json` (its slug must be free here)."

    def add_arguments(self, parser):
        parser.add_argument("path")

    def handle(self, *args, path, **options):
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror or exc}") from exc
        except json.JSONDecodeError as exc:
            raise CommandError(f"{path} is not JSON: {exc}") from exc
        try:
            project = project_restore(actor=Actor.system(Channel.CLI), data=data, source=Path(path).name)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Restored {project.slug}: {project.gates.count()} gates, {project.snapshots.count()} snapshots."
            )
        )
