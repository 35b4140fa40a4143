from django.db import migrations

BUILTIN_CATEGORIES = [
    ("technical", "Technical", "Health, releases, CI, load, rollback and backups.", 10),
    ("security", "Security", "Authentication, secrets, network, scanning.", 20),
    ("observability", "Observability", "Tracing, errors, funnels, alerts and SLOs.", 30),
    ("gtm", "GTM / Funnel", "Pricing, checkout, integrations, first customers.", 40),
    ("support", "Support / Incident", "Runbooks, on-call, status page, support channel.", 50),
    ("recovery", "Recovery / Rollback", "Tags, restore drills, redeploy of the previous version.", 60),
    ("governance", "Governance", "Approvals, compliance and policy.", 70),
]


def seed(apps, schema_editor):
    Category = apps.get_model("gates", "Category")
    for key, name, description, order in BUILTIN_CATEGORIES:
        Category.objects.update_or_create(
            key=key, defaults={"name": name, "description": description, "order": order, "is_builtin": True}
        )


class Migration(migrations.Migration):
    dependencies = [("gates", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
