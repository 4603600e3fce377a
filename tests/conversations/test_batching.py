"""Batched visitor sends (conversations.batching, services.message_send_by_visitor_batch): one
transaction for many sends, with each send's own result, order, idempotency and errors, and
events published only after the commit, in commit order."""

from __future__ import annotations

import asyncio
import json

import pytest
from channels.layers import get_channel_layer
from django.db import transaction
from django.utils import timezone

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
            # A group's events of one batch come as one bundle, in commit order.
            for one in event["events"] if event["type"] == realtime.BUNDLE else [event]:
                # A batch's frame as JSON text, encoded once for every socket
                # (realtime.text_event), a message.created with its (conversation_id, seq).
                if "text" not in one:
                    received.append(one["frame"])  # published alone, not by a batch
                    continue
                frame = json.loads(one["text"])
                if one["type"] == "message.created":
                    m = frame["message"]
                    assert one["ref"] == [m["conversation_id"], m["seq"]]
                received.append(frame)
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
    # Each message's inbox row follows its message.created, as the service published them.
    for i, frame in enumerate(received):
        if frame["type"] == "message.created":
            m = frame["message"]
            assert any(
                f["type"] == "conversation.updated"
                and f["conversation"]["id"] == m["conversation_id"]
                and f["conversation"]["last_seq"] == m["seq"]
                for f in received[i + 1 :]
            )


