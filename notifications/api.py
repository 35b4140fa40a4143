"""/api/v1/ endpoints of notifications, preferences, webhooks and snapshot diffs.

Thin like every API view: access through `portal.api_common`, one service call per write, the one
error shape from its exception handler.
"""

from django.db.models import Q
from django.http import Http404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.response import Response

from audits import diff
from audits.diff_views import diff_sides
from portal.api_common import api_actor, api_project_get, request_token
from projects.api_filters import CachedFormFilterSet, StrictBooleanFilter
from projects.api_gates import GATE_WRITE_ERRORS, IF_MATCH, GateViewMixin, gate_etag
from projects.checks import gate_set_check
from projects.selectors import gate_get

from . import selectors, services, webhooks
from .models import Delivery, Kind, Notification, NotificationPreference, WebhookDelivery, WebhookSubscription

SLUG = OpenApiParameter("slug", str, OpenApiParameter.PATH, description="Project slug.")
ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="Webhook id.")
ERRORS = {
    400: OpenApiResponse(description="Invalid input (the one error shape, with field messages)."),
    403: OpenApiResponse(description="Not allowed for this user or token scope."),
    404: OpenApiResponse(description="No such project or object (or not visible to this user or token)."),
}


# --- serializers -------------------------------------------------------------------------------


class NotificationSerializer(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    is_read = serializers.BooleanField(read_only=True)

    class Meta:
        model = Notification
        fields = ["id", "kind", "title", "body", "url", "project", "created_at", "read_at", "is_read"]


class MarkReadSerializer(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        allow_empty=True,
        help_text="Notifications to mark read; leave out to mark all of them.",
    )


class PreferenceSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Kind.choices)
    label = serializers.CharField(read_only=True)
    delivery = serializers.ChoiceField(choices=Delivery.choices)


class WebhookSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookSubscription
        fields = [
            "id",
            "url",
            "events",
            "description",
            "is_active",
            "consecutive_failures",
            "disabled_at",
            "disabled_reason",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class WebhookWithSecretSerializer(WebhookSerializer):
    class Meta(WebhookSerializer.Meta):
        fields = [*WebhookSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class WebhookInputSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=500)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=sorted(webhooks.EVENTS)), allow_empty=False, max_length=50
    )
    description = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    secret = serializers.CharField(
        min_length=16, max_length=100, required=False, help_text="Leave out to have one generated."
    )


class WebhookUpdateSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=500, required=False)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=sorted(webhooks.EVENTS)), allow_empty=False, required=False
    )
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    is_active = serializers.BooleanField(required=False)


class DeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "delivery_id",
            "event",
            "status",
            "attempts",
            "last_status_code",
            "last_error",
            "next_attempt_at",
            "created_at",
            "delivered_at",
            "log",
        ]


def _validated(serializer_class, data, **kwargs):
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


# --- notifications -----------------------------------------------------------------------------


def _notifications(request):
    qs = selectors.notifications_for_user(request.user)
    token = request_token(request)
    allowed = token.allowed_project_ids() if token is not None else None
    if allowed is not None:  # a token limited to some projects sees nothing of the others
        qs = qs.filter(Q(project__isnull=True) | Q(project_id__in=allowed))
    return qs


class NotificationFilter(CachedFormFilterSet):
    unread = StrictBooleanFilter(
        field_name="read_at", lookup_expr="isnull", help_text="true: only unread notifications; false: only read ones."
    )

    class Meta:
        model = Notification
        fields = ["unread"]


@extend_schema(tags=["notifications"])
class NotificationListView(generics.ListAPIView):
    """The caller's notifications, newest first."""

    serializer_class = NotificationSerializer
    queryset = Notification.objects.none()  # the schema's model; requests use get_queryset
    filter_backends = [DjangoFilterBackend]
    filterset_class = NotificationFilter

    def get_queryset(self):
        return _notifications(self.request)


