"""Hostile input on the sockets and the REST API (issue 16, findings 1 and 8, docs/security.md):
deeply nested JSON and lone surrogates get a coded error and the socket stays up; nothing is
stored, never a 500, 1011 or internal_error."""

from __future__ import annotations

import asyncio

import pytest

from conversations.models import Conversation, Message
from tests import factories
from tests.wsclient import auth_visitor, open_agent, open_visitor, receive_until, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)

# About 10 KB of brackets, as in the review: deeper than Python's recursion limit.
DEEP = "[" * 10_000 + "]" * 10_000
DEEP_OBJECT = '{"type": "message.send", "client_msg_id": "d1", "body": ' + DEEP + "}"
# Deep, but under the recursion limit: parses, and must still be refused before any use.
MEDIUM = '{"type": "ping", "x": ' + "[" * 500 + "]" * 500 + "}"
SURROGATE_BODY = '{"type": "message.send", "client_msg_id": "s1", "body": "hi \\ud800"}'


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


async def ping_pong(comm):
    await comm.send_json_to({"type": "ping"})
    frame, _ = await receive_until(comm, "pong")
    assert frame == {"type": "pong"}


async def expect_error(comm, raw: str, code: str) -> dict:
    await comm.send_to(text_data=raw)
    error, _ = await receive_until(comm, "error")
    assert error["code"] == code, error
    await ping_pong(comm)
    return error


@pytest.mark.parametrize("raw", [DEEP, DEEP_OBJECT, MEDIUM])
def test_deep_json_on_visitor_socket_before_and_after_auth(acme, raw):
    visitor = factories.visitor(acme)

    async def scenario():
        comm, connected, _ = await open_visitor(acme)
        assert connected
        await expect_error(comm, raw, "invalid_json")  # before auth
        await comm.disconnect()
        comm, _ = await auth_visitor(acme, visitor)
        await expect_error(comm, raw, "invalid_json")
        await comm.disconnect()

    run(scenario())
    assert not Message.objects.exists()


@pytest.mark.parametrize("raw", [DEEP, DEEP_OBJECT])
def test_deep_json_on_agent_socket(acme, bob, raw):
    cookie = session_cookie(bob.user)

    async def scenario():
        agent, connected, _ = await open_agent(acme.pk, cookie)
        assert connected
        await receive_until(agent, "session.ready")
        await expect_error(agent, raw, "invalid_json")
        await agent.disconnect()

    run(scenario())


@pytest.mark.parametrize(
    "raw", ['{"type": ["message.send"]}', '{"type": {"a": 1}}', '{"type": 5}', '{"type": null}']
)
def test_frame_type_of_the_wrong_type_is_unknown_type(acme, bob, raw):
    visitor = factories.visitor(acme)
    cookie = session_cookie(bob.user)

    async def scenario():
        comm, _ = await auth_visitor(acme, visitor)
        await expect_error(comm, raw, "unknown_type")
        agent, connected, _ = await open_agent(acme.pk, cookie)
        await receive_until(agent, "session.ready")
        await expect_error(agent, raw, "unknown_type")

    run(scenario())


def test_lone_surrogate_refused_on_both_sockets_and_the_api(acme, bob):
    visitor = factories.visitor(acme)
    conversation = factories.visitor_message(visitor, "first").conversation
    cookie = session_cookie(bob.user)

    async def scenario():
        comm, _ = await auth_visitor(acme, visitor)
        error = await expect_error(comm, SURROGATE_BODY, "invalid_frame")
        assert "body" in error["fields"] and "U+D800" in error["fields"]["body"]
        # The same in a field other than the body (stored too: the page's title).
        await expect_error(
            comm,
            '{"type": "page.view", "url": "https://a.example/", "title": "\\udfff"}',
            "invalid_frame",
        )
        agent, _, _ = await open_agent(acme.pk, cookie)
        await receive_until(agent, "session.ready")
        raw = SURROGATE_BODY.replace("}", f', "conversation_id": {conversation.pk}}}')
        error = await expect_error(agent, raw, "invalid_frame")
        assert "body" in error["fields"]

    run(scenario())
    assert list(Message.objects.exclude(kind="event").values_list("body", flat=True)) == ["first"]


def test_lone_surrogate_refused_by_the_message_service(acme, bob):
    from conversations import services
    from kefu.errors import KefuError

    visitor = factories.visitor(acme)
    with pytest.raises(KefuError) as caught:
        services.clean_body("a\udc00b")
    assert caught.value.field == "body"
    assert not Conversation.objects.filter(visitor=visitor).exists()


@pytest.mark.parametrize("body", [DEEP, '{"body": ' + DEEP + "}"])
def test_deep_json_is_a_400_on_the_api(acme, body, client):
    token = factories.api_token(acme)
    visitor = factories.visitor(acme)
    conv = factories.visitor_message(visitor).conversation
    for path in (f"/api/v1/conversations/{conv.pk}/messages/", "/api/v1/kb/faqs/"):
        response = client.post(
            path, data=body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
        )
        assert response.status_code == 400, (path, response.status_code)
    assert Message.objects.count() == 1


def test_fuzz_findings_on_both_sockets(acme, bob):
    """Found by the WebSocket fuzz (tests/conversations/test_ws_fuzz.py): a lone surrogate as
    `client_msg_id` was echoed as the error's `ref` and closed the socket with 1011; an id past
    a 64-bit integer reached the database driver (internal_error)."""
    visitor = factories.visitor(acme)
    conversation = factories.visitor_message(visitor, "first").conversation
    cookie = session_cookie(bob.user)
    surrogate_id = '{"type": "message.send", "client_msg_id": "a\\ud800", "body": "hi"}'
    huge = 10**30

    async def scenario():
        comm, _ = await auth_visitor(acme, visitor)
        error = await expect_error(comm, surrogate_id, "invalid_frame")
        assert error.get("ref") is None and "client_msg_id" in error["fields"]
        error = await expect_error(
            comm, f'{{"type": "conversation.read", "seq": {huge}}}', "invalid_frame"
        )
        assert "seq" in error["fields"]
        agent, _, _ = await open_agent(acme.pk, cookie)
        await receive_until(agent, "session.ready")
        for raw in (
            surrogate_id.replace("}", f', "conversation_id": {conversation.pk}}}'),
            f'{{"type": "conversation.claim", "conversation_id": {huge}}}',
            f'{{"type": "conversation.read", "conversation_id": {2**63}, "seq": 1}}',
            f'{{"type": "resume", "conversations": {{"{huge}": 1}}}}',
        ):
            await expect_error(agent, raw, "invalid_frame")
        # The largest id still fits: it is simply not found.
        await expect_error(
            agent, f'{{"type": "conversation.claim", "conversation_id": {2**63 - 1}}}', "not_found"
        )

    run(scenario())
    # Nothing of the hostile frames was stored (the routing's "joined" line is not theirs).
    assert list(
        Message.objects.exclude(kind=Message.Kind.EVENT).values_list("body", flat=True)
    ) == ["first"]
