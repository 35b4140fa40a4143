"""Built-in templates load from data files, idempotently, with the gates of the examples."""

from collections import Counter

import pytest
from django.core.management import call_command

from audits.models import AuditEvent
from audits.services import Actor
from gates import services
from gates.models import GateTemplate
from portal.errors import InvalidInput

pytestmark = pytest.mark.django_db


def load():
    call_command("load_templates", verbosity=0)
    return GateTemplate.objects.get(key="saas-launch-gates"), GateTemplate.objects.get(
        key="ecommerce-production-readiness"
    )


def test_saas_template_has_the_33_gates_of_launch_gates_md():
    saas, _ = load()
    codes = list(saas.definitions.order_by("order").values_list("code", flat=True))
    assert codes == [
        *(f"T{i}" for i in range(1, 8)),
        *(f"S{i}" for i in range(1, 8)),
        *(f"O{i}" for i in range(1, 6)),
        *(f"G{i}" for i in range(1, 7)),
        *(f"I{i}" for i in range(1, 5)),
        *(f"R{i}" for i in range(1, 4)),
        "V1",
    ]
    per_category = Counter(saas.definitions.values_list("category__key", flat=True))
    assert per_category == {
        "technical": 7,
        "security": 7,
        "observability": 5,
        "gtm": 6,
        "support": 4,
        "recovery": 3,
        "governance": 1,
    }
    assert saas.signoff_roles == ["Backend Lead", "DevOps Lead", "Product Owner"]
    soft = saas.stages[0]
    assert (soft["name"], soft["min_closed"]) == ("Soft launch", 24)
    # Every gate of the document belongs to the soft launch, whose target is 24 closed.
    assert saas.definitions.filter(stage_order__isnull=True).count() == 33
    t6 = saas.definitions.get(code="T6")
    assert (t6.severity, t6.weight, t6.evidence_valid_days) == ("blocker", 8, 90)


def test_ecommerce_template_covers_every_area_of_the_checklist():
    _, shop = load()
    assert shop.definitions.count() == 38
    assert shop.definitions.get(code="1.1").severity == "blocker"  # "Implementation Priority: IMMEDIATE"
    assert shop.definitions.get(code="1.3").severity == "critical"  # "BEFORE LAUNCH"
    assert set(shop.definitions.values_list("category__key", flat=True)) >= {
        "payments",
        "security",
        "orders",
        "recovery",
    }
    assert [s["name"] for s in shop.stages] == ["Soft launch", "GA"]


def test_loading_again_changes_nothing_and_records_nothing():
    load()
    events = AuditEvent.objects.count()
    definitions = list(GateTemplate.objects.values_list("definitions__pk", "definitions__title"))
    load()
    assert AuditEvent.objects.count() == events
    assert list(GateTemplate.objects.values_list("definitions__pk", "definitions__title")) == definitions


def test_a_changed_data_file_updates_its_template(tmp_path):
    saas, _ = load()
    data = {
        "key": "saas-launch-gates",
        "version": 1,
        "name": "SaaS launch gates",
        "signoff_roles": [],
        "stages": [],
        "gates": [{"code": "T1", "title": "Renamed", "category": "technical", "severity": "low"}],
    }
    template, changed = services.template_load(actor=Actor.system(), data=data)
    assert changed and template.pk == saas.pk
    assert list(template.definitions.values_list("code", "title", "weight")) == [("T1", "Renamed", 1)]


@pytest.mark.parametrize(
    ("gates", "message"),
    [
        ([{"code": "A", "title": "x", "category": "technical"}] * 2, "duplicate gate codes: A"),
        ([{"code": "A", "title": "x", "category": "technical", "severity": "huge"}], "unknown severity"),
        ([{"code": "A", "title": "x", "category": "nowhere"}], "unknown categories nowhere"),
        (
            [{"code": "A", "title": "x", "category": "technical", "check": {"url": "ftp://x", "timeout": 99}}],
            "the check of gate A is not valid",
        ),
    ],
)
def test_bad_template_data_is_refused_with_a_reason_and_writes_nothing(gates, message):
    with pytest.raises(InvalidInput, match=message):
        services.template_load(actor=Actor.system(), data={"key": "bad", "name": "Bad", "gates": gates})
    assert not GateTemplate.objects.filter(key="bad").exists()


def test_unreadable_file_is_a_command_error(tmp_path):
    from django.core.management.base import CommandError

    broken = tmp_path / "broken.toml"
    broken.write_text("key = [unterminated")
    with pytest.raises(CommandError, match="broken.toml: cannot read template"):
        call_command("load_templates", str(broken), verbosity=0)