def test_a_send_with_nothing_behind_it_goes_before_the_backlogged_sockets_sends(
    transactional_db, acme, settings
):
    """Overload (conversations.batching, "Whose sends go first"): a socket with no backlog
    (a quiet visitor) is stored in the next batch, not after one send of every flooding socket;
    and a few places of each batch stay for the backlogged sockets."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    visitors = _ongoing(acme, 80)
    batch = batching.MAX_BATCH

    async def round_of(sends):
        """All sends wait together (the writer starts once they are queued); their results."""
        writer = batching.writer()
        results = await asyncio.gather(
            *(writer.send(waiting=w, **_send(acme, v.pk, cid)) for v, cid, w in sends)
        )
        return {cid: message.pk for (_, cid, _), (message, _) in zip(sends, results)}

    # 79 backlogged sockets' sends, then a quiet one's: it goes in the first batch.
    backlog, sparse = batching.SPARSE_WAITING + 1, batching.SPARSE_WAITING
    flood = [(v, f"flood-{i}", backlog) for i, v in enumerate(visitors[:79])]
    ids = asyncio.run(round_of([*flood, (visitors[79], "quiet", sparse)]))
    first = [ids[f"flood-{i}"] for i in range(batch - 1)]
    second = [ids[f"flood-{i}"] for i in range(batch - 1, 79)]
    assert ids["quiet"] < min(second) and max(first) < min(second)
    # 70 sockets without a backlog, then 5 backlogged ones: the 5 are not left for later.
    sends = [(v, f"sparse-{i}", 0) for i, v in enumerate(visitors[:70])]
    sends += [(v, f"backlog-{i}", backlog) for i, v in enumerate(visitors[70:75])]
    ids = asyncio.run(round_of(sends))
    later = [ids[f"sparse-{i}"] for i in range(batch - 5, 70)]
    assert max(ids[f"backlog-{i}"] for i in range(5)) < min(later)
    assert max(ids[f"sparse-{i}"] for i in range(batch - 5)) < min(later)


def test_a_batch_with_a_sparse_send_takes_only_the_backlogged_share():
    """The quiet visitor waits for its own batch's transaction: with a sparse send in it, a
    batch takes BACKLOGGED_SHARE backlogged sends, not MAX_BATCH; without one, a full batch."""
    writer = batching.VisitorMessageWriter()
    writer.backlogged = [({"flood": i}, None) for i in range(100)]
    writer.pending = [({"quiet": 0}, None)]
    first = writer._next_batch()
    share = batching.BACKLOGGED_SHARE
    assert [k for k, _ in first] == [{"quiet": 0}] + [{"flood": i} for i in range(share)]
    second = writer._next_batch()
    assert [k for k, _ in second] == [
        {"flood": i} for i in range(share, share + batching.MAX_BATCH)
    ]
    # Sparse sends beyond what the share leaves room for wait for the next batch, in order.
    writer.pending = [({"quiet": i}, None) for i in range(batching.MAX_BATCH)]
    third = writer._next_batch()
    assert [k for k, _ in third] == [{"quiet": i} for i in range(batching.MAX_BATCH - share)] + [
        {"flood": i} for i in range(share + batching.MAX_BATCH, 2 * share + batching.MAX_BATCH)
    ]
    assert len(writer.pending) == share


# --- Sends to ongoing conversations: a few statements for the whole batch ----------------------


def _ongoing(merchant, n, agent=None):
    """n visitors each with an open conversation (assigned to `agent` if given)."""
    visitors = [factories.visitor(merchant) for _ in range(n)]
    for v in visitors:
        factories.visitor_message(v, "hello", client_msg_id=f"first-{v.pk}")
    if agent is not None:
        Conversation.objects.filter(visitor__in=visitors).update(assignee_id=agent.user_id)
    return visitors


def _batch(sends, capture):
    """The batch with its after-commit callbacks run, and the events they published."""
    with realtime.deferred_publishes() as events, capture(execute=True):
        results = services.message_send_by_visitor_batch(sends)
    return results, events


def test_a_batch_to_ongoing_conversations_costs_the_same_statements_whatever_its_size(
    acme, bob, django_capture_on_commit_callbacks
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    if not connection.features.can_return_rows_from_bulk_insert:
        pytest.skip("MySQL has no INSERT ... RETURNING: its batches go the per-message way")
    visitors = _ongoing(acme, 12, agent=bob)
    counts = []
    for size, rnd in ((2, "a"), (24, "b")):
        sends = [_send(acme, visitors[i % 12].pk, f"{rnd}{i}", f"消息 {i}") for i in range(size)]
        with CaptureQueriesContext(connection) as queries:
            results, _ = _batch(sends, django_capture_on_commit_callbacks)
        assert all(isinstance(r, tuple) and r[1] for r in results)
        counts.append(len(queries))
    # visitors, conversations (their ids, the lock by primary key, the rows: conversations_lock),
    # savepoint, INSERT, release, search rows, UPDATE (+ transaction)
    assert counts[0] == counts[1] <= 11, counts
    # Each visitor's sends in order, after what was stored before.
    for v in visitors:
        seqs = list(
            Message.objects.filter(conversation__visitor=v)
            .order_by("seq")
            .values_list("client_msg_id", flat=True)
        )
        i = visitors.index(v)
        mine = [f"b{j}" for j in range(24) if j % 12 == i]
        assert seqs == [f"first-{v.pk}"] + ([f"a{i}"] if i < 2 else []) + mine


def test_a_batch_writes_what_one_send_at_a_time_writes(
    acme, bob, django_capture_on_commit_callbacks
):
    """The same sends through the batch and through message_send_by_visitor, on two identical
    sets of conversations: the same rows, counters and frames (ids and times aside)."""
    from knowledge.sentiment import analyze

    angry = next(
        t
        for t in ("气死我了，太差劲了，垃圾", "垃圾服务，差评，投诉")
        if analyze(t).strongly_negative
    )
    batched, alone = _ongoing(acme, 3), _ongoing(acme, 3)
    # Two assigned conversations (no step), one the bot answers (the step runs).
    for visitors in (batched, alone):
        Conversation.objects.filter(visitor__in=visitors[:2]).update(assignee_id=bob.user_id)
        Conversation.objects.filter(visitor=visitors[2]).update(bot_active=True)
    snooze = timezone.now()
    Conversation.objects.filter(visitor__in=[batched[1], alone[1]]).update(
        snoozed_at=snooze, awaiting_reply_since=None
    )
    bodies = [(0, "一"), (1, angry), (0, "二"), (2, "三")]
    with realtime.deferred_publishes() as events_a:
        with django_capture_on_commit_callbacks(execute=True):
            results = services.message_send_by_visitor_batch(
                [_send(acme, batched[i].pk, f"m{k}", body) for k, (i, body) in enumerate(bodies)]
            )
    assert all(isinstance(r, tuple) and r[1] for r in results)
    with realtime.deferred_publishes() as events_b:
        with django_capture_on_commit_callbacks(execute=True):
            for k, (i, body) in enumerate(bodies):
                services.message_send_by_visitor(
                    merchant_id=acme.pk, visitor_id=alone[i].pk, client_msg_id=f"m{k}", body=body
                )

    def row(c):
        return {
            f: getattr(c, f)
            for f in (
                "last_seq",
                "last_message_preview",
                "last_message_sender_kind",
                "unread_agent_count",
                "priority",
                "pipeline_seq",
                "status",
            )
        } | {
            f: getattr(c, f) is None
            for f in ("awaiting_reply_since", "snoozed_at", "pipeline_pending_since")
        }

    for a, b in zip(batched, alone):
        assert row(Conversation.objects.get(visitor=a)) == row(Conversation.objects.get(visitor=b))
    assert Conversation.objects.get(visitor=batched[1]).priority == store_priority()

    def shape(events, visitors):
        """Each conversation's frames in order, by recipient (what else the step sent aside)."""
        ids = dict(
            Conversation.objects.filter(visitor_id__in=visitors).values_list("pk", "visitor_id")
        )
        out: dict = {}
        for group, frame in events:
            body = frame.get("message") or frame.get("conversation") or {}
            conversation = body.get("conversation_id") or body.get("id")
            if conversation not in ids:
                out.setdefault("other", []).append(frame["type"])
                continue
            recipient = "agents" if group == realtime.agents_group(acme.pk) else "visitor"
            key = (visitors.index(ids[conversation]), recipient)
            out.setdefault(key, []).append(
                {k: v for k, v in body.items() if k not in VARYING} | {"type": frame["type"]}
            )
        return out

    a, b = shape(events_a, [v.pk for v in batched]), shape(events_b, [v.pk for v in alone])
    assert a == b and len(a[(0, "agents")]) == 4 and len(a[(0, "visitor")]) == 2


