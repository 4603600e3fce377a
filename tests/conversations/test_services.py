"""Services: sequence numbers, idempotency, validation, read state, tenant scoping."""

import threading

import pytest
from django.db import close_old_connections, connection

from conversations import services
from conversations.models import Conversation, Message
from kefu.errors import KefuError, NotFound
from tests import factories
from tests.conftest import require_mysql


def test_visitor_messages_get_gap_free_seq_in_one_conversation(acme):
    visitor = factories.visitor(acme)
    bodies = ["你好", "在吗？", "emoji 😀🎉"]
    messages = [factories.visitor_message(visitor, b) for b in bodies]
    assert [m.seq for m in messages] == [1, 2, 3]
    assert len({m.conversation_id for m in messages}) == 1
    conversation = Conversation.objects.get(pk=messages[0].conversation_id)
    assert conversation.last_seq == 3
    assert conversation.unread_agent_count == 3
    assert conversation.last_message_preview == "emoji 😀🎉"
    assert list(Message.objects.values_list("body", flat=True).order_by("seq")) == bodies


def test_retry_with_same_client_msg_id_returns_original(acme):
    visitor = factories.visitor(acme)
    first, created = services.message_send_by_visitor(
        merchant_id=acme.pk, visitor_id=visitor.pk, client_msg_id="m-1", body="hello"
    )
    again, created_again = services.message_send_by_visitor(
        merchant_id=acme.pk, visitor_id=visitor.pk, client_msg_id="m-1", body="  hello "
    )
    assert created and not created_again
    assert again.pk == first.pk
    assert Message.objects.count() == 1
    assert Conversation.objects.get().unread_agent_count == 1


def test_reused_client_msg_id_with_other_body_is_refused_and_changes_nothing(acme):
    visitor = factories.visitor(acme)
    original = factories.visitor_message(visitor, "first", client_msg_id="dup")
    with pytest.raises(KefuError) as exc:
        factories.visitor_message(visitor, "second", client_msg_id="dup")
    assert exc.value.code == "client_msg_id_conflict"
    original.refresh_from_db()
    assert original.body == "first"
    assert Message.objects.count() == 1


def test_same_client_msg_id_from_visitor_and_agent_are_different_messages(acme, bob):
    visitor = factories.visitor(acme)
    m1 = factories.visitor_message(visitor, "q", client_msg_id="same")
    m2 = factories.agent_message(bob, m1.conversation_id, "a", client_msg_id="same")
    # seq 2: "Bob joined" (his reply claimed the conversation).
    assert (m1.seq, m2.seq) == (1, 3)


@pytest.mark.parametrize(
    "body, code",
    [("", "message_empty"), ("   \n ", "message_empty"), ("x" * 5001, "message_too_long")],
)
def test_bad_bodies_are_refused_and_nothing_is_written(acme, body, code):
    visitor = factories.visitor(acme)
    with pytest.raises(KefuError) as exc:
        factories.visitor_message(visitor, body)
    assert exc.value.code == code and exc.value.field == "body"
    assert not Conversation.objects.exists()
    assert not Message.objects.exists()


def test_message_at_the_limit_is_accepted(acme):
    visitor = factories.visitor(acme)
    assert len(factories.visitor_message(visitor, "字" * 5000).body) == 5000


def test_agent_reply_sets_first_response_assignee_and_visitor_unread(acme, bob):
    visitor = factories.visitor(acme)
    m = factories.visitor_message(visitor)
    reply = factories.agent_message(bob, m.conversation_id, "您好")
    conversation = Conversation.objects.get()
    assert reply.sender_kind == "agent" and reply.sender_name == "Bob"
    assert conversation.assignee_id == bob.user_id
    assert conversation.first_response_at == reply.created_at
    assert conversation.unread_visitor_count == 1
    assert conversation.unread_agent_count == 1


def test_private_note_is_not_a_reply(acme, bob):
    visitor = factories.visitor(acme)
    m = factories.visitor_message(visitor, "hi")
    note = factories.agent_message(bob, m.conversation_id, "VIP customer", private=True)
    conversation = Conversation.objects.get()
    assert note.is_private and note.seq == 2
    assert conversation.first_response_at is None
    assert conversation.assignee_id is None
    assert conversation.unread_visitor_count == 0
    assert conversation.last_message_preview == "hi"


def test_resolved_conversation_reopens_on_visitor_message_and_closed_starts_new(acme):
    visitor = factories.visitor(acme)
    first = factories.visitor_message(visitor)
    Conversation.objects.filter(pk=first.conversation_id).update(status="resolved")
    second = factories.visitor_message(visitor)
    assert second.conversation_id == first.conversation_id
    assert Conversation.objects.get(pk=first.conversation_id).status == "open"
    Conversation.objects.filter(pk=first.conversation_id).update(status="closed")
    third = factories.visitor_message(visitor)
    assert third.conversation_id != first.conversation_id and third.seq == 1


def test_agent_cannot_write_to_closed_conversation(acme, bob):
    m = factories.visitor_message(factories.visitor(acme))
    Conversation.objects.filter(pk=m.conversation_id).update(status="closed")
    with pytest.raises(KefuError) as exc:
        factories.agent_message(bob, m.conversation_id)
    assert exc.value.code == "conversation_closed"
    assert Message.objects.count() == 1


