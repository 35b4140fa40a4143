from django.core.management.base import BaseCommand, CommandError

from audits.models import Channel
from audits.services import Actor
from gates import services
from portal.errors import DomainError


class Command(BaseCommand):
    help = "Load the built-in gate templates (or the given TOML files). Safe to run again."

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="*", help="Template files; default: every built-in template.")

    def handle(self, *args, paths, **options):
        actor = Actor.system(Channel.CLI)
        try:
            if paths:
                results = [services.template_load_file(actor=actor, path=p) for p in paths]
            else:
                results = services.template_load_builtins(actor=actor)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        for template, changed in results:
            state = "loaded" if changed else "unchanged"
            self.stdout.write(f"{template} ({template.definitions.count()} gates): {state}")
