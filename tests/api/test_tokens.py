"""Personal API tokens: hashed, shown once, scoped, limited, expiring, revocable, never logged."""

import hashlib
import logging
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audits.models import AuditEvent
from audits.services import Actor
from portal.errors import InvalidInput, NotAllowed
from tokens.models import ApiToken
from tokens.services import LAST_USED_RESOLUTION, token_authenticate, token_create, token_revoke

from .helpers import assert_error_shape

pytestmark = pytest.mark.django_db


def test_only_the_hash_is_stored_and_the_prefix_is_visible(owner):
    token, secret = token_create(actor=Actor(owner), user=owner, name="CI", scope="write")
    assert secret.startswith(token.prefix + "_")
    assert token.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    row = ApiToken.objects.filter(pk=token.pk).values().get()
    assert all(secret not in str(value) for value in row.values())
    # Nor in the audit history of its creation.
    event = AuditEvent.objects.get(action="token.created")
    assert secret not in event.canonical()
    assert event.after["prefix"] == token.prefix


def test_the_secret_is_never_logged(owner, project, api, caplog, settings):
    caplog.set_level(logging.DEBUG)
    token, secret = token_create(actor=Actor(owner), user=owner, name="CI", scope="read")
    with CaptureQueriesContext(connection) as queries:
        api(secret).get("/api/v1/projects")
        api(secret + "x").get("/api/v1/projects")
        api(secret).get("/api/v1/no-such-thing")
    assert secret not in caplog.text
    # The database only ever sees the hash.
    assert all(secret not in str(q["sql"]) for q in queries.captured_queries)


def test_token_authenticates_as_its_user_and_refreshes_last_used_coarsely(owner):
    token, secret = token_create(actor=Actor(owner), user=owner, name="CI", scope="read")
    assert token.last_used_at is None
    found = token_authenticate(secret)
    assert found.pk == token.pk and found.user == owner
    first = ApiToken.objects.get(pk=token.pk).last_used_at
    assert first is not None
    token_authenticate(secret)
    assert ApiToken.objects.get(pk=token.pk).last_used_at == first  # no write within the resolution
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first - LAST_USED_RESOLUTION)
    token_authenticate(secret)
    assert ApiToken.objects.get(pk=token.pk).last_used_at > first - LAST_USED_RESOLUTION


@pytest.mark.parametrize(
    "presented",
    ["", "pf_", "nonsense", "pf_abcdefgh_wrong", "x" * 500],
)
def test_unknown_secrets_do_not_authenticate(owner, presented):
    token_create(actor=Actor(owner), user=owner, name="CI", scope="read")
    assert token_authenticate(presented) is None


def test_revoked_expired_and_inactive_user_tokens_are_refused(owner, api):
    revoked, revoked_secret = token_create(actor=Actor(owner), user=owner, name="a", scope="read")
    token_revoke(actor=Actor(owner), token=revoked)
    expiring, expiring_secret = token_create(
        actor=Actor(owner), user=owner, name="b", scope="read", expires_at=timezone.now() + timedelta(hours=1)
    )
    ApiToken.objects.filter(pk=expiring.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert token_authenticate(revoked_secret) is None
    assert token_authenticate(expiring_secret) is None
    for secret in (revoked_secret, expiring_secret):
        body = assert_error_shape(api(secret).get("/api/v1/projects"), 401)
        assert body["code"] == "not_authenticated"
    _, live_secret = token_create(actor=Actor(owner), user=owner, name="c", scope="read")
    owner.is_active = False
    owner.save()
    assert token_authenticate(live_secret) is None


def test_a_401_names_the_bearer_scheme(api):
    response = api().get("/api/v1/projects")
    assert_error_shape(response, 401)
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_revoke_is_audited_and_idempotent(owner):
    token, _ = token_create(actor=Actor(owner), user=owner, name="CI", scope="read")
    token_revoke(actor=Actor(owner), token=token)
    token_revoke(actor=Actor(owner), token=token)
    assert AuditEvent.objects.filter(action="token.revoked").count() == 1
    assert ApiToken.objects.get(pk=token.pk).state == "revoked"


def test_people_manage_only_their_own_tokens(owner, editor, staff):
    with pytest.raises(NotAllowed):
        token_create(actor=Actor(editor), user=owner, name="CI", scope="read")
    token, _ = token_create(actor=Actor(owner), user=owner, name="CI", scope="read")
    with pytest.raises(NotAllowed):
        token_revoke(actor=Actor(editor), token=token)
    token_revoke(actor=Actor(staff), token=token)  # the back office may


def test_invalid_token_requests_change_nothing(owner, outsider, project):
    with pytest.raises(InvalidInput) as err:
        token_create(
            actor=Actor(outsider),
            user=outsider,
            name=" ",
            scope="admin",
            expires_at=timezone.now() - timedelta(days=1),
            projects=[project],
        )
    assert set(err.value.field_errors) == {"name", "scope", "expires_at", "projects"}
    assert not ApiToken.objects.exists()


def test_a_limited_token_whose_projects_are_gone_sees_none_rather_than_all(owner, project, api):
    """Fail closed: a token created with project limits never widens to every project, even when
    the rows of its limits disappear (an operator's cleanup, say)."""
    from notifications.models import Kind
    from notifications.services import notify

    token, secret = token_create(actor=Actor(owner), user=owner, name="CI", scope="read", projects=[project])
    unlimited, _ = token_create(actor=Actor(owner), user=owner, name="all", scope="read")
    notify(user_ids=[owner.pk], kind=Kind.VERDICT_CHANGED, title="about apollo", project=project)
    notify(user_ids=[owner.pk], kind=Kind.WEEKLY_DIGEST, title="personal")
    token.projects.clear()
    assert ApiToken.objects.get(pk=token.pk).allowed_project_ids() == set()
    assert ApiToken.objects.get(pk=unlimited.pk).allowed_project_ids() is None

    client = api(secret)
    listed = client.get("/api/v1/projects")
    assert listed.status_code == 200 and listed.json()["results"] == []
    assert_error_shape(client.get(f"/api/v1/projects/{project.slug}"), 404)
    assert_error_shape(client.get(f"/api/v1/projects/{project.slug}/gates"), 404)
    titles = [n["title"] for n in client.get("/api/v1/notifications").json()["results"]]
    assert titles == ["personal"]
