"""Writes to the gate catalog: built-in templates loaded from data files, categories."""

import tomllib
from pathlib import Path

from django.db import transaction
from django.utils.text import slugify

from audits.services import audit_record
from portal.errors import InvalidInput
from projects import readiness

from .models import Category, GateDefinition, GateTemplate

BUILTIN_TEMPLATE_DIR = Path(__file__).resolve().parent / "templates_data"
DEFINITION_FIELDS = (
    "title",
    "category_id",
    "severity",
    "weight",
    "guidance",
    "verification",
    "evidence_valid_days",
    "stage_order",
    "check_spec",
    "order",
)


def category_get_or_create(*, actor, name, key=""):
    """The category for a heading or key: an existing one by key or name, else a new custom one."""
    key = slugify(key or name)[:50] or "general"
    category = Category.objects.filter(key=key).first() or Category.objects.filter(name__iexact=name).first()
    if category is not None:
        return category
    with transaction.atomic():
        category = Category.objects.create(key=key, name=name.strip()[:100] or key, order=200)
        audit_record(actor=actor, action="category.created", obj=category, after={"key": key, "name": category.name})
    return category


def _validate_template_data(data, source):
    errors = []
    for field in ("key", "name", "gates"):
        if not data.get(field):
            errors.append(f"missing '{field}'")
    codes = [g.get("code") for g in data.get("gates", [])]
    duplicates = sorted({c for c in codes if codes.count(c) > 1})
    if duplicates:
        errors.append(f"duplicate gate codes: {', '.join(duplicates)}")
    for gate in data.get("gates", []):
        if gate.get("severity", readiness.MEDIUM) not in readiness.SEVERITIES:
            errors.append(f"gate {gate.get('code')}: unknown severity {gate.get('severity')!r}")
        if not gate.get("code") or not gate.get("title") or not gate.get("category"):
            errors.append(f"gate {gate.get('code') or '?'}: needs code, title and category")
    if errors:
        raise InvalidInput(f"{source}: " + "; ".join(errors))


@transaction.atomic
def template_load(*, actor, data, source="template", builtin=True):
    """Create or update a template (by key and version) from plain data; idempotent.

    Returns (template, changed). Definitions are matched by code: new ones are added, changed
    ones updated, and ones no longer in the data removed (projects keep their copies).
    """
    _validate_template_data(data, source)
    for spec in data.get("categories", []):
        Category.objects.get_or_create(
            key=spec["key"],
            defaults={
                "name": spec["name"],
                "order": spec.get("order", 200),
                "description": spec.get("description", ""),
            },
        )
    categories = {c.key: c for c in Category.objects.all()}
    missing = sorted({g["category"] for g in data["gates"]} - set(categories))
    if missing:
        raise InvalidInput(f"{source}: unknown categories {', '.join(missing)} (declare them under [[categories]])")

    fields = {
        "name": data["name"],
        "description": data.get("description", ""),
        "is_builtin": builtin,
        "signoff_roles": list(data.get("signoff_roles", [])),
        "stages": list(data.get("stages", [])),
    }
    template = GateTemplate.objects.select_for_update().filter(key=data["key"], version=data.get("version", 1)).first()
    changed = template is None
    if template is None:
        template = GateTemplate.objects.create(key=data["key"], version=data.get("version", 1), **fields)
    elif any(getattr(template, f) != v for f, v in fields.items()):
        for f, v in fields.items():
            setattr(template, f, v)
        template.save()
        changed = True

    existing = {d.code: d for d in template.definitions.all()}
    for order, spec in enumerate(data["gates"]):
        severity = spec.get("severity", readiness.MEDIUM)
        values = {
            "title": spec["title"],
            "category_id": categories[spec["category"]].pk,
            "severity": severity,
            "weight": spec.get("weight") or readiness.default_weight(severity),
            "guidance": spec.get("guidance", ""),
            "verification": spec.get("verification", ""),
            "evidence_valid_days": spec.get("evidence_valid_days"),
            "stage_order": spec.get("stage"),
            "check_spec": _template_check(source, spec),
            "order": order,
        }
        definition = existing.pop(spec["code"], None)
        if definition is None:
            GateDefinition.objects.create(template=template, code=spec["code"], **values)
            changed = True
        elif any(getattr(definition, f) != values[f] for f in DEFINITION_FIELDS):
            for f, v in values.items():
                setattr(definition, f, v)
            definition.save()
            changed = True
    if existing:
        GateDefinition.objects.filter(pk__in=[d.pk for d in existing.values()]).delete()
        changed = True
    if changed:
        audit_record(
            actor=actor,
            action="template.loaded",
            obj=template,
            after={"key": template.key, "version": template.version, "gates": len(data["gates"]), "source": source},
        )
    return template, changed


def _template_check(source, spec):
    """A gate's check, validated like one set on a gate: a bad one refuses the template."""
    from projects.checks import check_spec_clean

    if not spec.get("check"):
        return None
    try:
        return check_spec_clean(spec["check"])
    except InvalidInput as exc:
        problems = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.field_errors.items())
        raise InvalidInput(f"{source}: the check of gate {spec['code']} is not valid ({problems})") from None


def template_load_file(*, actor, path):
    """Load one TOML template file (see gates/templates_data/ for the format)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InvalidInput(f"{path.name}: cannot read template: {exc}") from exc
    return template_load(actor=actor, data=data, source=path.name)


def template_load_builtins(*, actor):
    """Load every built-in template file; returns [(template, changed)]."""
    return [template_load_file(actor=actor, path=p) for p in sorted(BUILTIN_TEMPLATE_DIR.glob("*.toml"))]


@transaction.atomic
def catalog_save(*, actor, obj, changed_fields=()):
    """Save a catalog object (category, template, definition) edited in the back office, audited."""
    created = obj.pk is None
    obj.full_clean()
    obj.save()
    audit_record(
        actor=actor,
        action=f"{obj._meta.model_name}.{'created' if created else 'updated'}",
        obj=obj,
        after={f: str(getattr(obj, f)) for f in changed_fields} or None,
    )
    return obj


@transaction.atomic
def catalog_delete(*, actor, obj):
    """Delete a catalog object from the back office, audited (projects keep their gate copies)."""
    audit_record(actor=actor, action=f"{obj._meta.model_name}.deleted", obj=obj, before={"repr": str(obj)})
    obj.delete()
