"""API fixtures: real tokens made through the service, and clients that send them."""

import pytest
from rest_framework.test import APIClient

from audits.services import Actor
from tokens.services import token_create


@pytest.fixture
def make_token(db):
    """make_token(user, scope="read", projects=(), expires_at=None) -> (token, secret)."""

    def make(user, scope="read", projects=(), expires_at=None, name="CI"):
        return token_create(
            actor=Actor(user), user=user, name=name, scope=scope, projects=projects, expires_at=expires_at
        )

    return make


@pytest.fixture
def api():
    """api(secret=None, user=None) -> an APIClient sending that token, or logged in as user (session)."""

    def client(secret=None, user=None, csrf=False):
        c = APIClient(enforce_csrf_checks=csrf)
        if secret:
            c.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        if user is not None:
            c.force_login(user)
        return c

    return client


@pytest.fixture
def token_client(api, make_token):
    """token_client(user, scope="read", projects=()) -> an APIClient with a fresh token of that user."""

    def client(user, scope="read", projects=()):
        _, secret = make_token(user, scope=scope, projects=projects)
        return api(secret)

    return client
