"""Fixtures of the automation tests: local HTTP servers on 127.0.0.1 (health endpoints, webhook
receivers) and helpers to run the periodic work as beat would."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from notifications import webhooks


class LocalServer:
    """A real HTTP server on an ephemeral port of 127.0.0.1, answering from a script.

    `responses` is a list of (status, body-dict-or-bytes[, extra headers]) answered in turn (the
    last repeats); every request is recorded with its headers and raw body.
    """

    def __init__(self):
        self.responses = [(200, {"status": "ok"})]
        self.requests = []
        self.delay = 0.0
        self.arrived = threading.Event()
        self.release = threading.Event()
        self.release.set()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                server.requests.append(
                    {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
                )
                server.arrived.set()
                server.release.wait(30)
                index = min(len(server.requests) - 1, len(server.responses) - 1)
                status, payload, *extra = server.responses[index]
                if server.delay:
                    import time

                    time.sleep(server.delay)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in (extra[0] if extra else {}).items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = _answer
            do_POST = _answer

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(autouse=True)
def _local_addresses_allowed(settings):
    """These tests probe and deliver to servers on 127.0.0.1, so they allow internal addresses
    explicitly (the default follows DEBUG); the refusal tests switch it off."""
    settings.PREFLIGHT_ALLOW_PRIVATE_URLS = True


@pytest.fixture
def local_server():
    server = LocalServer()
    yield server
    server.close()


class Receiver(LocalServer):
    """A webhook receiver that verifies each request's signature the way the README says."""

    def __init__(self, secret=""):
        super().__init__()
        self.secret = secret
        self.responses = [(204, b"")]

    def verified(self):
        """The requests whose signature checks out, as (event, payload)."""
        out = []
        for r in self.requests:
            h = {k.lower(): v for k, v in r["headers"].items()}
            if webhooks.signature_verify(
                self.secret, r["body"], h.get("preflight-timestamp"), h.get("preflight-signature")
            ):
                out.append((h.get("preflight-event"), json.loads(r["body"])))
        return out


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()
