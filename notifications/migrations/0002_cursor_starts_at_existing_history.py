"""The dispatcher starts after the history that exists when it is installed: no flood of old news."""

from django.db import migrations
from django.db.models import Max


def forwards(apps, schema_editor):
    AuditEvent = apps.get_model("audits", "AuditEvent")
    EventCursor = apps.get_model("notifications", "EventCursor")
    last = AuditEvent.objects.aggregate(last=Max("id"))["last"] or 0
    EventCursor.objects.update_or_create(name="audit-events", defaults={"last_id": last})


class Migration(migrations.Migration):
    dependencies = [("notifications", "0001_initial"), ("audits", "0003_append_only_trigger")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
