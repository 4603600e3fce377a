"""Real Celery workers deliver webhooks to a real receiver that checks every signature; a
worker killed with SIGKILL in the middle of a delivery does not lose it: the sweep hands it to
another worker, which delivers it again with the same idempotency key (at least once)."""

from __future__ import annotations

import os
import signal
import time
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache

from conversations.models import ConversationEvent
from tests import factories
from webhooks import services
from webhooks.models import WebhookAttempt, WebhookDelivery

Kind = ConversationEvent.Kind
Status = WebhookDelivery.Status
WORKER_ENV = {"WEBHOOK_ALLOW_PRIVATE_ADDRESSES": "true", "WEBHOOK_TIMEOUT": "3"}


def test_a_worker_killed_mid_delivery_still_delivers_it(
    acme, receiver, start_celery_worker, monkeypatch
):
    hook = services.endpoint_create(
        merchant_id=acme.pk,
        url=receiver.url,
        events=[Kind.CONVERSATION_CREATED, Kind.MESSAGE_CREATED],
    )
    receiver.secret = hook.secret
    # Ids repeat across tests: a fan-out key left by an earlier test must not hold ours back.
    cache.delete(f"{settings.REDIS_KEY_PREFIX}:webhooks:fanout:{acme.pk}")
    receiver.hold.set()  # the first request waits: the worker is killed while it does
    first = start_celery_worker(**WORKER_ENV)

    # The product's own path: the commit sends event_recorded, the receiver queues the fan-out,
    # the worker fans out and delivers.
    message = factories.visitor_message(factories.visitor(acme, name="王五"), "订单在哪")
    assert receiver.arrived.wait(40), first.log()
    os.kill(first.proc.pid, signal.SIGKILL)
    first.proc.wait(10)
    receiver.hold.clear()
    receiver.release.set()
    held = receiver.requests[0]
    in_flight = WebhookDelivery.objects.get(event_id=held["body"]["id"])
    assert in_flight.status == Status.SENDING  # killed before it could record anything
    assert not WebhookAttempt.objects.filter(delivery=in_flight).exists()

    second = start_celery_worker(**WORKER_ENV)
    # The beat sweep, run here: it requeues the attempt whose lease ran out, and the other
    # delivery whose task went down with the first worker's queue.
    monkeypatch.setattr(services, "SWEEP_GRACE", timedelta(seconds=1))
    deadline = time.monotonic() + 60
    while WebhookDelivery.objects.filter(endpoint=hook).exclude(status=Status.SUCCEEDED).exists():
        assert time.monotonic() < deadline, second.log()
        services.sweep()
        time.sleep(1)

    assert all(r["signed"] for r in receiver.requests)
    by_key: dict[str, list[dict]] = {}
    for request in receiver.requests:
        by_key.setdefault(request["headers"]["X-Kefu-Idempotency-Key"], []).append(request)
    assert len(by_key) == 2
    again = by_key[f"{in_flight.event_id}-{hook.pk}"]
    assert len(again) >= 2  # the killed attempt's request, then the redelivery
    assert again[0]["body"] == again[-1]["body"]
    types = {r["body"]["type"] for r in receiver.requests}
    assert types == {"conversation.created", "message.created"}
    said = next(r["body"] for r in receiver.requests if r["body"]["type"] == "message.created")
    assert said["data"]["message"]["body"] == "订单在哪"
    assert said["data"]["message"]["id"] == message.pk
    in_flight.refresh_from_db()
    assert in_flight.attempts == 1
    assert list(WebhookAttempt.objects.filter(delivery=in_flight).values_list("succeeded")) == [
        (True,)
    ]
