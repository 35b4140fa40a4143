"""What every endpoint under /api/v1/ shares: authentication, scopes, the actor, project access,
the one JSON error shape and throttling.

Error shape (every 4xx, and the rare 5xx):

    {"status": 412, "code": "precondition_failed", "message": "…", "fields": {"status": ["…"]},
     "current": {…}}          # only for 409/412 when the current state helps the caller

Scopes: a token's scope grants `read`, `write` (read + write) or `signoff` (read + sign-offs);
a view declares what it needs with `required_scope` (default: read for safe methods, write
otherwise). Session-authenticated requests (the UI's own calls) are bound by the user's project
rights only, and keep CSRF protection.
"""

import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent
from django.core.paginator import Page, Paginator
from django.db import DataError, IntegrityError
from django.db.models import Count, Window
from django.http import Http404, JsonResponse
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions, filters, permissions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.authentication import SessionAuthentication as _DRFSessionAuthentication
from rest_framework.pagination import CursorPagination, PageNumberPagination
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle

from audits.models import Channel
from audits.services import Actor
from portal.errors import Conflict, DomainError, StaleVersion
from projects.selectors import OWN, project_get_with_membership, project_list_for_user, user_can
from projects.selectors import WRITE as WRITE_ACCESS
from tokens.models import ApiToken
from tokens.services import token_authenticate

log = logging.getLogger(__name__)

READ, WRITE, SIGNOFF = "read", "write", "signoff"


# --- authentication ----------------------------------------------------------------------------


class TokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer pf_…` (or `Token pf_…`). Only the token's SHA-256 is looked up."""

    keywords = (b"bearer", b"token")

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() not in self.keywords:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Send the token as `Authorization: Bearer <token>`.")
        try:
            raw = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("The token is not valid.") from None
        token = token_authenticate(raw)
        if token is None:
            refuse_throttled_anonymous(request)  # guessing tokens counts against the client's address
            raise exceptions.AuthenticationFailed("The token is not valid, has expired or was revoked.")
        return token.user, token

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


# The UI's own calls: the logged-in session, with CSRF enforced on unsafe methods.
SessionAuthentication = _DRFSessionAuthentication


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "portal.api_common.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal API token: `Authorization: Bearer pf_…`.",
        }


def request_token(request):
    """The ApiToken of the request, or None for a session."""
    auth = getattr(request, "auth", None)
    return auth if isinstance(auth, ApiToken) else None


# --- permissions -------------------------------------------------------------------------------


def required_scope(request, view):
    declared = getattr(view, "required_scope", None)
    if isinstance(declared, dict):
        declared = declared.get(request.method)
    if declared:
        return declared
    return READ if request.method in permissions.SAFE_METHODS else WRITE


class ScopePermission(permissions.BasePermission):
    """An authenticated user; with a token, one whose scope grants what the view needs."""

    message = "This token's scope does not allow this request."

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated):
            refuse_throttled_anonymous(request)
            return False
        token = request_token(request)
        if token is None:
            return True
        need = required_scope(request, view)
        if token.grants(need):
            return True
        self.message = f"This token has the “{token.scope}” scope; this request needs “{need}”."
        return False


# --- actor and project access ------------------------------------------------------------------


def api_actor(request):
    """The audits Actor of an API request: the user, on the API channel, with the token's prefix."""
    token = request_token(request)
    return Actor(request.user, Channel.API, token_label=token.prefix if token else "")


def _token_allows(request, project_id):
    token = request_token(request)
    if token is None:
        return True
    allowed = token.allowed_project_ids()
    return allowed is None or project_id in allowed


def api_project_get(request, slug, write=False, own=False, queryset=None):
    """A project the request may see (404 otherwise, also outside a token's project limits);
    403 when it may see but not write (or own)."""
    project = project_get_with_membership(request.user, slug, queryset=queryset)
    if not _token_allows(request, project.pk):
        raise Http404("No such project.")
    if own and not user_can(request.user, project, OWN):
        raise PermissionDenied("Only the project's owners may do this.")
    if write and not user_can(request.user, project, WRITE_ACCESS):
        raise PermissionDenied("You may view this project but not change it.")
    return project


def api_project_list(request, *, include_archived=True):
    """The projects the request may see, narrowed to the token's project limits."""
    qs = project_list_for_user(request.user, include_archived=include_archived)
    token = request_token(request)
    if token is not None and token.allowed_project_ids() is not None:
        qs = qs.filter(pk__in=token.allowed_project_ids())
    return qs


# --- errors ------------------------------------------------------------------------------------

_CODES = {
    400: "invalid",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    412: "precondition_failed",
    413: "content_too_large",
    415: "unsupported_media_type",
    428: "precondition_required",
    429: "throttled",
    500: "server_error",
}


def error_body(status_code, message, *, fields=None, code=None, **extra):
    body = {
        "status": status_code,
        "code": code or _CODES.get(status_code, "error"),
        "message": str(message),
        "fields": fields or {},
    }
    body.update(extra)
    return body


def error_response(status_code, message, *, fields=None, code=None, headers=None, **extra):
    return Response(
        error_body(status_code, message, fields=fields, code=code, **extra), status=status_code, headers=headers
    )


class PreconditionRequired(exceptions.APIException):
    status_code = 428
    default_detail = "Send an If-Match header with the ETag you last read."
    default_code = "precondition_required"

    def __init__(self, detail=None, *, fields=None):
        super().__init__(detail)
        self.fields = fields or {}


class PreconditionFailed(exceptions.APIException):
    status_code = 412
    default_detail = "The resource changed since you read it; nothing was saved."
    default_code = "precondition_failed"

    def __init__(self, detail=None, *, current=None, fields=None, etag=None):
        super().__init__(detail)
        self.current = current
        self.fields = fields or {}
        self.etag = etag


def _flatten(detail):
    """DRF's nested error detail → {field: [messages]} plus a top-level message."""
    if isinstance(detail, dict):
        fields = {}
        for key, value in detail.items():
            if isinstance(value, dict):
                for sub, messages in _flatten(value)[1].items():
                    fields[f"{key}.{sub}"] = messages
            elif isinstance(value, list):
                messages = []
                for i, item in enumerate(value):
                    if isinstance(item, dict):
                        for sub, msgs in _flatten(item)[1].items():
                            fields[f"{key}[{i}].{sub}"] = msgs
                    else:
                        messages.append(str(item))
                if messages:
                    fields[key] = messages
            else:
                fields[key] = [str(value)]
        general = fields.pop("non_field_errors", None)
        message = general[0] if general else "The request has invalid fields."
        return message, fields
    if isinstance(detail, list):
        return (str(detail[0]) if detail else "Invalid request."), {}
    return str(detail), {}


def _current(view, obj):
    """The current state of a conflicting object, as the view would render it."""
    render = getattr(view, "render_current", None)
    if obj is None or render is None:
        return None
    return render(obj)


def api_exception_handler(exc, context):
    """Map every error raised by an API view to the one JSON shape."""
    view = context.get("view")
    if isinstance(exc, StaleVersion):
        etag = getattr(view, "current_etag", None)
        headers = {"ETag": etag(exc.current)} if etag and exc.current is not None else None
        return error_response(
            412, exc.message, fields=exc.field_errors, current=_current(view, exc.current), headers=headers
        )
    if isinstance(exc, Conflict):
        extra = {}
        if exc.current is not None:
            extra["current"] = _current(view, exc.current)
        return error_response(409, exc.message, fields=exc.field_errors, **extra)
    if isinstance(exc, DomainError):
        return error_response(exc.status_code, exc.message, fields=exc.field_errors)
    if isinstance(exc, Http404):
        return error_response(404, str(exc) or "Not found.")
    if isinstance(exc, PermissionDenied):
        return error_response(403, str(exc) or "You may not do this.")
    if isinstance(exc, PreconditionFailed):
        headers = {"ETag": exc.etag} if exc.etag else None
        return error_response(412, exc.detail, fields=exc.fields, current=exc.current, headers=headers)
    if isinstance(exc, PreconditionRequired):
        return error_response(428, exc.detail, fields=exc.fields)
    if isinstance(exc, exceptions.ValidationError):
        message, fields = _flatten(exc.detail)
        return error_response(400, message, fields=fields)
    if isinstance(exc, exceptions.APIException):
        headers = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            headers["Retry-After"] = str(max(1, int(exc.wait + 0.999)))
        message, fields = _flatten(exc.detail)
        return error_response(exc.status_code, message, fields=fields, headers=headers)
    if isinstance(exc, DataError):
        # A value the database cannot store (out of range, bad text): the caller's input, not our fault.
        log.info("API input refused by the database: %s", exc)
        return error_response(400, "A value in the request cannot be stored (out of range or invalid text).")
    if isinstance(exc, RequestDataTooBig):
        # Django refuses to read a body over DATA_UPLOAD_MAX_MEMORY_SIZE: the caller's doing.
        _security_log(exc)
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return error_response(413, f"The request body is larger than the {limit} bytes allowed; nothing was read.")
    if isinstance(exc, SuspiciousOperation):
        # TooManyFieldsSent (over DATA_UPLOAD_MAX_NUMBER_FIELDS query or form parameters) and the
        # like: input Django refuses to read. A 400, as Django itself answers outside the API.
        _security_log(exc)
        if isinstance(exc, TooManyFieldsSent):
            limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
            return error_response(400, f"Too many query or form parameters; at most {limit} are read.")
        return error_response(400, "The request was refused as malformed.")
    if isinstance(exc, IntegrityError):
        # A concurrent write won a uniqueness race: the caller may retry.
        log.info("API write lost a race: %s", exc)
        return error_response(409, "This clashes with a concurrent change; reload and try again.")
    log.exception("Unhandled error in an API view", exc_info=exc)
    return error_response(500, "Something went wrong on our side; it has been logged.")


def _security_log(exc):
    """Log a refused suspicious request where Django logs its own (`django.security.<Name>`)."""
    logging.getLogger(f"django.security.{type(exc).__name__}").warning("API request refused: %s", exc)


def api_not_found(request, *args, **kwargs):
    """404 for any unknown URL under /api/v1/, in the same JSON shape."""
    return JsonResponse(error_body(404, "No such API endpoint."), status=404)


# --- parsing -----------------------------------------------------------------------------------

JSON_MAX_DEPTH = 32


def _json_depth_exceeds(data, limit):
    """Whether arrays/objects nest deeper than `limit` (iterative: a deep value cannot overflow it)."""
    pending = [(data, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


class SafeJSONParser(JSONParser):
    """DRF's JSON parser, refusing input nested too deeply with a 400 instead of a 500.

    The C decoder raises RecursionError (not ValueError, which is all DRF catches) on a few
    thousand nested brackets; anything deeper than JSON_MAX_DEPTH but still decodable would only
    overflow later, in validation, storage or rendering.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        message = f"JSON parse error - arrays and objects may nest at most {JSON_MAX_DEPTH} levels deep."
        try:
            data = super().parse(stream, media_type=media_type, parser_context=parser_context)
        except RecursionError:
            raise exceptions.ParseError(message) from None
        if _json_depth_exceeds(data, JSON_MAX_DEPTH):
            raise exceptions.ParseError(message)
        return data


# --- throttling --------------------------------------------------------------------------------


class _FailOpenThrottle(SimpleRateThrottle):
    """A throttle that lets requests through when the shared cache is unreachable."""

    def allow_request(self, request, view):
        try:
            return super().allow_request(request, view)
        except Exception:  # the cache (Redis) is down: serving beats refusing everybody
            log.warning("Throttle cache unavailable; request let through.", exc_info=True)
            return True


class TokenRateThrottle(_FailOpenThrottle):
    """Per token (or per user for session calls)."""

    scope = "token"

    def get_cache_key(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return None
        token = request_token(request)
        ident = f"t{token.pk}" if token is not None else f"u{request.user.pk}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


class AnonClientRateThrottle(_FailOpenThrottle):
    """Per anonymous client address: requests without credentials and with bad tokens.

    Authentication and permission run before throttles in DRF, so a refused anonymous request
    would never reach this throttle; `refuse_throttled_anonymous` counts those explicitly.
    """

    scope = "anon"
    anonymous = False  # set when the caller already knows the request is anonymous

    def get_cache_key(self, request, view):
        if not self.anonymous and request.user and request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


def refuse_throttled_anonymous(request):
    """Count an anonymous (or badly authenticated) request; 429 once the client is over its rate."""
    throttle = AnonClientRateThrottle()
    throttle.anonymous = True
    if not throttle.allow_request(request, None):
        raise exceptions.Throttled(wait=throttle.wait())


# --- ordering ----------------------------------------------------------------------------------


class StrictOrderingFilter(filters.OrderingFilter):
    """DRF's `?ordering=`, refusing a field it cannot sort by with a 400 instead of ignoring it
    (as every filter refuses a value it cannot use)."""

    def remove_invalid_fields(self, queryset, fields, view, request):
        valid = super().remove_invalid_fields(queryset, fields, view, request)
        invalid = [term for term in fields if term not in valid]
        if invalid:
            names = sorted(name for name, _ in self.get_valid_fields(queryset, view, {"request": request}))
            raise exceptions.ValidationError(
                {
                    self.ordering_param: [
                        f"Cannot sort by {', '.join(repr(t) for t in invalid)}. "
                        f"Sort by {', '.join(names) or 'nothing here'} (prefix - for descending)."
                    ]
                }
            )
        return valid


# --- pagination --------------------------------------------------------------------------------


class PagePagination(PageNumberPagination):
    """Numbered pages (default 50, at most 100) whose total comes with the rows.

    The count is a window function over the filtered rows, read from the page's first row, so a
    page costs one query instead of COUNT plus SELECT; only an empty page asks COUNT separately.
    """

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 100
    max_page_number = 10**7  # beyond any real list, and keeps OFFSET within the database's range

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        page_size = self.get_page_size(request)
        if not page_size:
            return None
        raw = request.query_params.get(self.page_query_param) or "1"
        if raw in self.last_page_strings:
            count = queryset.count()
            number = max(1, -(-count // page_size))
        else:
            try:
                number = int(raw)
            except ValueError:
                number = 0
            if not 1 <= number <= self.max_page_number:
                raise exceptions.NotFound(self.invalid_page_message)
        offset = (number - 1) * page_size
        rows = list(queryset.annotate(_page_total=Window(Count("pk")))[offset : offset + page_size])
        if rows:
            first = rows[0]
            count = first["_page_total"] if isinstance(first, dict) else first._page_total
        elif number > 1:
            raise exceptions.NotFound(self.invalid_page_message)
        else:
            count = 0
        paginator = Paginator([], page_size)
        paginator.__dict__["count"] = count  # the cached property, known already
        self.page = Page(rows, number, paginator)
        return rows


class AuditCursorPagination(CursorPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 100
    ordering = "-id"


def etag_value(header):
    """The opaque value inside an If-Match / If-None-Match header entry ('W/"3"' → '3')."""
    value = (header or "").strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"')


def entity_tags(header):
    """The entries of an If-Match / If-None-Match header as (weak, opaque value) pairs.

    'W/"3", "4"' → [(True, "3"), (False, "4")]; the wildcard `*` → (False, None). Unquoted values
    are taken as they come ('3' → (False, "3")), as clients often send them.
    """
    tags = []
    for part in (header or "").split(","):
        part = part.strip()
        if part == "*":
            tags.append((False, None))
        elif part:
            tags.append((part.startswith("W/"), etag_value(part)))
    return tags


__all__ = [
    "READ",
    "SIGNOFF",
    "WRITE",
    "AnonClientRateThrottle",
    "AuditCursorPagination",
    "PagePagination",
    "PreconditionFailed",
    "PreconditionRequired",
    "SafeJSONParser",
    "ScopePermission",
    "SessionAuthentication",
    "StrictOrderingFilter",
    "TokenAuthentication",
    "TokenRateThrottle",
    "api_actor",
    "api_exception_handler",
    "api_not_found",
    "api_project_get",
    "api_project_list",
    "error_body",
    "error_response",
    "entity_tags",
    "etag_value",
    "refuse_throttled_anonymous",
    "request_token",
    "schema_error_responses",
]


# --- schema ------------------------------------------------------------------------------------

ERROR_SCHEMA = {
    "type": "object",
    "description": "The one error shape of every 4xx (and 5xx) answer.",
    "required": ["status", "code", "message", "fields"],
    "properties": {
        "status": {"type": "integer", "description": "The HTTP status, repeated."},
        "code": {"type": "string", "description": "Stable machine-readable code, e.g. precondition_failed."},
        "message": {"type": "string", "description": "What went wrong, for people."},
        "fields": {
            "type": "object",
            "description": "Messages per input field (or header / query parameter).",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
        "current": {
            "type": "object",
            "nullable": True,
            "additionalProperties": True,
            "description": "On 409/412: the current state of the object the write clashed with.",
        },
    },
}

_DEFAULT_ERRORS = {
    "400": "Invalid input or query parameters; `fields` says which.",
    "401": "No valid credentials (send `Authorization: Bearer <token>`).",
    "403": "The user or the token's scope may not do this.",
    "404": "No such object, or not visible to this user or token.",
    "429": "Too many requests; retry after the number of seconds in `Retry-After`.",
}
_WRITE_ERRORS = {
    "413": "The request body is larger than the server reads (DATA_UPLOAD_MAX_MEMORY_SIZE, 2.5 MB by default).",
    "415": "Send JSON (`Content-Type: application/json`).",
}


# Integer limits that come from the database backend's column types (they differ between SQLite
# and PostgreSQL), not from the API: left out so the schema is the same on every backend.
_BACKEND_INT_LIMITS = {2**15 - 1, 2**31 - 1, 2**63 - 1, -(2**15), -(2**31), -(2**63)}


def _drop_backend_limits(node):
    if isinstance(node, dict):
        if node.get("type") == "integer":
            if node.get("maximum") in _BACKEND_INT_LIMITS:
                del node["maximum"]
                if node.get("format") == "int64":
                    del node["format"]
            if node.get("minimum") in _BACKEND_INT_LIMITS:
                del node["minimum"]
        for value in node.values():
            _drop_backend_limits(value)
    elif isinstance(node, list):
        for value in node:
            _drop_backend_limits(value)


def schema_error_responses(result, generator, request, public):
    """drf-spectacular post-processing: every operation documents the error shape for its 4xx,
    and no integer carries a limit that only reflects the database backend."""
    _drop_backend_limits(result)
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    content = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            responses = operation.setdefault("responses", {})
            defaults = {**_DEFAULT_ERRORS, **(_WRITE_ERRORS if method in ("post", "put", "patch") else {})}
            for code, description in defaults.items():
                responses.setdefault(code, {"description": description})
            for code, response in responses.items():
                if code[0] in "45" and "content" not in response:
                    response["content"] = content
    return result
