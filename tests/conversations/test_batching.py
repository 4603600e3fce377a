"""Batched visitor sends (conversations.batching, services.message_send_by_visitor_batch): one
transaction for many sends, with each send's own result, order, idempotency and errors, and
events published only after the commit, in commit order."""

from __future__ import annotations

import asyncio

import pytest
from channels.layers import get_channel_layer
from django.db import transaction

from conversations import batching, realtime, services
from conversations.models import Conversation, Message
from kefu.errors import KefuError
from tests import factories


def _send(merchant, visitor_id, cid, body="你好"):
    return {
        "merchant_id": merchant.pk,
        "visitor_id": visitor_id,
        "client_msg_id": cid,
        "body": body,
    }


def test_a_batch_stores_each_send_and_refuses_only_the_bad_ones(
    acme, django_capture_on_commit_callbacks
):
    v1, v2 = factories.visitor(acme), factories.visitor(acme)
    original = factories.visitor_message(v2, "first", client_msg_id="dup")
    sends = [
        _send(acme, v1.pk, "a1", "一"),
        _send(acme, v2.pk, "dup", "other text"),  # conflicting id: refused
        _send(acme, 999_999, "x", "nobody"),  # unknown visitor: refused
        _send(acme, v1.pk, "a2", "   "),  # empty: refused before the transaction
        _send(acme, v1.pk, "a3", "二"),
        _send(acme, v2.pk, "dup", "first"),  # a retry: the original, not stored again
        _send(acme, v1.pk, "a1", "一"),  # a retry inside the same batch
    ]
    with realtime.deferred_publishes() as events:
        with django_capture_on_commit_callbacks(execute=True):
            results = services.message_send_by_visitor_batch(sends)
    codes = [r.code if isinstance(r, KefuError) else None for r in results]
    assert codes == [None, "client_msg_id_conflict", "not_found", "message_empty", None, None, None]
    (m1, c1), (m3, c3), (dup, c_dup), (again, c_again) = (results[i] for i in (0, 4, 5, 6))
    assert (c1, c3, c_dup, c_again) == (True, True, False, False)
    assert (m1.seq, m3.seq) == (1, 2)  # a visitor's sends keep their order
    assert again.pk == m1.pk and dup.pk == original.pk
    assert Message.objects.filter(conversation__visitor=v1).count() == 2
    assert Message.objects.filter(conversation__visitor=v2).count() == 1
    assert Conversation.objects.get(visitor=v1).last_seq == 2
    # Three events per stored message (agents: message + inbox row, visitor: message), in order.
    created = [
        f["message"]["client_msg_id"]
        for g, f in events
        if f["type"] == "message.created" and g == realtime.agents_group(acme.pk)
    ]
    assert created == ["a1", "a3"]


def test_a_batch_rolled_back_publishes_nothing(acme, django_capture_on_commit_callbacks):
    visitor = factories.visitor(acme)
    with realtime.deferred_publishes() as events:
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            with pytest.raises(RuntimeError):
                with transaction.atomic():
                    services.message_send_by_visitor_batch([_send(acme, visitor.pk, "r1")])
                    raise RuntimeError("the outer transaction fails")
    assert callbacks == [] and events == []
    assert not Message.objects.exists()


def test_the_writer_groups_concurrent_sends_and_acks_after_the_commit(
    transactional_db, acme, settings
):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    visitors = [factories.visitor(acme) for _ in range(12)]

    async def scenario():
        layer = get_channel_layer()
        agents = await layer.new_channel()
        await layer.group_add(realtime.agents_group(acme.pk), agents)
        writer = batching.writer()
        results = await asyncio.gather(
            *(
                writer.send(**_send(acme, v.pk, f"c{i}", f"消息 {i}"))
                for i, v in enumerate(visitors)
            ),
            writer.send(**_send(acme, visitors[0].pk, "c0", "changed")),
            return_exceptions=True,
        )
        # Acknowledged means committed: every message is in the database now.
        stored = await asyncio.to_thread(
            lambda: set(Message.objects.values_list("client_msg_id", flat=True))
        )
        received = []
        while True:
            try:
                event = await asyncio.wait_for(layer.receive(agents), 0.5)
            except TimeoutError:
                break
            received.append(event["frame"])
        return writer, results, stored, received

    from channels.layers import channel_layers

    channel_layers.backends.clear()
    try:
        writer, results, stored, received = asyncio.run(scenario())
    finally:
        channel_layers.backends.clear()
    assert all(isinstance(r, tuple) and r[1] for r in results[:12])
    assert isinstance(results[12], KefuError) and results[12].code == "client_msg_id_conflict"
    assert stored == {f"c{i}" for i in range(12)}
    assert writer.messages == 13 and writer.batches < 13  # sends waiting together share one
    created = [f["message"]["client_msg_id"] for f in received if f["type"] == "message.created"]
    assert sorted(created) == sorted(stored) and len(created) == 12
