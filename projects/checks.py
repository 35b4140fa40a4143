"""Automated HTTP checks of gates: the spec, its validation, setting it, and probing it.

A gate's `check_spec` describes one HTTP probe:

    {"url": "https://api.example.com/health",   # http(s) only
     "expected_status": 200,                      # default 200
     "json_field": "checks.db",                   # optional dotted path into a JSON body
     "json_value": "ok",                          # required with json_field: the value expected there
     "timeout": 5,                                # seconds, 0.1–30, default 5
     "interval_minutes": 5}                       # how often beat probes it, 1–1440, default 5

Each probe is stored as a check result through `services.check_result_record`, which moves the
gate: passed → closed, failed → open.

Probes go through `portal.outbound`, which keeps them off internal addresses and redirects.
"""

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audits.services import Actor, audit_record
from portal.errors import InvalidInput
from portal.outbound import RefusedAddress, outbound_opener, url_address_refusal

from .models import ProjectGate
from .selectors import WRITE

DEFAULT_TIMEOUT = 5.0
DEFAULT_INTERVAL_MINUTES = 5
MAX_BODY_BYTES = 256 * 1024
PROBE_SOURCE = "http-probe"
SPEC_KEYS = ("url", "expected_status", "json_field", "json_value", "timeout", "interval_minutes")
_MISSING = object()


