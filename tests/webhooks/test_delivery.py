"""Webhook deliveries in this process against a real HTTP receiver that checks signatures:
fan-out from domain events, signed payloads that match the schema, retries with backoff, the
attempt log, disabling after a run of failures (admins told), redirects not followed, the
sweep, tenant isolation, and the message path's cost for merchants without webhooks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conversations.models import ConversationEvent
from merchants.models import Merchant
from tests import factories
from webhooks import schema, services
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

Kind = ConversationEvent.Kind
Status = WebhookDelivery.Status


def endpoint(merchant, url, events=None, **kw) -> WebhookEndpoint:
    return services.endpoint_create(
        merchant_id=merchant.pk,
        url=url,
        events=events or [Kind.CONVERSATION_CREATED, Kind.MESSAGE_CREATED],
        **kw,
    )


def deliver_all(merchant) -> list[str | None]:
    services.fanout(merchant_id=merchant.pk)
    return [
        services.deliver(delivery_id=d.pk)
        for d in WebhookDelivery.objects.filter(merchant=merchant, status=Status.PENDING).order_by(
            "id"
        )
    ]


def test_events_are_delivered_signed_with_the_schemas_payload(acme, alice, receiver):
    hook = endpoint(acme, receiver.url)
    receiver.secret = hook.secret
    visitor = factories.visitor(acme, name="张三", email="zs@example.com")
    message = factories.visitor_message(visitor, "我要退货")

    assert deliver_all(acme) == [Status.SUCCEEDED, Status.SUCCEEDED]

    assert receiver.events() == ["conversation.created", "message.created"]
    assert all(r["signed"] for r in receiver.requests)
    created, said = (r["body"] for r in receiver.requests)
    # Every payload is what the schema module says (extra fields are forbidden there).
    schema.ConversationCreated.model_validate(created)
    schema.MessageCreated.model_validate(said)
    assert created["data"]["visitor"]["name"] == "张三"
    assert said["data"]["message"]["body"] == "我要退货"
    assert said["data"]["message"]["seq"] == message.seq == 1
    assert said["data"]["conversation"]["id"] == message.conversation_id
    for request in receiver.requests:
        headers = request["headers"]
        delivery = WebhookDelivery.objects.get(event_id=request["body"]["id"])
        assert headers["X-Kefu-Idempotency-Key"] == f"{request['body']['id']}-{hook.pk}"
        assert headers["X-Kefu-Event"] == request["body"]["type"]
        assert abs(int(headers["X-Kefu-Timestamp"]) - timezone.now().timestamp()) < 60
        assert headers["Content-Type"] == "application/json"
        assert delivery.attempts == 1 and delivery.delivered_at is not None
    attempt = WebhookAttempt.objects.filter(merchant=acme).first()
    assert attempt.succeeded and attempt.status_code == 200 and '"ok"' in attempt.response_excerpt


def test_only_subscribed_kinds_and_only_events_after_creation(acme, bob, receiver):
    visitor = factories.visitor(acme)
    factories.visitor_message(visitor, "创建之前")  # before the endpoint: not delivered
    hook = endpoint(acme, receiver.url, events=[Kind.CONVERSATION_RESOLVED])
    receiver.secret = hook.secret
    conversation_id = factories.visitor_message(factories.visitor(acme)).conversation_id
    from conversations import services as conversations

    conversations.conversation_set_status(
        merchant_id=acme.pk,
        conversation_id=conversation_id,
        actor_user_id=bob.user_id,
        status="resolved",
    )
    deliver_all(acme)
    assert receiver.events() == ["conversation.resolved"]
    body = receiver.requests[0]["body"]
    assert body["actor_user_id"] == bob.user_id
    assert body["data"]["conversation"]["status"] == "resolved"


def test_a_failure_is_retried_with_backoff_and_the_same_key(acme, receiver, settings):
    settings.WEBHOOK_RETRY_BASE = 30
    hook = endpoint(acme, receiver.url, events=[Kind.CONVERSATION_CREATED])
    receiver.secret = hook.secret
    receiver.statuses = [500]
    factories.visitor_message(factories.visitor(acme))
    before = timezone.now()

    assert deliver_all(acme) == [Status.PENDING]
    delivery = WebhookDelivery.objects.get(endpoint=hook)
    assert delivery.attempts == 1 and delivery.last_status_code == 500
    wait = (delivery.next_attempt_at - before).total_seconds()
    assert 30 * 0.75 - 1 <= wait <= 30 * 1.25 + 1  # base, with jitter
    # Not due yet: a task arriving early does nothing.
    assert services.deliver(delivery_id=delivery.pk) is None

    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    assert services.deliver(delivery_id=delivery.pk) == Status.SUCCEEDED
    keys = {r["headers"]["X-Kefu-Idempotency-Key"] for r in receiver.requests}
    assert len(receiver.requests) == 2 and len(keys) == 1
    assert receiver.requests[0]["body"] == receiver.requests[1]["body"]  # the same payload
    log = list(WebhookAttempt.objects.filter(delivery=delivery).order_by("id"))
    assert [(a.succeeded, a.status_code) for a in log] == [(False, 500), (True, 200)]
    assert log[0].response_excerpt == "receiver says no"
    hook.refresh_from_db()
    assert hook.failures_in_a_row == 0


def test_backoff_doubles_and_is_capped():
    for attempts, base in ((1, 30), (2, 60), (3, 120), (12, services.MAX_BACKOFF)):
        values = [services.backoff(attempts) for _ in range(50)]
        assert all(base * 0.75 <= v <= base * 1.25 for v in values)
        assert len(set(values)) > 1  # jitter


def test_gives_up_after_max_attempts(acme, receiver, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    hook = endpoint(acme, receiver.url, events=[Kind.CONVERSATION_CREATED])
    receiver.secret = hook.secret
    receiver.statuses = [503, 503]
    factories.visitor_message(factories.visitor(acme))
    deliver_all(acme)
    delivery = WebhookDelivery.objects.get(endpoint=hook)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    assert services.deliver(delivery_id=delivery.pk) == Status.FAILED
    assert services.deliver(delivery_id=delivery.pk) is None


def test_a_run_of_failures_disables_the_endpoint_and_tells_the_admins(
    acme, alice, bob, receiver, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_DISABLE_AFTER = 3
    alice.user.email = "alice@example.com"
    alice.user.save()
    bob.user.email = "bob@example.com"  # an agent: not told
    bob.user.save()
    hook = endpoint(acme, receiver.url, events=[Kind.CONVERSATION_CREATED])
    receiver.secret = hook.secret
    receiver.statuses = [500] * 10
    for _ in range(3):
        factories.visitor_message(factories.visitor(acme))
    services.fanout(merchant_id=acme.pk)
    with django_capture_on_commit_callbacks(execute=True):
        for delivery in WebhookDelivery.objects.filter(endpoint=hook):
            services.deliver(delivery_id=delivery.pk)
    hook.refresh_from_db()
    assert not hook.is_active and hook.disabled_at is not None
    assert "3" in hook.disabled_reason
    assert Merchant.objects.get(pk=acme.pk).webhook_kinds == ""
    (email,) = mail.outbox
    assert email.to == ["alice@example.com"] and receiver.url in email.body
    # A disabled endpoint is sent nothing more; turning it on again clears the run.
    factories.visitor_message(factories.visitor(acme))
    assert services.fanout(merchant_id=acme.pk) == []
    services.endpoint_update(merchant_id=acme.pk, endpoint_id=hook.pk, is_active=True)
    hook.refresh_from_db()
    assert hook.is_active and hook.failures_in_a_row == 0 and hook.disabled_reason == ""


def test_a_redirect_is_a_failed_attempt_and_is_not_followed(acme, receiver):
    hook = endpoint(acme, receiver.url, events=[Kind.CONVERSATION_CREATED])
    receiver.secret = hook.secret
    receiver.statuses = [302]
    receiver.location = receiver.url + "/elsewhere"
    factories.visitor_message(factories.visitor(acme))
    assert deliver_all(acme) == [Status.PENDING]
    assert len(receiver.requests) == 1  # the Location was not requested
    attempt = WebhookAttempt.objects.get(merchant=acme)
    assert attempt.status_code == 302 and "Redirects" in attempt.error


def test_redeliver_sends_a_delivered_one_again_with_the_same_key(acme, receiver):
    hook = endpoint(acme, receiver.url, events=[Kind.CONVERSATION_CREATED])
    receiver.secret = hook.secret
    factories.visitor_message(factories.visitor(acme))
    deliver_all(acme)
    delivery = WebhookDelivery.objects.get(endpoint=hook)
    services.redeliver(merchant_id=acme.pk, delivery_id=delivery.pk)
    assert services.deliver(delivery_id=delivery.pk) == Status.SUCCEEDED
    assert len(receiver.requests) == 2
    assert len({r["headers"]["X-Kefu-Idempotency-Key"] for r in receiver.requests}) == 1
    with pytest.raises(services.NotFound):
        services.redeliver(merchant_id=acme.pk + 1000, delivery_id=delivery.pk)


def test_the_sweep_finds_events_whose_signal_was_lost_and_moves_the_cursor_later(acme, receiver):
    hook = endpoint(acme, receiver.url, events=[Kind.CONVERSATION_CREATED])
    # The `db` fixture never commits: no signal ran, no fan-out was queued.
    factories.visitor_message(factories.visitor(acme))
    result = services.sweep()
    assert result["fanned_out"] == 1
    assert services.sweep()["fanned_out"] == 0  # never twice
    hook.refresh_from_db()
    # The event is newer than the grace period: the cursor waits (a lower id might commit).
    assert hook.cursor < ConversationEvent.objects.filter(merchant=acme).latest("id").pk
    later = timezone.now() + services.FANOUT_GRACE + timedelta(seconds=1)
    services.sweep(now=later)
    hook.refresh_from_db()
    assert hook.cursor == ConversationEvent.objects.filter(merchant=acme).latest("id").pk


def test_the_sweep_requeues_lost_deliveries(acme, receiver, monkeypatch):
    endpoint(acme, receiver.url, events=[Kind.CONVERSATION_CREATED])
    factories.visitor_message(factories.visitor(acme))
    (delivery_id,) = services.fanout(merchant_id=acme.pk)
    queued = []
    monkeypatch.setattr(services, "_queue", lambda ids, countdown=0: queued.extend(ids))
    assert services.sweep()["requeued"] == 0  # due just now: its task is on its way
    WebhookDelivery.objects.filter(pk=delivery_id).update(
        next_attempt_at=timezone.now() - services.SWEEP_GRACE - timedelta(seconds=1)
    )
    assert services.sweep()["requeued"] == 1 and queued == [delivery_id]
    # An attempt whose worker died: SENDING with its lease run out.
    WebhookDelivery.objects.filter(pk=delivery_id).update(
        status=Status.SENDING, lease_until=timezone.now() - timedelta(seconds=1)
    )
    assert services.sweep()["requeued"] == 1


def test_events_of_one_merchant_never_reach_anothers_endpoint(acme, other, receiver):
    theirs = endpoint(other, receiver.url)
    factories.visitor_message(factories.visitor(acme))
    services.sweep()
    assert not WebhookDelivery.objects.filter(endpoint=theirs).exists()
    assert receiver.requests == []


def test_bad_endpoint_input_is_a_field_error(acme):
    for url in ("ftp://example.com/", "http://127.0.0.1/", "http://user:pw@example.com/"):
        with pytest.raises(services.KefuError) as error:
            endpoint(acme, url)
        assert error.value.field == "url"
    for events in ([], ["conversation.exploded"]):
        with pytest.raises(services.KefuError) as error:
            services.endpoint_create(
                merchant_id=acme.pk, url="https://example.com/hook", events=events
            )
        assert error.value.field == "events"


# --- The message path's cost ------------------------------------------------------------------


def _send_queries(bob, conversation_id) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        factories.agent_message(bob, conversation_id, "好的")
    return [q["sql"] for q in queries.captured_queries]


def test_message_events_cost_nothing_without_a_subscription(
    acme, bob, receiver, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_SUBSCRIPTIONS_REFRESH = 60
    conversation_id = factories.visitor_message(factories.visitor(acme)).conversation_id
    factories.agent_message(bob, conversation_id, "warm-up")  # claims it; loads the snapshot
    # A subscription to other kinds only: still no message events.
    with django_capture_on_commit_callbacks(execute=True):  # drops this process's snapshot
        endpoint(acme, receiver.url, events=[Kind.CONVERSATION_RESOLVED])
    factories.agent_message(bob, conversation_id, "warm-up")  # reloads the dropped snapshot
    plain = _send_queries(bob, conversation_id)
    assert not [q for q in plain if "merchants_merchant" in q]
    assert not ConversationEvent.objects.filter(kind=Kind.MESSAGE_CREATED).exists()

    with django_capture_on_commit_callbacks(execute=True):
        endpoint(acme, receiver.url, events=[Kind.MESSAGE_CREATED])
    factories.agent_message(bob, conversation_id, "warm-up")
    subscribed = _send_queries(bob, conversation_id)
    # Exactly one more query per message: the event's INSERT.
    assert len(subscribed) == len(plain) + 1
    assert "conversations_conversationevent" in "".join(set(subscribed) - set(plain))
    event = ConversationEvent.objects.filter(kind=Kind.MESSAGE_CREATED).latest("id")
    assert event.data["sender_kind"] == "agent" and event.actor_id == bob.user_id


def test_visitor_identified_and_assignment_payloads_match_the_schema(acme, bob, receiver):
    from conversations import services as conversations

    hook = endpoint(
        acme,
        receiver.url,
        events=[Kind.VISITOR_IDENTIFIED, Kind.CONVERSATION_ASSIGNED, Kind.CONVERSATION_REOPENED],
    )
    receiver.secret = hook.secret
    visitor = factories.visitor(acme)
    conversations.visitor_update(
        merchant_id=acme.pk, visitor_id=visitor.pk, external_id="u-7", attributes={"vip": True}
    )
    conversation_id = factories.visitor_message(visitor).conversation_id
    conversations.conversation_claim(
        merchant_id=acme.pk, conversation_id=conversation_id, user_id=bob.user_id
    )
    deliver_all(acme)
    assert receiver.events() == ["visitor.identified", "conversation.assigned"]
    identified, assigned = (r["body"] for r in receiver.requests)
    schema.VisitorIdentified.model_validate(identified)
    schema.ConversationAssigned.model_validate(assigned)
    assert identified["data"]["visitor"]["external_id"] == "u-7"
    assert identified["data"]["visitor"]["attributes"] == {"vip": True}
    assert assigned["data"]["to_user_id"] == bob.user_id and assigned["data"]["rule"]
    assert assigned["actor_user_id"] == bob.user_id


def test_a_burst_of_events_queues_one_fanout(acme, monkeypatch):
    from django.core.cache import cache

    queued = []

    class Task:
        def apply_async(self, kwargs, countdown):
            queued.append((kwargs, countdown))

    monkeypatch.setattr(services.current_app, "tasks", {services.FANOUT_TASK: Task()})
    cache.delete(f"{services.settings.REDIS_KEY_PREFIX}:webhooks:fanout:{acme.pk}")
    for _ in range(20):
        services.fanout_soon(merchant_id=acme.pk)
    assert queued == [({"merchant_id": acme.pk}, services.FANOUT_DELAY)]