# What differs between two identical conversations' frames.
VARYING = {
    "id",
    "conversation_id",
    "created_at",
    "last_message_at",
    "awaiting_reply_since",
    "visitor",
    "sender_name",
    "queued_at",
    # The batch's bot conversation joined the merchant's queue first, the other one second.
    "queue_position",
    "estimated_wait_seconds",
}


def store_priority():
    from conversations.services.store import NEGATIVE_PRIORITY

    return NEGATIVE_PRIORITY


def test_a_retry_in_a_batch_of_ongoing_conversations_gets_its_original(
    acme, bob, django_capture_on_commit_callbacks
):
    v1, v2 = _ongoing(acme, 2, agent=bob)
    original = Message.objects.get(client_msg_id=f"first-{v1.pk}")
    sends = [
        _send(acme, v2.pk, "n1", "新"),
        _send(acme, v1.pk, f"first-{v1.pk}", "hello"),  # stored before: the unique key answers
        _send(acme, v1.pk, "n2", "又"),
    ]
    results, events = _batch(sends, django_capture_on_commit_callbacks)
    (m_new, c_new), (again, c_again), (m2, c2) = results
    assert (c_new, c_again, c2) == (True, False, True)
    assert again.pk == original.pk and (m_new.seq, m2.seq) == (2, 2)
    assert Message.objects.filter(client_msg_id=f"first-{v1.pk}").count() == 1
    created = [
        f["message"]["client_msg_id"]
        for g, f in events
        if f["type"] == "message.created" and g == realtime.agents_group(acme.pk)
    ]
    assert sorted(created) == ["n1", "n2"]
    # A conflicting reuse is refused alone.
    results, _ = _batch(
        [_send(acme, v1.pk, "n2", "其他"), _send(acme, v2.pk, "n3", "好")],
        django_capture_on_commit_callbacks,
    )
    assert isinstance(results[0], KefuError) and results[0].code == "client_msg_id_conflict"
    assert isinstance(results[1], tuple) and results[1][0].seq == 3


def test_a_refused_or_reopening_send_goes_alone_and_the_others_together(
    acme, bob, django_capture_on_commit_callbacks
):
    blocked, resolved, fine = _ongoing(acme, 3, agent=bob)
    from conversations.models import Visitor

    Visitor.objects.filter(pk=blocked.pk).update(blocked_at=timezone.now())
    Conversation.objects.filter(visitor=resolved).update(
        status=Conversation.Status.RESOLVED, resolved_at=timezone.now()
    )
    results, _ = _batch(
        [
            _send(acme, fine.pk, "f1", "一"),
            _send(acme, blocked.pk, "b1", "二"),
            _send(acme, resolved.pk, "r1", "三"),
            _send(acme, fine.pk, "f2", "四"),
            _send(acme, fine.pk, "f3", "六"),
        ],
        django_capture_on_commit_callbacks,
    )
    assert isinstance(results[1], KefuError) and results[1].code == "visitor_blocked"
    assert [results[i][0].seq for i in (0, 3, 4)] == [2, 3, 4]
    reopened = Conversation.objects.get(visitor=resolved)
    assert reopened.status == Conversation.Status.OPEN and reopened.last_seq == 2
    assert not Message.objects.filter(client_msg_id="b1").exists()


def test_a_send_naming_another_merchants_visitor_is_refused_in_a_batch(
    acme, bob, other, django_capture_on_commit_callbacks
):
    (v,) = _ongoing(acme, 1, agent=bob)
    results, _ = _batch(
        [_send(other, v.pk, "x1", "外"), _send(acme, v.pk, "x2", "内")],
        django_capture_on_commit_callbacks,
    )
    assert isinstance(results[0], KefuError) and results[0].code == "not_found"
    assert isinstance(results[1], tuple) and results[1][0].seq == 2
    assert not Message.objects.filter(client_msg_id="x1").exists()


@pytest.fixture
def fresh_subscriptions():
    """Merchant ids repeat across tests (rolled back): no later test sees this one's
    subscriptions (as tests/webhooks/conftest.py)."""
    from merchants.selectors import merchant_webhook_kinds_forget

    merchant_webhook_kinds_forget()
    yield
    merchant_webhook_kinds_forget()


def test_a_batch_records_message_created_for_webhook_subscribers(
    acme, bob, django_capture_on_commit_callbacks, fresh_subscriptions
):
    from conversations.models import ConversationEvent
    from merchants.services import merchant_webhook_kinds_set

    with django_capture_on_commit_callbacks(execute=True):
        merchant_webhook_kinds_set(merchant_id=acme.pk, kinds={"message.created"})
    v1, v2 = _ongoing(acme, 2, agent=bob)
    before = ConversationEvent.objects.filter(kind="message.created").count()
    results, _ = _batch(
        [_send(acme, v1.pk, "w1", "一"), _send(acme, v2.pk, "w2", "二")],
        django_capture_on_commit_callbacks,
    )
    rows = ConversationEvent.objects.filter(kind="message.created").order_by("id")[before:]
    assert [r.data["message_id"] for r in rows] == [results[0][0].pk, results[1][0].pk]
    assert [r.data["seq"] for r in rows] == [2, 2]
