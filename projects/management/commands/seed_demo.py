"""Demo data: five projects reproducing the five example readiness documents, and demo users."""

from datetime import timedelta
from io import StringIO
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.test.utils import override_settings
from django.utils import timezone

from audits.models import Channel
from audits.services import Actor
from gates.models import GateTemplate
from projects import imports, readiness, services
from projects.markdown.parser import parse_markdown
from projects.models import Membership, Project, SignOffRole

DEMO_PASSWORD = "preflight-demo"
DATA_DIR = Path(__file__).resolve().parent.parent.parent / "demo_data"

# (slug, name, file, template key or None, days to the first stage)
DEMO_PROJECTS = [
    ("dealix", "Dealix sales platform", "launch-gates.md", "saas-launch-gates", 14),
    ("batik-shop", "Batik e-commerce platform", "production-readiness-checklist.md", None, 30),
    ("phase7", "Phase 7 production launch", "phase7-production-readiness.md", None, 7),
    ("store-platform", "Store platform launch", "platform-launch-readiness.md", None, 21),
    ("atelier", "Atelier storefront", "implementation-status.md", None, 45),
]

# (username, name, project role, sign-off roles, staff)
DEMO_USERS = [
    ("olivia", "Olivia Owner", Membership.Role.OWNER, ["Backend Lead", "DevOps Lead", "Product Owner"], False),
    ("eddie", "Eddie Editor", Membership.Role.EDITOR, ["Backend Lead"], False),
    ("devon", "Devon DevOps", Membership.Role.EDITOR, ["DevOps Lead"], False),
    ("sam", "Sam Signer", Membership.Role.SIGNER, ["Product Owner"], False),
    ("vera", "Vera Viewer", Membership.Role.VIEWER, [], False),
    ("admin", "Ada Admin", None, [], True),
]


class Command(BaseCommand):
    help = "Create the demo users and five demo projects (idempotent: existing ones are left as they are)."

    def handle(self, *args, **options):
        # The demo's changes notify the demo users in the app (the bell), but send no email while
        # seeding: the addresses are made up, and with the console backend of the embedded default
        # hundreds of lines of mail would bury the logins. Only for this run (tasks run in-process
        # there); the mail settings are back as they were when the command ends.
        discard = {alias: {"BACKEND": "django.core.mail.backends.dummy.EmailBackend"} for alias in settings.MAILERS}
        with override_settings(MAILERS=discard):
            self.seed()

    def seed(self):
        call_command("load_templates", stdout=StringIO())  # `make run` has just printed what it loaded
        users = self.create_users()
        owner = users["olivia"]
        actor = Actor(owner, Channel.CLI)
        for slug, name, filename, template_key, days in DEMO_PROJECTS:
            if Project.objects.filter(slug=slug).exists():
                self.stdout.write(f"{name}: exists, left as it is")
                continue
            project = self.create_project(actor, users, slug, name, filename, template_key, days)
            # Computed here, so the demo is ready whether or not a worker is running yet (with
            # one, its queued recompute then finds the project current and does nothing).
            services.readiness_recompute(project_ids=[project.pk])
            project.refresh_from_db()
            counts = project.readiness.get("counts", {})
            self.stdout.write(
                f"{name}: {project.gates.count()} gates ({counts.get('closed', 0)} closed, "
                f"{counts.get('partial', 0)} partial, {counts.get('open', 0)} open) — "
                f"{project.score}/100 {project.verdict_label}"
            )
        self.stdout.write(f"\nDemo logins (password: {DEMO_PASSWORD}):")
        for username, full_name, role, roles, staff in DEMO_USERS:
            what = "staff, back office at /admin/" if staff else f"{role}; signs for {', '.join(roles) or 'nothing'}"
            self.stdout.write(f"  {username:8} {full_name} ({what})")

    def create_users(self):
        User = get_user_model()
        users = {}
        for username, full_name, _role, _roles, staff in DEMO_USERS:
            first, last = full_name.split(" ", 1)
            user = User.objects.filter(username=username).first()
            if user is None:
                user = User.objects.create_user(
                    username=username,
                    email=f"{username}@preflight.example",
                    password=DEMO_PASSWORD,
                    first_name=first,
                    last_name=last,
                    is_staff=staff,
                    is_superuser=staff,
                )
            users[username] = user
        return users

    def create_project(self, actor, users, slug, name, filename, template_key, days):
        document = parse_markdown((DATA_DIR / filename).read_text(encoding="utf-8"))
        template = GateTemplate.objects.filter(key=template_key).order_by("-version").first() if template_key else None
        project = imports.import_new_project(
            actor=actor, document=document, name=name, slug=slug, template=template, source=filename
        )
        today = timezone.localdate()
        for i, stage in enumerate(project.stages.order_by("order")):
            services.stage_update(actor=actor, stage=stage, target_date=today + timedelta(days=days + 30 * i))
        services.project_update(actor=actor, project=project, target_launch_date=today + timedelta(days=days))
        for username, _full, role, role_names, _staff in DEMO_USERS:
            if role is None or role == Membership.Role.OWNER:
                continue
            roles = SignOffRole.objects.filter(project=project, name__in=role_names)
            services.member_add(actor=actor, project=project, user=users[username], role=role, signoff_roles=roles)
        # Owners and due dates on the open work, as a team would have set them.
        owners = [users["eddie"], users["devon"]]
        open_gates = project.gates.exclude(status__in=[readiness.CLOSED, readiness.NOT_APPLICABLE, readiness.WAIVED])
        for i, gate in enumerate(open_gates.select_related("project").order_by("order")[:40]):
            services.gate_update(
                actor=actor,
                gate=gate,
                version=gate.version,
                owner=owners[i % 2],
                due_date=today + timedelta(days=(i % 9) - 2),
            )
        if document.verdict and document.signoff_roles:
            # The document records a decision: the Product Owner signed it against this state.
            stage = project.stages.order_by("order").first()
            role = SignOffRole.objects.filter(project=project, name="Product Owner").first()
            if stage and role:
                services.signoff_give(
                    actor=Actor(users["sam"], Channel.CLI),
                    project=project,
                    stage=stage,
                    role=role,
                    decision=document.verdict,
                    comment="" if document.verdict == readiness.GO else f"As recorded in {filename}.",
                )
        return project
