"""An export taken while a status change could leave a waiver on an unwaived gate still restores:
only a waived gate keeps a waiver (the database refuses anything else)."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from audits.models import Channel
from audits.services import Actor
from projects import exports, services
from projects.models import ProjectGate
from projects.restore import project_restore

pytestmark = pytest.mark.django_db


def test_a_waiver_left_on_an_unwaived_gate_is_not_restored(project, owner):
    later = timezone.now() + timedelta(days=5)
    s2 = ProjectGate.objects.get(project=project, code="S2")
    services.gate_waive(actor=Actor(owner), gate=s2, version=s2.version, reason="Kept", expires_at=later)
    data = json.loads(exports.export_json_text(project))
    data["project"]["slug"] = "apollo-restored"
    by_code = {g["code"]: g for g in data["gates"]}
    # T2 as an export from before the fix could carry it: closed, its old waiver still on it.
    by_code["T2"].update(status="closed", waiver_reason="Old", waiver_approver=owner.username)
    by_code["T2"]["waiver_expires_at"] = by_code["S2"]["waiver_expires_at"]
    restored = project_restore(actor=Actor.system(Channel.CLI), data=data, source="old.json")
    gates = {g.code: g for g in restored.gates.all()}
    t2, s2 = gates["T2"], gates["S2"]
    assert (t2.status, t2.waiver_reason, t2.waiver_approver, t2.waiver_expires_at) == ("closed", "", None, None)
    assert (s2.status, s2.waiver_reason, s2.waiver_approver) == ("waived", "Kept", owner)
    assert s2.waiver_expires_at is not None