@extend_schema(tags=["notifications"])
class NotificationReadView(generics.GenericAPIView):
    serializer_class = MarkReadSerializer

    @extend_schema(
        request=MarkReadSerializer,
        responses={
            200: inline_serializer(
                "MarkReadResult", {"marked": serializers.IntegerField(), "unread": serializers.IntegerField()}
            ),
            **ERRORS,
        },
    )
    def post(self, request):
        """Mark notifications read (the ids given, or all); returns how many, and how many are left."""
        data = _validated(MarkReadSerializer, request.data)
        ids = data.get("ids")
        if ids is not None:
            ids = list(_notifications(request).filter(pk__in=ids).values_list("pk", flat=True))
        marked = services.notification_mark_read(user=request.user, ids=ids)
        return Response({"marked": marked, "unread": _notifications(request).filter(read_at__isnull=True).count()})


@extend_schema(tags=["notifications"])
class PreferenceView(generics.GenericAPIView):
    serializer_class = PreferenceSerializer
    queryset = NotificationPreference.objects.none()  # the schema's model
    pagination_class = None

    def _table(self, request):
        return [{"kind": k, "label": label, "delivery": d} for k, label, d in services.preference_table(request.user)]

    @extend_schema(responses={200: PreferenceSerializer(many=True)})
    def get(self, request):
        """Every kind of notification with the caller's choice: immediate, daily or off."""
        return Response(self._table(request))

    @extend_schema(request=PreferenceSerializer(many=True), responses={200: PreferenceSerializer(many=True), **ERRORS})
    def put(self, request):
        """Set choices: a list of {kind, delivery}; kinds left out keep their choice."""
        rows = _validated(PreferenceSerializer, request.data, many=True)
        services.preferences_set(user=request.user, choices={r["kind"]: r["delivery"] for r in rows})
        return Response(self._table(request))


# --- webhooks ----------------------------------------------------------------------------------


@extend_schema(tags=["webhooks"], parameters=[SLUG])
class WebhookListView(generics.ListAPIView):
    """The project's webhook subscriptions (owners). Secrets are shown on creation and rotation only."""

    serializer_class = WebhookSerializer
    queryset = WebhookSubscription.objects.none()
    filter_backends = []

    def get_queryset(self):
        return selectors.webhooks_for_project(api_project_get(self.request, self.kwargs["slug"], own=True))

    @extend_schema(request=WebhookInputSerializer, responses={201: WebhookWithSecretSerializer, **ERRORS})
    def post(self, request, slug):
        """Subscribe a receiver URL to events of the project (owners)."""
        project = api_project_get(request, slug, own=True)
        data = _validated(WebhookInputSerializer, request.data)
        subscription = webhooks.webhook_subscription_create(actor=api_actor(request), project=project, **data)
        return Response(WebhookWithSecretSerializer(subscription).data, status=status.HTTP_201_CREATED)


def _webhook(request, slug, id):
    return selectors.webhook_get(api_project_get(request, slug, own=True), id)


@extend_schema(tags=["webhooks"], parameters=[SLUG, ID])
class WebhookDetailView(generics.GenericAPIView):
    serializer_class = WebhookSerializer

    def get(self, request, slug, id):
        return Response(WebhookSerializer(_webhook(request, slug, id)).data)

    @extend_schema(request=WebhookUpdateSerializer, responses={200: WebhookSerializer, **ERRORS})
    def patch(self, request, slug, id):
        """Change the URL, events, description, or enable/disable (re-enabling clears the failures)."""
        subscription = _webhook(request, slug, id)
        data = _validated(WebhookUpdateSerializer, request.data)
        subscription = webhooks.webhook_subscription_update(actor=api_actor(request), subscription=subscription, **data)
        return Response(WebhookSerializer(subscription).data)

    @extend_schema(responses={204: None, **ERRORS})
    def delete(self, request, slug, id):
        webhooks.webhook_subscription_delete(actor=api_actor(request), subscription=_webhook(request, slug, id))
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["webhooks"], parameters=[SLUG, ID])
class WebhookRotateSecretView(generics.GenericAPIView):
    serializer_class = WebhookWithSecretSerializer

    @extend_schema(request=None, responses={200: WebhookWithSecretSerializer, **ERRORS})
    def post(self, request, slug, id):
        """Replace the signing secret; the new one is in the answer (and only there)."""
        subscription = webhooks.webhook_subscription_update(
            actor=api_actor(request), subscription=_webhook(request, slug, id), rotate_secret=True
        )
        return Response(WebhookWithSecretSerializer(subscription).data)


