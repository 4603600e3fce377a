"""Who may open the agent socket: a page of this site, judged by scheme, host and port.

Channels' AllowedHostsOriginValidator compared the Origin's host name with ALLOWED_HOSTS only,
so a page on any other port or scheme of an allowed host (`http://127.0.0.1:9999`, another app
on the same machine) could open a socket that carries the agent's session cookie: cross-site
WebSocket hijacking. Here the Origin must be, exactly (scheme, host and port, default ports
normalised):

- the origin of the socket request itself (the scheme of the connection, ws -> http and
  wss -> https, and its Host header, which must be in ALLOWED_HOSTS) - the workspace loaded
  from the same address, as with `make run`;
- the origin of PUBLIC_URL - the address users open, behind a TLS proxy too;
- one of CSRF_TRUSTED_ORIGINS - the same list Django's CSRF check trusts for forms.

docs/security.md, finding 5.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

DEFAULT_PORTS = {"http": 80, "https": 443}


def normalise(origin: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an origin or URL, or None if it is not an http(s) origin."""
    try:
        parts = urlsplit(origin.strip())
        scheme, host, port = parts.scheme.lower(), (parts.hostname or ""), parts.port
    except ValueError:  # a port that is not a number, or out of range
        return None
    if scheme not in DEFAULT_PORTS or not host:
        return None
    return scheme, host.lower(), port or DEFAULT_PORTS[scheme]


def allowed_origins(scope) -> set[tuple[str, str, int]]:
    allowed = {normalise(settings.PUBLIC_URL)}
    allowed.update(normalise(o) for o in settings.CSRF_TRUSTED_ORIGINS)
    host = _header(scope, b"host")
    if host:
        domain, _port = split_domain_port(host)
        if domain and validate_host(domain, settings.ALLOWED_HOSTS):
            scheme = "https" if scope.get("scheme") in ("wss", "https") else "http"
            allowed.add(normalise(f"{scheme}://{host}"))
    allowed.discard(None)
    return allowed


def origin_allowed(scope) -> bool:
    origin = _header(scope, b"origin")
    if not origin:
        return False
    parsed = normalise(origin)
    return parsed is not None and parsed in allowed_origins(scope)


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


class SameSiteOriginValidator:
    """ASGI middleware: refuse (HTTP 403 before accept) a socket whose Origin is not one of
    `allowed_origins`."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket" or not origin_allowed(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
