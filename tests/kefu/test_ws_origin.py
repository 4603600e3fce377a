"""The agent socket's Origin check (issue 16, finding 5, kefu/ws_origin.py): scheme, host and
port must match this site's own address, PUBLIC_URL or a CSRF_TRUSTED_ORIGINS entry; another
port or scheme of an allowed host name is cross-site WebSocket hijacking and is refused."""

from __future__ import annotations

import asyncio

import pytest

from tests.wsclient import open_agent, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


def connects(merchant_id, cookie, origin) -> bool:
    async def scenario():
        comm, connected, _ = await open_agent(merchant_id, cookie, origin=origin)
        if connected:
            await comm.disconnect()
        return connected

    return asyncio.run(asyncio.wait_for(scenario(), 30))


@pytest.mark.parametrize(
    "origin, ok",
    [
        ("http://127.0.0.1", True),  # the request's own origin (Host: 127.0.0.1, ws)
        ("http://127.0.0.1:80", True),  # the same, with the default port spelled out
        ("HTTP://127.0.0.1", True),
        ("http://127.0.0.1:9999", False),  # another port of an allowed host: the finding
        ("https://127.0.0.1", False),  # another scheme
        ("http://localhost", False),  # an allowed host name, but not this request's
        ("https://evil.example", False),
        ("null", False),
        ("http://127.0.0.1:notaport", False),
        ("", False),
    ],
)
def test_agent_origin_must_match_scheme_host_and_port(acme, bob, origin, ok):
    assert connects(acme.pk, session_cookie(bob.user), origin) is ok


def test_public_url_and_csrf_trusted_origins_are_allowed_exactly(acme, bob, settings):
    settings.PUBLIC_URL = "https://kefu.example.com/"
    settings.CSRF_TRUSTED_ORIGINS = ["https://desk.example.com:8443"]
    cookie = session_cookie(bob.user)
    assert connects(acme.pk, cookie, "https://kefu.example.com")
    assert connects(acme.pk, cookie, "https://kefu.example.com:443")
    assert connects(acme.pk, cookie, "https://desk.example.com:8443")
    assert not connects(acme.pk, cookie, "http://kefu.example.com")
    assert not connects(acme.pk, cookie, "https://kefu.example.com:8443")
    assert not connects(acme.pk, cookie, "https://desk.example.com")


def test_host_header_outside_allowed_hosts_is_not_trusted(acme, bob, settings):
    settings.ALLOWED_HOSTS = ["kefu.example.com"]
    settings.PUBLIC_URL = "https://kefu.example.com"
    # Host 127.0.0.1 (tests/wsclient.py) is not allowed: its origin is not this site's.
    assert not connects(acme.pk, session_cookie(bob.user), "http://127.0.0.1")
