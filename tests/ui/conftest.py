"""Fixtures of the web UI tests: a logged-in client per persona."""

import pytest

PERSONAS = ["owner", "editor", "signer", "viewer", "outsider", "staff"]
MEMBERS = ["owner", "editor", "signer", "viewer"]


@pytest.fixture
def login(client, request):
    """login("editor") logs the test client in as that persona fixture and returns it."""

    def _login(persona):
        user = request.getfixturevalue(persona)
        client.force_login(user)
        return client

    return _login
