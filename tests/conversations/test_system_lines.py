"""System lines of the visitor's thread (conversations/system_lines.py): the bot handing over,
an agent joining, a transfer and the end are stored messages (sender system, kind event) with
their own seq, so a reload, a resume and the workspace show them in place; they are written in
the visitor's language, never private, and count as nothing a person wrote (no unread, no
preview, no search hit, no reply e-mail)."""

from __future__ import annotations

import pytest
from django.core import mail

from conversations import routing, selectors, services
from conversations.models import Conversation, Message
from tests import factories


def lines(conversation_id):
    return list(
        Message.objects.filter(conversation_id=conversation_id, kind=Message.Kind.EVENT)
        .order_by("seq")
        .values_list("seq", "meta", "body", "sender_kind", "is_private")
    )


def thread(conversation_id, *, include_private=False):
    """(seq, what) of the thread, as the visitor's history reads it."""
    rows = selectors.message_list(
        merchant_id=Conversation.objects.get(pk=conversation_id).merchant_id,
        conversation_id=conversation_id,
        include_private=include_private,
    )
    return [
        (m.seq, m.meta.get("system") if m.kind == Message.Kind.EVENT else m.sender_kind)
        for m in rows
    ]


@pytest.fixture
def chat(acme):
    def start(language="en-US", email=""):
        visitor = factories.visitor(acme, language=language)
        if email:
            visitor.email = email
            visitor.save(update_fields=["email"])
        return factories.visitor_message(visitor, "hello")

    return start


def test_handover_join_transfer_end_are_stored_in_order(acme, alice, bob, chat):
    first = chat()
    cid = first.conversation_id
    Conversation.objects.filter(pk=cid).update(bot_active=True)
    routing.conversation_handover(
        merchant_id=acme.pk, conversation_id=cid, reason="visitor_request", reason_text="asked"
    )
    services.conversation_claim(merchant_id=acme.pk, conversation_id=cid, user_id=bob.user_id)
    factories.agent_message(bob, cid, "Hi, Bob here")
    services.conversation_transfer(
        merchant_id=acme.pk,
        conversation_id=cid,
        actor_user_id=bob.user_id,
        to_user_id=alice.user_id,
        note="VIP, be nice",  # private: never the visitor's
    )
    services.conversation_set_status(
        merchant_id=acme.pk, conversation_id=cid, actor_user_id=alice.user_id, status="resolved"
    )
    assert thread(cid) == [
        (1, "visitor"),
        (2, "handover"),
        (3, "joined"),
        (4, "agent"),
        # seq 5 is the private transfer note: a hole the visitor never sees
        (6, "transferred"),
        (7, "ended"),
    ]
    assert (5, "agent") in thread(cid, include_private=True)
    got = lines(cid)
    assert [m["agent"] for _, m, *_ in got if "agent" in m] == ["Bob", "Alice 客服"]
    assert [b for _, _, b, *_ in got] == [
        "The assistant passed your conversation to our team.",
        "Bob joined the conversation.",
        "Your conversation was transferred to Alice 客服.",
        "The conversation has ended. Write again any time to reopen it.",
    ]
    assert {(k, p) for *_, k, p in got} == {("system", False)}
    conversation = Conversation.objects.get(pk=cid)
    # Nothing a person wrote: the inbox row still previews Bob's reply.
    assert conversation.last_message_preview == "Hi, Bob here"
    assert conversation.last_message_sender_kind == "agent"
    assert conversation.unread_visitor_count == 1  # Bob's reply only


def test_lines_are_in_the_visitors_language(acme, bob, chat):
    first = chat(language="zh-CN")
    services.conversation_claim(
        merchant_id=acme.pk, conversation_id=first.conversation_id, user_id=bob.user_id
    )
    (line,) = lines(first.conversation_id)
    assert line[2] == "Bob已加入会话。"


def test_same_agent_again_says_nothing_and_a_reopened_chat_joins_again(acme, bob, chat):
    first = chat()
    cid = first.conversation_id
    services.conversation_claim(merchant_id=acme.pk, conversation_id=cid, user_id=bob.user_id)
    services.conversation_transfer(
        merchant_id=acme.pk, conversation_id=cid, actor_user_id=bob.user_id, to_user_id=bob.user_id
    )
    assert [m["system"] for _, m, *_ in lines(cid)] == ["joined"]
    services.conversation_set_status(
        merchant_id=acme.pk, conversation_id=cid, actor_user_id=bob.user_id, status="resolved"
    )
    services.conversation_set_status(
        merchant_id=acme.pk, conversation_id=cid, actor_user_id=bob.user_id, status="open"
    )
    assert [m["system"] for _, m, *_ in lines(cid)] == ["joined", "ended", "joined"]


def test_lines_are_not_unread_searched_or_mailed(acme, bob, chat, settings):
    settings.VISITOR_REPLY_EMAIL_DELAY = 0
    first = chat(email="v@example.com")
    cid = first.conversation_id
    services.conversation_claim(merchant_id=acme.pk, conversation_id=cid, user_id=bob.user_id)
    services.conversation_mark_read_by_visitor(
        merchant_id=acme.pk, visitor_id=first.conversation.visitor_id, conversation_id=cid, seq=1
    )
    assert Conversation.objects.get(pk=cid).unread_visitor_count == 0
    hits, _ = selectors.message_search(
        merchant_id=acme.pk, terms=["joined"], before_id=None, limit=20
    )
    assert hits == []
    assert not mail.outbox


def test_the_visitor_resumes_past_a_line(acme, bob, chat):
    """The visitor's replay after last_seq (the resume) carries the lines, and never notes."""
    first = chat()
    cid = first.conversation_id
    services.conversation_claim(merchant_id=acme.pk, conversation_id=cid, user_id=bob.user_id)
    factories.agent_message(bob, cid, "note", private=True)
    factories.agent_message(bob, cid, "hi")
    rows, more = selectors.message_history_after(
        merchant_id=acme.pk, conversation_id=cid, after_seq=1, include_private=False
    )
    assert [(m.seq, m.kind) for m in rows] == [(2, "event"), (4, "text")] and not more