def test_agent_of_other_merchant_cannot_reach_conversation(acme, charlie):
    m = factories.visitor_message(factories.visitor(acme))
    with pytest.raises(NotFound):
        factories.agent_message(charlie, m.conversation_id, "hijack")
    with pytest.raises(NotFound):
        services.conversation_mark_read_by_agent(
            merchant_id=charlie.merchant_id, conversation_id=m.conversation_id, seq=1
        )
    with pytest.raises(NotFound):
        services.message_send_by_visitor(
            merchant_id=charlie.merchant_id,
            visitor_id=m.conversation.visitor_id,
            client_msg_id="x",
            body="x",
        )
    assert Message.objects.count() == 1


def test_read_state_recounts_unread(acme, bob):
    visitor = factories.visitor(acme)
    for body in ["a", "b", "c"]:
        factories.visitor_message(visitor, body)
    conversation_id = Conversation.objects.get().pk
    factories.agent_message(bob, conversation_id, "reply")
    conv = services.conversation_mark_read_by_agent(
        merchant_id=acme.pk, conversation_id=conversation_id, seq=2
    )
    assert conv.agent_last_read_seq == 2 and conv.unread_agent_count == 1
    # Going backwards changes nothing; beyond the end is clamped.
    conv = services.conversation_mark_read_by_agent(
        merchant_id=acme.pk, conversation_id=conversation_id, seq=1
    )
    assert conv.agent_last_read_seq == 2
    conv = services.conversation_mark_read_by_agent(
        merchant_id=acme.pk, conversation_id=conversation_id, seq=99
    )
    # seq 4 is "Bob joined" (his reply claimed it), the reply seq 5.
    assert conv.agent_last_read_seq == 5 and conv.unread_agent_count == 0
    conv = services.conversation_mark_read_by_visitor(
        merchant_id=acme.pk, visitor_id=visitor.pk, conversation_id=None, seq=4
    )
    assert conv.unread_visitor_count == 1  # the reply; the line itself is no unread reply
    conv = services.conversation_mark_read_by_visitor(
        merchant_id=acme.pk, visitor_id=visitor.pk, conversation_id=None, seq=5
    )
    assert conv.unread_visitor_count == 0 and conv.visitor_last_read_seq == 5


def test_visitor_touch_keeps_one_row_per_anonymous_id_and_updates_page(acme, other):
    v1 = services.visitor_touch(
        merchant=acme, anonymous_id="a" * 20, page_url="https://s/1", page_title="一"
    )
    v2 = services.visitor_touch(
        merchant=acme, anonymous_id="a" * 20, page_url="https://s/2", page_title="二"
    )
    v3 = services.visitor_touch(merchant=other, anonymous_id="a" * 20)
    assert v1.pk == v2.pk != v3.pk
    v2.refresh_from_db()
    assert (v2.page_url, v2.page_title) == ("https://s/2", "二")


def _run_in_threads(n, target):
    errors = []

    def wrapper(i):
        try:
            target(i)
        except Exception as exc:
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=wrapper, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return errors


@pytest.mark.django_db(transaction=True)
def test_concurrent_sends_get_unique_gap_free_seq_on_mysql(acme, bob):
    """Real row locks: 8 writers (visitor + agent) race on one conversation."""
    require_mysql()
    visitor = factories.visitor(acme)
    first = factories.visitor_message(visitor, "start")

    def send(i):
        if i % 2:
            factories.visitor_message(visitor, f"v{i}", client_msg_id=f"v{i}")
        else:
            factories.agent_message(bob, first.conversation_id, f"a{i}", client_msg_id=f"a{i}")

    assert _run_in_threads(8, send) == []
    seqs = list(Message.objects.order_by("seq").values_list("seq", flat=True))
    # 9 sent messages plus the stored "Bob joined" line of the first agent reply's claim.
    assert seqs == list(range(1, 11))
    assert Message.objects.filter(kind=Message.Kind.EVENT).count() == 1
    assert Conversation.objects.get().last_seq == 10


@pytest.mark.django_db(transaction=True)
def test_concurrent_first_messages_start_one_conversation_on_mysql(acme):
    require_mysql()
    visitor = factories.visitor(acme)
    errors = _run_in_threads(
        6, lambda i: factories.visitor_message(visitor, f"hi {i}", client_msg_id=f"c{i}")
    )
    assert errors == []
    assert Conversation.objects.count() == 1
    assert sorted(Message.objects.values_list("seq", flat=True)) == [1, 2, 3, 4, 5, 6]


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicate_sends_store_one_row_on_mysql(acme):
    require_mysql()
    visitor = factories.visitor(acme)
    factories.visitor_message(visitor, "open")
    errors = _run_in_threads(
        6, lambda i: factories.visitor_message(visitor, "same text", client_msg_id="retry-1")
    )
    assert errors == []
    assert Message.objects.filter(client_msg_id="retry-1").count() == 1


def test_utf8mb4_round_trip(acme):
    text = "中文 English 😀🈶️ 𠮷"
    m = factories.visitor_message(factories.visitor(acme, name="王小明 🐼"), text)
    stored = Message.objects.get(pk=m.pk)
    assert stored.body == text
    assert stored.conversation.visitor.name == "王小明 🐼"
