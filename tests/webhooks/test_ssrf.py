"""No server-side request forgery through a webhook URL: loopback, private, link-local,
multicast and reserved addresses are refused (literal, or what a name resolves to), the
connection goes to the address that was checked (no second lookup for DNS rebinding), and a
redirect is never followed."""

from __future__ import annotations

import socket

import pytest

from conversations.models import ConversationEvent
from tests import factories
from webhooks import http, services
from webhooks.models import WebhookAttempt, WebhookDelivery

BLOCKED = [
    "http://127.0.0.1/hook",
    "http://127.8.9.10:8080/hook",
    "http://10.1.2.3/hook",
    "http://172.16.0.5/hook",
    "http://192.168.1.1/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://100.64.0.1/hook",  # carrier-grade NAT
    "http://0.0.0.0/hook",
    "http://224.0.0.1/hook",  # multicast
    "http://240.0.0.1/hook",  # reserved
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[fe80::1]/hook",
    "http://[fc00::1]/hook",
]


@pytest.mark.parametrize("url", BLOCKED)
def test_literal_addresses_are_refused(url, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    with pytest.raises(http.Refused):
        http.post(url, b"{}", {}, timeout=1)


def fake_dns(monkeypatch, answers: dict[str, list[str]]):
    """getaddrinfo answering `answers` (a list per call for one name: rebinding)."""
    calls = []
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in answers:
            return real(host, port, *args, **kwargs)
        calls.append(host)
        addresses = answers[host]
        address = addresses[min(len(calls), len(addresses)) - 1]
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sockaddr = (address, port, 0, 0) if family == socket.AF_INET6 else (address, port)
        return [(family, socket.SOCK_STREAM, 6, "", sockaddr)]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return calls


def test_a_name_resolving_to_a_private_address_is_refused(monkeypatch, settings, receiver):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    fake_dns(monkeypatch, {"hooks.internal.test": ["127.0.0.1"]})
    port = receiver.server.server_port
    with pytest.raises(http.Refused, match="127.0.0.1"):
        http.post(f"http://hooks.internal.test:{port}/", b"{}", {}, timeout=1)
    assert receiver.requests == []
    # localhost itself, through the real resolver.
    with pytest.raises(http.Refused):
        http.post(f"http://localhost:{port}/", b"{}", {}, timeout=1)
    assert receiver.requests == []


def test_the_connection_goes_to_the_checked_address_not_a_second_lookup(
    monkeypatch, settings, receiver
):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    # A rebinding name: public on the first lookup, loopback on any later one.
    calls = fake_dns(monkeypatch, {"rebind.test": ["203.0.113.7", "127.0.0.1"]})
    monkeypatch.setattr(http, "address_allowed", lambda a: a == "203.0.113.7")
    port = receiver.server.server_port
    with pytest.raises(OSError):
        http.post(f"http://rebind.test:{port}/", b"{}", {}, timeout=0.5)
    assert calls == ["rebind.test"]  # resolved once
    assert receiver.requests == []  # never reached loopback


def test_the_pinned_connection_speaks_to_the_host_by_name(monkeypatch, settings, receiver):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    fake_dns(monkeypatch, {"hooks.example.test": ["127.0.0.1"]})
    port = receiver.server.server_port
    response = http.post(f"http://hooks.example.test:{port}/in?x=1", b"{}", {}, timeout=2)
    assert response.status == 200
    (request,) = receiver.requests
    assert request["headers"]["Host"] == f"hooks.example.test:{port}"
    assert request["path"] == "/in?x=1"


def test_a_delivery_to_a_private_name_fails_and_is_logged(acme, monkeypatch, settings, receiver):
    fake_dns(monkeypatch, {"hooks.internal.test": ["10.0.0.8"]})
    hook = services.endpoint_create(
        merchant_id=acme.pk,
        url="http://hooks.internal.test/hook",
        events=[ConversationEvent.Kind.CONVERSATION_CREATED],
    )
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    factories.visitor_message(factories.visitor(acme))
    (delivery_id,) = services.fanout(merchant_id=acme.pk)
    assert services.deliver(delivery_id=delivery_id) == WebhookDelivery.Status.PENDING
    attempt = WebhookAttempt.objects.get(delivery_id=delivery_id)
    assert not attempt.succeeded and "10.0.0.8" in attempt.error
    assert attempt.status_code is None
    hook.refresh_from_db()
    assert hook.failures_in_a_row == 1


def test_a_redirect_to_the_metadata_address_is_not_followed(acme, receiver):
    hook = services.endpoint_create(
        merchant_id=acme.pk,
        url=receiver.url,
        events=[ConversationEvent.Kind.CONVERSATION_CREATED],
    )
    receiver.secret = hook.secret
    receiver.statuses = [307]
    receiver.location = "http://169.254.169.254/latest/meta-data/"
    factories.visitor_message(factories.visitor(acme))
    (delivery_id,) = services.fanout(merchant_id=acme.pk)
    services.deliver(delivery_id=delivery_id)
    attempt = WebhookAttempt.objects.get(delivery_id=delivery_id)
    assert attempt.status_code == 307 and not attempt.succeeded
    assert len(receiver.requests) == 1


def test_the_setting_allows_private_addresses_for_intranets(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    assert http.address_allowed("10.1.2.3") and http.address_allowed("127.0.0.1")
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    assert not http.address_allowed("10.1.2.3")
    assert http.address_allowed("93.184.216.34")
