"""manage.py export_project SLUG --format md|csv|json [--snapshot ID] [--output FILE]"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from audits.models import ReadinessSnapshot
from projects import exports
from projects.models import Project


class Command(BaseCommand):
    help = (
        "Export a project: a Markdown decision pack (from the current state or a snapshot), a CSV of its "
        "gates, or the whole project as JSON (restore it with restore_project)."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--format", choices=["md", "csv", "json"], required=True)
        parser.add_argument("--snapshot", type=int, metavar="ID", help="Decision pack of this snapshot (md only).")
        parser.add_argument("--output", "-o", metavar="FILE", help="Write here instead of standard output.")

    def handle(self, *args, slug, format, snapshot, output, **options):
        project = Project.objects.filter(slug=slug).first()
        if project is None:
            raise CommandError(f"No project with the slug {slug!r}.")
        if snapshot is not None and format != "md":
            raise CommandError("--snapshot applies to the Markdown decision pack only.")
        if format == "md":
            taken = None
            if snapshot is not None:
                taken = ReadinessSnapshot.objects.filter(project=project, pk=snapshot).first()
                if taken is None:
                    raise CommandError(f"Project {slug} has no snapshot {snapshot}.")
            text = exports.export_markdown(project, snapshot=taken)
        elif format == "csv":
            text = exports.export_csv(project)
        else:
            text = exports.export_json_text(project)
        if output:
            Path(output).write_text(text, encoding="utf-8")
            self.stderr.write(f"Wrote {output}")
        else:
            self.stdout.write(text, ending="")