@extend_schema(tags=["webhooks"], parameters=[SLUG, ID])
class WebhookTestView(generics.GenericAPIView):
    serializer_class = DeliverySerializer

    @extend_schema(request=None, responses={202: DeliverySerializer, **ERRORS})
    def post(self, request, slug, id):
        """Queue a signed `webhook.test` delivery to the receiver."""
        delivery = webhooks.webhook_send_test(actor=api_actor(request), subscription=_webhook(request, slug, id))
        delivery.refresh_from_db()
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


@extend_schema(tags=["webhooks"], parameters=[SLUG, ID])
class WebhookDeliveryListView(generics.ListAPIView):
    """The delivery log of one webhook, newest first: status codes, attempts, next attempt."""

    serializer_class = DeliverySerializer
    queryset = WebhookDelivery.objects.none()
    filter_backends = []

    def get_queryset(self):
        subscription = _webhook(self.request, self.kwargs["slug"], self.kwargs["id"])
        return selectors.deliveries_for_webhook(subscription, limit=None)  # unsliced: the view pages it


# --- sign-off requests -------------------------------------------------------------------------


@extend_schema(tags=["signoffs"], parameters=[SLUG])
class SignOffRequestView(generics.GenericAPIView):
    serializer_class = None

    @extend_schema(
        request=None,
        responses={200: inline_serializer("SignOffRequestResult", {"asked": serializers.ListField()}), **ERRORS},
    )
    def post(self, request, slug):
        """Ask the holders of the missing or stale sign-off roles of the current stage (owners)."""
        project = api_project_get(request, slug, own=True)
        return Response({"asked": services.signoff_request(actor=api_actor(request), project=project)})


# --- snapshot diffs ----------------------------------------------------------------------------


class DiffGateSerializer(serializers.Serializer):
    code = serializers.CharField()
    title = serializers.CharField()
    before = serializers.CharField(allow_null=True)
    after = serializers.CharField(allow_null=True)
    before_stale = serializers.BooleanField()
    after_stale = serializers.BooleanField()


class DiffSideSerializer(serializers.Serializer):
    id = serializers.IntegerField(allow_null=True, help_text="null: the live state")
    kind = serializers.CharField()
    taken_at = serializers.DateTimeField()
    stage = serializers.CharField()
    score = serializers.FloatField()
    verdict = serializers.CharField()
    state_hash = serializers.CharField()


class DiffSerializer(serializers.Serializer):
    a = DiffSideSerializer()
    b = DiffSideSerializer()
    score = inline_serializer(
        "DiffScore",
        {"before": serializers.FloatField(), "after": serializers.FloatField(), "delta": serializers.FloatField()},
    )
    verdict = inline_serializer(
        "DiffVerdict",
        {"before": serializers.CharField(), "after": serializers.CharField(), "changed": serializers.BooleanField()},
    )
    gates_moved = DiffGateSerializer(many=True)
    gates_added = DiffGateSerializer(many=True)
    gates_removed = DiffGateSerializer(many=True)
    reasons_added = serializers.ListField(child=serializers.CharField())
    reasons_removed = serializers.ListField(child=serializers.CharField())
    signoffs_changed = serializers.ListField(child=serializers.DictField())
    events = serializers.ListField(child=serializers.DictField(), help_text="Who changed what between A and B.")
    events_total = serializers.IntegerField()


