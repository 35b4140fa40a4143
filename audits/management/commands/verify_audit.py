"""Walk the audit hash chain and report the first broken link (exit status 1 when broken)."""

from django.core.management.base import BaseCommand, CommandError

from audits.services import audit_verify_chain


class Command(BaseCommand):
    help = "Verify the audit history's hash chain; report the first broken link."

    def handle(self, *args, **options):
        checked, broken, problem = audit_verify_chain()
        if problem:
            if broken is not None:
                where = (
                    f"event #{broken.pk} ({broken.created_at:%Y-%m-%d %H:%M:%S} {broken.actor_label} "
                    f"{broken.action} {broken.object_repr})"
                )
                raise CommandError(
                    f"Audit chain broken at {where}: {problem}. {checked} event(s) before it are intact."
                )
            raise CommandError(f"Audit chain broken after {checked} event(s): {problem}.")
        self.stdout.write(self.style.SUCCESS(f"Audit chain intact: {checked} event(s) verified."))
