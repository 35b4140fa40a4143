"""manage.py import_checklist PATH (--project SLUG | --template NAME) [--dry-run]"""

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from audits.models import Channel
from audits.services import Actor
from portal.errors import DomainError
from projects import imports, readiness
from projects.markdown.parser import parse_markdown
from projects.models import Project


class Command(BaseCommand):
    help = (
        "Import a Markdown readiness document into a project (updating gates that match by code, else by "
        "title; the project is created when the slug is new) or as a new gate template. Prints the preview "
        "first; --dry-run stops there."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="The Markdown file ('-' reads standard input).")
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--project", metavar="SLUG", help="Import into this project (created if it is new).")
        target.add_argument("--template", metavar="NAME", help="Make a new gate template with this name.")
        parser.add_argument("--name", help="Name of a new project (default: the document's title).")
        parser.add_argument("--owner", metavar="USERNAME", help="Who imports; owns a new project (default: system).")
        parser.add_argument("--dry-run", action="store_true", help="Show the preview and write nothing.")

    def handle(self, *args, path, project, template, name, owner, dry_run, **options):
        self.verbosity = options.get("verbosity", 1)
        document = parse_markdown(self.read(path))  # bytes: decoded strictly, see decode_document
        actor = Actor(self.user(owner), Channel.CLI) if owner else Actor.system(Channel.CLI)
        target = Project.objects.filter(slug=project).first() if project else None
        plan = imports.import_plan(document=document, project=target)
        self.print_preview(plan, path, project, template, target)
        if dry_run:
            self.stdout.write("Dry run: nothing was written.")
            return
        source = Path(path).name if path != "-" else "standard input"
        try:
            with transaction.atomic():
                if template:
                    result = imports.import_as_template(actor=actor, document=document, name=template, source=source)
                    self.stdout.write(self.style.SUCCESS(f"Template {result} created with {len(plan.gates)} gates."))
                elif target is None:
                    new = imports.import_new_project(
                        actor=actor,
                        document=document,
                        name=name or document.title or project,
                        slug=project,
                        source=source,
                    )
                    self.stdout.write(self.style.SUCCESS(f"Project {new.slug} created with {new.gates.count()} gates."))
                else:
                    applied = imports.import_into_project(
                        actor=actor,
                        project=target,
                        document=document,
                        source=source,
                        expected_fingerprint=plan.fingerprint,
                    )
                    self.stdout.write(
                        self.style.SUCCESS(
                            f"Imported into {target.slug}: {applied.count('create')} created, "
                            f"{applied.count('update')} updated, {applied.count('unchanged')} unchanged."
                        )
                    )
        except DomainError as exc:
            details = "; ".join(f"{field}: {' '.join(errors)}" for field, errors in exc.field_errors.items())
            raise CommandError(f"{exc.message} {details}".strip()) from exc

    def read(self, path):
        """The file's bytes: the parser decodes them (UTF-8, else Windows-1252 or Mac Roman) and the
        preview says when it was not UTF-8, instead of replacing what it cannot decode."""
        import sys

        if path == "-":
            stream = getattr(sys.stdin, "buffer", None)  # a text-only stream (a test's StringIO) has none
            return stream.read() if stream is not None else sys.stdin.read()
        try:
            return Path(path).read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror or exc}") from exc

    def user(self, username):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        return user

    def print_preview(self, plan, path, project, template, target):
        preview = plan.preview()
        counts = preview["counts"]
        if template:
            where = f"new template “{template}”"
        elif target is None:
            where = f"new project {project}"
        else:
            where = f"project {target.slug}"
        out = self.stdout
        out.write(f"{path} → {where}")
        for notice in preview["notices"]:
            out.write(f"  {notice}")
        if preview["repaired_encoding"]:
            out.write("  (garbled emoji repaired: the text had been decoded with the wrong encoding)")
        statuses = ", ".join(
            f"{counts[s]} {readiness.STATUS_LABELS[s].lower()}"
            for s in (readiness.CLOSED, readiness.PARTIAL, readiness.OPEN, readiness.WAIVED, readiness.NOT_APPLICABLE)
            if counts[s]
        )
        out.write(f"{counts['gates']} gates: {statuses or 'none'}")
        if not template:
            out.write(f"  {counts['create']} to create, {counts['update']} to update, {counts['unchanged']} unchanged")
        out.write("")
        width = max([len(c["name"]) for c in preview["categories"]] + [8])
        out.write(f"  {'category'.ljust(width)}  closed  partial  open  other  total")
        for c in preview["categories"]:
            other = c["waived"] + c["not_applicable"]
            out.write(
                f"  {c['name'].ljust(width)}  {c['closed']:>6}  {c['partial']:>7}  {c['open']:>4}  {other:>5}  {c['total']:>5}"
            )
        if self.verbosity > 1:
            out.write("")
            for g in preview["gates"]:
                out.write(f"  line {g['line_no']:>5}  {g['action']:<9} {g['code']:<12} {g['status']:<14} {g['title']}")
        if preview["unreadable"]:
            out.write(f"\n{len(preview['unreadable'])} lines could not be read:")
            for u in preview["unreadable"]:
                out.write(f"  line {u['line_no']}: {u['reason']}: {u['line'].strip()[:100]}")
        if preview["skipped"]:
            out.write(f"\n{preview['counts']['skipped']} item-like lines are not gates:")
            for s in preview["skipped"]:
                lines = (
                    f"line {s['line_no']}"
                    if s["line_no"] == s["last_line_no"]
                    else f"lines {s['line_no']}-{s['last_line_no']}"
                )
                where = f" under “{s['section']}”" if s["section"] else ""
                out.write(f"  {lines}{where} ({len(s['line_nos'])}): {s['reason']}")
        if preview["discrepancies"]:
            out.write(f"\n{len(preview['discrepancies'])} summary claims disagree with the items (the items win):")
            for d in preview["discrepancies"]:
                out.write(f"  line {d['line_no']}: “{d['text']}” — the items say {_actual(d)} ({d['scope']})")
        out.write("")


def _actual(discrepancy):
    """What the items say against a claim: "16 of 18", or "89% (16 of 18 closed)" for a percentage."""
    d = discrepancy
    if d["percent"]:
        share = f"{d['actual_percent']:g}%" if d["actual_percent"] is not None else "nothing applicable"
        return f"{share} ({d['actual']} of {d['actual_total']} closed)"
    return f"{d['actual']}" + (f" of {d['actual_total']}" if d["actual_total"] is not None else "")