@extend_schema(
    tags=["history"],
    parameters=[
        SLUG,
        OpenApiParameter("a", int, description="The older snapshot's id."),
        OpenApiParameter("b", int, description="The newer snapshot's id; leave out to compare with now."),
        OpenApiParameter(
            "since", str, enum=["signoff", "week"], description="Instead of a: my last sign-off, or a week ago."
        ),
    ],
)
class SnapshotDiffView(generics.GenericAPIView):
    serializer_class = DiffSerializer

    @extend_schema(responses={200: DiffSerializer, **ERRORS})
    def get(self, request, slug):
        """What changed between snapshot A and B: gates that moved, score and verdict, who changed what."""
        project = api_project_get(request, slug)
        params = request.query_params
        for name in ("a", "b"):
            if params.get(name) and not params[name].isdigit():
                raise serializers.ValidationError({name: ["A snapshot id (a whole number)."]})
        if params.get("since") and params["since"] not in ("signoff", "week"):
            raise serializers.ValidationError({"since": ["signoff or week."]})
        a, b, note = diff_sides(project, request.user, params)
        if a is None:
            raise Http404(note)
        return Response(diff.snapshot_diff(project, a, b).to_dict())


# --- HTTP checks of gates ----------------------------------------------------------------------


class CheckSpecSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=500, help_text="The http(s) URL to probe.")
    expected_status = serializers.IntegerField(required=False, help_text="Default 200.")
    json_field = serializers.CharField(required=False, allow_blank=True, help_text='Dotted path, e.g. "checks.db".')
    json_value = serializers.JSONField(required=False, help_text="The value expected at json_field.")
    timeout = serializers.FloatField(required=False, help_text="Seconds, 0.1–30 (default 5).")
    interval_minutes = serializers.IntegerField(required=False, help_text="1–1440 (default 5).")


class GateCheckSerializer(serializers.Serializer):
    code = serializers.CharField()
    version = serializers.IntegerField()
    is_automated = serializers.BooleanField()
    check_spec = CheckSpecSerializer(allow_null=True)
    check_probed_at = serializers.DateTimeField(allow_null=True)


def _gate_check_response(gate):
    data = {
        "code": gate.code,
        "version": gate.version,
        "is_automated": gate.is_automated,
        "check_spec": gate.check_spec,
        "check_probed_at": gate.check_probed_at,
    }
    return Response(GateCheckSerializer(data).data, headers={"ETag": gate_etag(gate)})


@extend_schema(
    tags=["gates"],
    parameters=[SLUG, OpenApiParameter("code", str, OpenApiParameter.PATH, description="Gate code, e.g. T4.")],
)
class GateCheckView(GateViewMixin, generics.GenericAPIView):
    serializer_class = GateCheckSerializer

    def get(self, request, slug, code):
        """The gate's HTTP check (null when it has none) and when it was last probed."""
        return _gate_check_response(gate_get(api_project_get(request, slug), code))

    @extend_schema(
        request=CheckSpecSerializer,
        parameters=[IF_MATCH],
        responses={200: GateCheckSerializer, 412: GATE_WRITE_ERRORS[412], 428: GATE_WRITE_ERRORS[428], **ERRORS},
    )
    def put(self, request, slug, code):
        """Give the gate an HTTP check probed on a schedule; the gate then follows each probe. Needs If-Match."""
        gate = gate_get(api_project_get(request, slug, write=True), code)
        version = self.expected_version(request, gate)
        spec = dict(_validated(CheckSpecSerializer, request.data))
        if not spec.get("json_field"):
            spec.pop("json_field", None)
        gate = gate_set_check(actor=api_actor(request), gate=gate, version=version, spec=spec)
        return _gate_check_response(gate)

    @extend_schema(
        parameters=[IF_MATCH],
        responses={200: GateCheckSerializer, 412: GATE_WRITE_ERRORS[412], 428: GATE_WRITE_ERRORS[428], **ERRORS},
    )
    def delete(self, request, slug, code):
        """Remove the gate's HTTP check. Needs If-Match."""
        gate = gate_get(api_project_get(request, slug, write=True), code)
        version = self.expected_version(request, gate)
        gate = gate_set_check(actor=api_actor(request), gate=gate, version=version, spec=None)
        return _gate_check_response(gate)
