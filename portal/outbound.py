"""Outbound requests to URLs people chose: HTTP checks (projects/checks.py) and webhook
deliveries (notifications/webhooks.py).

Unless `PREFLIGHT_ALLOW_PRIVATE_URLS` is on, a host that resolves to a loopback, private,
link-local, multicast or reserved address is refused when the connection is made (so a name
re-pointed after validation is refused too), and redirects are never followed.
`url_address_refusal` applies the same rule when a check or subscription is saved.
"""

import http.client
import ipaddress
import socket
import urllib.parse
import urllib.request

from django.conf import settings


class RefusedAddress(OSError):
    """The host of an outbound request resolves to an address the settings do not allow."""


def private_urls_allowed():
    return bool(getattr(settings, "PREFLIGHT_ALLOW_PRIVATE_URLS", False))


def _address_refusal(host, address):
    """Why `host` may not be reached at this IP (a phrase), or "" when it is a public address."""
    ip = ipaddress.ip_address(str(address).split("%", 1)[0])  # drop an IPv6 zone ("fe80::1%eth0")
    label = _address_kind(ip)
    if not label:
        return ""
    return f"{host} is {label}" if host.strip("[]") == str(address) else f"{host} resolves to {address}, {label}"


def _address_kind(ip):
    if ip.version == 6:
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is not None:
            ip = embedded
    for flag, label in (
        ("is_unspecified", "an unspecified"),
        ("is_loopback", "a loopback"),
        ("is_link_local", "a link-local"),
        ("is_multicast", "a multicast"),
        ("is_reserved", "a reserved"),
        ("is_private", "a private"),
    ):
        if getattr(ip, flag):
            return f"{label} address"
    if not ip.is_global:  # shared address space (100.64.0.0/10) and the like
        return "not a public address"
    return ""


def _resolve(host, port):
    return [info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


def url_address_refusal(url):
    """A field error for a URL whose host resolves to a refused address, or "" if it may be used.

    Checked when a spec or subscription is saved, for a clear error there; a name that does not
    resolve now is accepted (it is checked again on every connection).
    """
    if private_urls_allowed():
        return ""
    try:
        parts = urllib.parse.urlsplit(url)
        host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return ""
    if not host:
        return ""
    try:
        addresses = [str(ipaddress.ip_address(host))]  # an address literal needs no lookup
    except ValueError:
        try:
            addresses = _resolve(host, port)
        except (OSError, UnicodeError):
            return ""
    for address in addresses:
        why = _address_refusal(host, address)
        if why:
            return f"Refused: {why}. Checks and webhooks may only reach public addresses."
    return ""


def _guarded_connection(address, timeout=socket._GLOBAL_DEFAULT_TIMEOUT, source_address=None, **kwargs):
    """socket.create_connection that refuses internal addresses (unless they are allowed).

    The addresses are resolved once and the socket connects to the very address checked, so a
    name cannot pass the check and then resolve elsewhere. Any refused address among them
    refuses the host: a public answer beside an internal one is not trusted.
    """
    if private_urls_allowed():
        return socket.create_connection(address, timeout, source_address, **kwargs)
    host, port = address
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    for *_, sockaddr in infos:
        why = _address_refusal(host, sockaddr[0])
        if why:
            raise RefusedAddress(f"{why}, and PREFLIGHT_ALLOW_PRIVATE_URLS is off")
    error = None
    for family, kind, proto, _, sockaddr in infos:
        sock = socket.socket(family, kind, proto)
        try:
            if timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            error = exc
            sock.close()
    raise error or OSError(f"no address for {host}")


class _GuardedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._create_connection = _guarded_connection


class _GuardedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._create_connection = _guarded_connection


class _GuardedHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req):
        return self.do_open(_GuardedHTTPConnection, req)


class _GuardedHTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req):
        return self.do_open(_GuardedHTTPSConnection, req, context=self._context)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Never follow a redirect: it is reported as its own status (a probe fails on it unless it
    expects it, a webhook delivery fails on it), and cannot lead a request somewhere unchecked."""

    def redirect_request(self, *args, **kwargs):
        return None


def outbound_opener():
    """The urllib opener of every outbound request: address guard, no redirects, no proxy.

    Proxies from the environment are not used: through one, the address checked would be the
    proxy's, not the one finally reached.
    """
    return urllib.request.build_opener(
        urllib.request.ProxyHandler({}), _GuardedHTTPHandler, _GuardedHTTPSHandler, _NoRedirect
    )