def check_spec_clean(spec):
    """Validate an HTTP check spec and return it normalised (defaults filled in).

    Raises InvalidInput with an error per field, so forms and the API can show them.
    """
    if not isinstance(spec, dict):
        raise InvalidInput(
            "The check must be an object with at least a url.", field_errors={"check_spec": ["Not an object."]}
        )
    errors = {}
    unknown = sorted(set(spec) - set(SPEC_KEYS))
    if unknown:
        errors["check_spec"] = [f"Unknown keys: {', '.join(unknown)}. Allowed: {', '.join(SPEC_KEYS)}."]
    url = spec.get("url")
    try:
        if not isinstance(url, str):
            raise ValidationError("not a string")
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        errors["url"] = ["Enter a full http(s) URL to probe."]
    else:
        refusal = url_address_refusal(url)
        if refusal:
            errors["url"] = [refusal]
    expected = spec.get("expected_status", 200)
    if isinstance(expected, bool) or not isinstance(expected, int) or not 100 <= expected <= 599:
        errors["expected_status"] = ["An HTTP status between 100 and 599."]
    timeout = spec.get("timeout", DEFAULT_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0.1 <= timeout <= 30:
        errors["timeout"] = ["Seconds between 0.1 and 30."]
    interval = spec.get("interval_minutes", DEFAULT_INTERVAL_MINUTES)
    if isinstance(interval, bool) or not isinstance(interval, int) or not 1 <= interval <= 1440:
        errors["interval_minutes"] = ["Whole minutes between 1 and 1440."]
    json_field = spec.get("json_field") or ""
    if not isinstance(json_field, str) or (json_field and not all(json_field.split("."))):
        errors["json_field"] = ['A dotted path such as "status" or "checks.db".']
    if json_field and "json_value" not in spec:
        errors["json_value"] = ["Say which value the JSON field must hold."]
    if errors:
        raise InvalidInput("The HTTP check is not valid.", field_errors=errors)
    cleaned = {
        "url": url,
        "expected_status": expected,
        "timeout": float(timeout),
        "interval_minutes": interval,
    }
    if json_field:
        cleaned["json_field"] = json_field
        cleaned["json_value"] = spec["json_value"]
    return cleaned


def template_check_clean(definition):
    """A template definition's check, validated as `gate_set_check` would, for a new project's gate.

    None when the definition has no check. An invalid one refuses the project (InvalidInput
    naming the gate): copying it would leave a gate that looks automated but can never pass.
    """
    if not definition.check_spec:
        return None
    try:
        return check_spec_clean(definition.check_spec)
    except InvalidInput as exc:
        problems = "; ".join(f"{field}: {' '.join(messages)}" for field, messages in exc.field_errors.items())
        raise InvalidInput(
            f"The template's check of gate {definition.code} is not valid ({problems}). "
            "Fix the template's definition, then create the project again.",
            field_errors={"template": [f"Gate {definition.code}: {problems}"]},
        ) from None


@transaction.atomic
def gate_set_check(*, actor, gate, version, spec):
    """Give a gate an HTTP check (or remove it with spec=None); the gate becomes automated.

    Editors and owners may. The gate's version is checked like any gate write.
    """
    from . import services

    services._require(actor, gate.project, WRITE)
    gate = services._lock_gate(gate, version)
    cleaned = check_spec_clean(spec) if spec is not None else None
    before = {"check_spec": gate.check_spec, "is_automated": gate.is_automated}
    if cleaned == gate.check_spec and gate.is_automated == (cleaned is not None):
        return gate
    gate.check_spec = cleaned
    gate.is_automated = cleaned is not None
    gate.check_probed_at = None
    gate.version += 1
    gate.save()
    audit_record(
        actor=actor,
        action="gate.check_changed",
        project=gate.project,
        obj=gate,
        before=before,
        after={"check_spec": cleaned, "is_automated": gate.is_automated},
    )
    return gate


def _json_lookup(data, path):
    for part in path.split("."):
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return _MISSING
    return data


_opener = outbound_opener()


def http_probe(spec):
    """Probe one spec. Returns (passed, details, data); never raises for network trouble."""
    started = time.monotonic()
    request = urllib.request.Request(
        spec["url"], headers={"User-Agent": "Preflight-Check/1", "Accept": "application/json, */*"}
    )
    status, body, error, refused = None, b"", "", None
    try:
        with _opener.open(request, timeout=spec["timeout"]) as response:
            status = response.status
            body = response.read(MAX_BODY_BYTES)
    except urllib.error.HTTPError as exc:
        status = exc.code
        body = exc.read(MAX_BODY_BYTES) if exc.fp else b""
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        refused = reason if isinstance(reason, RefusedAddress) else None
        error = f"{type(reason).__name__}: {reason}" if not isinstance(reason, str) else reason
    elapsed_ms = round((time.monotonic() - started) * 1000)
    data = {"url": spec["url"], "status": status, "elapsed_ms": elapsed_ms}
    if refused is not None:
        return False, f"Not probed: {refused}.", {**data, "error": error}
    if status is None:
        return False, f"No answer from {spec['url']} ({error or 'no response'}).", {**data, "error": error}
    if status != spec["expected_status"]:
        return False, f"HTTP {status}, expected {spec['expected_status']}.", data
    field = spec.get("json_field")
    if not field:
        return True, f"HTTP {status} in {elapsed_ms} ms.", data
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return False, f"HTTP {status}, but the body is not JSON (needed for {field}).", data
    found = _json_lookup(document, field)
    data["json_value"] = None if found is _MISSING else found
    if found is _MISSING:
        return False, f"HTTP {status}, but the JSON has no field {field}.", data
    if found != spec["json_value"]:
        return False, f"{field} is {json.dumps(found)}, expected {json.dumps(spec['json_value'])}.", data
    return True, f"HTTP {status}, {field} = {json.dumps(found)}.", data


def checks_due(now=None):
    """Ids of automated gates with an HTTP check whose interval has passed (or never probed)."""
    now = now or timezone.now()
    gates = ProjectGate.objects.filter(is_automated=True, check_spec__isnull=False).exclude(
        project__lifecycle="archived"
    )
    never = Q(check_probed_at__isnull=True)
    # Interval per gate lives in JSON; compare in Python over the (few) automated gates.
    due = []
    for pk, spec, probed_at in gates.filter(never | Q(check_probed_at__lte=now)).values_list(
        "pk", "check_spec", "check_probed_at"
    ):
        if not isinstance(spec, dict) or "url" not in spec:
            continue
        interval = timedelta(minutes=spec.get("interval_minutes") or DEFAULT_INTERVAL_MINUTES)
        if probed_at is None or probed_at + interval <= now + timedelta(seconds=5):
            due.append(pk)
    return due


def gate_probe(*, gate_id, now=None):
    """Probe one gate's HTTP check and record the result (idempotent per probing slot).

    The idempotency key names the gate and the interval slot, so a probe task run twice (a
    retried or redelivered message) stores one result, not two.
    """
    from . import services

    now = now or timezone.now()
    gate = ProjectGate.objects.select_related("project").filter(pk=gate_id, is_automated=True).first()
    if gate is None or not isinstance(gate.check_spec, dict):
        return None
    try:
        spec = check_spec_clean(gate.check_spec)
    except InvalidInput as exc:
        # Recorded as a failure, under the same slot key as a probe: run twice, stored once.
        ProjectGate.objects.filter(pk=gate.pk).update(check_probed_at=now)
        return services.check_result_record(
            actor=Actor.system(),
            gate=gate,
            passed=False,
            source=PROBE_SOURCE,
            details=f"The check cannot run: {exc.message} "
            + " ".join(f"{field}: {' '.join(messages)}" for field, messages in exc.field_errors.items()),
            data={"field_errors": exc.field_errors},
            idempotency_key=_probe_key(gate.pk, gate.check_spec.get("interval_minutes"), now),
        )
    passed, details, data = http_probe(spec)
    ProjectGate.objects.filter(pk=gate.pk).update(check_probed_at=now)
    return services.check_result_record(
        actor=Actor.system(),
        gate=gate,
        passed=passed,
        source=PROBE_SOURCE,
        details=details,
        data=data,
        idempotency_key=_probe_key(gate.pk, spec["interval_minutes"], now),
    )


def _probe_key(gate_id, interval_minutes, now):
    """The idempotency key of a gate's probing slot (interval-long windows of time)."""
    if isinstance(interval_minutes, bool) or not isinstance(interval_minutes, int) or not 1 <= interval_minutes <= 1440:
        interval_minutes = DEFAULT_INTERVAL_MINUTES
    slot = int(now.timestamp()) // (interval_minutes * 60)
    return f"probe:{gate_id}:{slot}"


__all__ = [
    "PROBE_SOURCE",
    "check_spec_clean",
    "checks_due",
    "gate_probe",
    "gate_set_check",
    "http_probe",
    "template_check_clean",
]
