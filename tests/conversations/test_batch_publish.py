"""What one batch of visitor messages publishes (conversations.batching, realtime.apublish_events):
one channel-layer message per group, carrying that group's events in commit order
(realtime.bundle_event), and with the Redis layer all of them in one pipeline
(kefu.channel_layer.group_send_many). The sockets still get each conversation's frames in seq
order, each message once, on another process too (docs/realtime.md, guarantee 5)."""

import asyncio
import json

import pytest
from channels.layers import get_channel_layer
from django.conf import settings as django_settings

from conversations import batching, realtime
from conversations.models import Conversation
from kefu.channel_layer import RedisPubSubChannelLayer
from tests import factories
from tests.conversations.realtime_helpers import (
    agent_sock,
    fresh_realtime,  # noqa: F401 (autouse)
    quiet_all,
    run,
    visitor_sock,
)
from tests.wsclient import session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


def _frame(n: int) -> dict:
    return {"type": "typing", "n": n}


def test_a_batch_sends_one_message_per_group_in_order_also_to_another_process(
    channel_layer_kind, monkeypatch
):
    """Five events for two groups: each group's subscribers get one message with its events in
    the order they were collected; a group with one event gets the event itself."""
    events = [("g1", _frame(1)), ("g2", _frame(2)), ("g1", _frame(3)), ("g3", _frame(4))]
    events += [("g1", _frame(5)), ("g2", _frame(6))]
    calls = []

    async def scenario():
        sender = get_channel_layer()
        # Another process: its own layer, connections and subscriptions (the in-process layer
        # only reaches its own instance).
        if channel_layer_kind == "redis":
            config = django_settings.CHANNEL_LAYERS["default"]["CONFIG"]
            receiver = RedisPubSubChannelLayer(**config)
        else:
            receiver = sender
        channels = {}
        for group in ("g1", "g2", "g3"):
            channels[group] = [await receiver.new_channel(), await receiver.new_channel()]
            for channel in channels[group]:
                await receiver.group_add(group, channel)
        real_send = sender.group_send
        monkeypatch.setattr(
            sender, "group_send", lambda g, m: calls.append(("group_send", g)) or real_send(g, m)
        )
        if channel_layer_kind == "redis":
            many = sender.group_send_many
            monkeypatch.setattr(
                sender,
                "group_send_many",
                lambda messages: calls.append(("many", [g for g, _ in messages])) or many(messages),
                raising=False,
            )
        await realtime.apublish_events(events)
        got = {}
        for names in channels.values():
            for channel in names:
                got[channel] = await asyncio.wait_for(receiver.receive(channel), 5)
                # Nothing else: one message per group and batch.
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(receiver.receive(channel), 0.3)
        if receiver is not sender:
            await receiver.flush()
        return channels, got

    channels, got = run(scenario())
    for channel in channels["g1"]:
        message = got[channel]
        assert message["type"] == realtime.BUNDLE
        # Each event carries its frame as the JSON text the sockets send (realtime.text_event).
        assert [json.loads(e["text"]) for e in message["events"]] == [_frame(n) for n in (1, 3, 5)]
        assert all(e["type"] == "typing" for e in message["events"])
    for channel in channels["g2"]:
        assert [json.loads(e["text"])["n"] for e in got[channel]["events"]] == [2, 6]
    for channel in channels["g3"]:
        assert got[channel]["type"] == "typing"
        assert json.loads(got[channel]["text"]) == _frame(4)
    if channel_layer_kind == "redis":
        assert calls == [("many", ["g1", "g2", "g3"])]  # one pipeline, no PUBLISH of its own
    else:
        assert sorted(calls) == [("group_send", "g1"), ("group_send", "g2"), ("group_send", "g3")]


def test_sockets_get_a_batch_s_frames_in_commit_order_each_once(acme, bob, channel_layer_kind):
    """Three sends stored in one batch (two in one conversation): the agent socket gets, per
    conversation, message.created and then its inbox row, seq after seq; each visitor socket its
    own messages once; the bundles were unpacked in order."""
    va, vb = factories.visitor(acme), factories.visitor(acme)
    ca = factories.visitor_message(va, "hello").conversation_id
    cb = factories.visitor_message(vb, "hi").conversation_id
    # Assigned: no bot or router step publishes anything besides the messages' own events.
    Conversation.objects.filter(pk__in=[ca, cb]).update(
        assignee_id=bob.user_id, bot_active=False, queued_at=None
    )
    cookie = session_cookie(bob.user)

    async def scenario():
        agent = await agent_sock(acme.pk, cookie, "bob")
        sa = await visitor_sock(acme, va, "va", last_seq=1)
        sb = await visitor_sock(acme, vb, "vb", last_seq=1)
        await quiet_all(agent, sa, sb)
        writer = batching.writer()
        batches = writer.batches

        def send(visitor, cid, body):
            return writer.send(
                merchant_id=acme.pk,
                visitor_id=visitor.pk,
                client_msg_id=cid,
                body=body,
                team_id=None,
                attachment_id=None,
            )

        results = await asyncio.gather(
            send(va, "a2", "二"), send(vb, "b2", "two"), send(va, "a3", "三")
        )
        assert writer.batches == batches + 1  # one transaction, one publish
        got = await quiet_all(agent, sa, sb)
        return results, got

    results, got = run(scenario())
    assert [(m.conversation_id, m.seq) for m, _created in results] == [(ca, 2), (cb, 2), (ca, 3)]

    def stream(frames, conversation_id):
        out = []
        for f in frames:
            if (
                f["type"] == "message.created"
                and f["message"]["conversation_id"] == conversation_id
            ):
                out.append(("message", f["message"]["seq"]))
            elif f["type"] == "conversation.updated" and f["conversation"]["id"] == conversation_id:
                out.append(("row", f["conversation"]["last_seq"]))
        return out

    assert stream(got["bob"], ca) == [("message", 2), ("row", 2), ("message", 3), ("row", 3)]
    assert stream(got["bob"], cb) == [("message", 2), ("row", 2)]
    assert [f["message"]["seq"] for f in got["va"] if f["type"] == "message.created"] == [2, 3]
    assert [f["message"]["seq"] for f in got["vb"] if f["type"] == "message.created"] == [2]
    assert not any(f["type"] == "conversation.updated" for f in got["va"] + got["vb"])


def test_a_frame_with_texts_to_render_per_socket_stays_a_dict_in_a_bundle():
    """A collected frame crosses the layer as the JSON the sockets send, except one whose texts
    each socket renders in its agent's language (realtime.TEXTS): that one stays a frame."""
    spec = {"event.reason": {"msgid": "nobody", "params": {}}}
    created = {"type": "message.created", "message": {"conversation_id": 7, "seq": 3, "body": "好"}}
    routed = {"type": "routing.event", "event": {"reason": "nobody"}, realtime.TEXTS: spec}
    bundle = realtime.bundle_event([created, routed])
    first, second = bundle["events"]
    assert json.loads(first["text"]) == created and "好" in first["text"]  # not \u-escaped
    assert first["ref"] == [7, 3] and realtime.created_ref(first) == (7, 3)
    assert second == {
        "type": "routing.event",
        "frame": {"type": "routing.event", "event": {"reason": "nobody"}},
        "texts": spec,
    }
    # The same message published alone (not collected) is a frame: the ref is read from it.
    assert realtime.created_ref(realtime.layer_event(created)) == (7, 3)
