"""Outbound HTTP for webhooks, safe against server-side request forgery.

A webhook URL is chosen by a merchant, so it must not reach this server's own network: the
host name is resolved once, every address it resolves to is checked (loopback, private,
link-local, multicast, reserved, unspecified and other non-global addresses are refused unless
WEBHOOK_ALLOW_PRIVATE_ADDRESSES), and the connection goes to the address that was checked, not
to a second lookup (which a DNS rebinding answer could point elsewhere). Redirects are never
followed: a 3xx is a failed attempt. TLS still verifies the certificate for the host name.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

# What the log keeps of a response body, and the most we read of one.
EXCERPT_CHARS = 500
READ_LIMIT = 4096
USER_AGENT = "Mozhongkefu-Webhooks/1"


class Refused(Exception):
    """The URL may not be requested (bad scheme, or an address this server must not reach)."""


@dataclass
class Response:
    status: int
    excerpt: str
    duration_ms: int


def address_allowed(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES:
        return True
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return ip.is_global and not (
        ip.is_multicast or ip.is_reserved or ip.is_loopback or ip.is_link_local
    )


def check_url(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path with query) of a URL we may request, or raise Refused."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused("Only http:// and https:// URLs with a host name.")
    if parts.username or parts.password:
        raise Refused("No user name or password in the URL.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise Refused("Invalid port.") from None
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    host = parts.hostname
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None and not address_allowed(str(literal)):
        raise Refused(f"{host} is not a public address.")
    return parts.scheme, host, port, path


def resolve(host: str, port: int) -> list[tuple]:
    """Every address `host` resolves to, each checked; Refused if any is not allowed (a name
    with one private address among public ones could be steered to it)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OSError(f"cannot resolve {host}: {exc}") from None
    for _family, _type, _proto, _name, sockaddr in infos:
        if not address_allowed(sockaddr[0]):
            raise Refused(f"{host} resolves to {sockaddr[0]}, not a public address.")
    return [(family, sockaddr) for family, _t, _p, _n, sockaddr in infos]


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTP(S) connection to an address already checked, speaking to `host` by name."""

    def __init__(self, host, port, timeout, addresses, tls: bool):
        super().__init__(host, port, timeout=timeout)
        self._addresses = addresses
        self._tls = tls

    def connect(self):
        error = None
        for family, sockaddr in self._addresses:
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            try:
                sock.connect(sockaddr)
            except OSError as exc:
                sock.close()
                error = exc
                continue
            if self._tls:
                context = ssl.create_default_context()
                sock = context.wrap_socket(sock, server_hostname=self.host)
            self.sock = sock
            return
        raise error or OSError("no address to connect to")


def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> Response:
    """POST `body` to `url` once, no redirects. Raises Refused (not allowed) or OSError
    (unreachable, timed out); any HTTP status is a Response."""
    scheme, host, port, path = check_url(url)
    started = time.monotonic()
    addresses = resolve(host, port)
    connection = _PinnedConnection(host, port, timeout, addresses, tls=scheme == "https")
    try:
        connection.request(
            "POST",
            path,
            body=body,
            headers={"User-Agent": USER_AGENT, "Content-Type": "application/json", **headers},
        )
        response = connection.getresponse()
        raw = response.read(READ_LIMIT)
        status = response.status
    except http.client.HTTPException as exc:
        raise OSError(f"bad HTTP response: {exc.__class__.__name__}") from None
    finally:
        connection.close()
    return Response(
        status=status,
        excerpt=raw.decode("utf-8", errors="replace")[:EXCERPT_CHARS],
        duration_ms=int((time.monotonic() - started) * 1000),
    )
