"""End to end: a real daphne, a real Celery worker and real Redis (broker, channel layer and
presence shared by both processes). Two agents are connected over real WebSockets; the assigned
one does not answer, and after the 2-second acceptance timeout the worker moves the conversation
to the other; when that one is silent too it goes back to the head of the queue."""

import asyncio
import json
import time
import uuid

import pytest
import websockets

from conversations.models import Conversation, RoutingEvent
from merchants.models import Membership
from tests import factories
from tests.conftest import DaphneProcess, free_port, redis_url
from tests.conversations.routing_helpers import english, fresh_realtime  # noqa: F401 (autouse)
from tests.conversations.test_daphne import bootstrap
from tests.wsclient import session_cookie

pytestmark = pytest.mark.live


@pytest.fixture
def stack(start_celery_worker, tmp_path):
    """daphne + a Celery worker on a queue and a Redis key prefix of this test's own."""
    url = redis_url()
    prefix = f"kefutest-e2e-{uuid.uuid4().hex[:8]}"
    worker = start_celery_worker(REDIS_URL=url, REDIS_KEY_PREFIX=prefix, LANGUAGE_CODE="en")
    server = DaphneProcess(free_port(), tmp_path / "daphne.log", worker.env)  # same queue
    yield server, worker
    server.stop()


async def frames_until(ws, predicate, timeout=20):
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if predicate(frame):
            return frame


def routing_event(kind):
    return lambda f: f["type"] == "routing.event" and f["event"]["kind"] == kind


def test_worker_moves_an_unanswered_conversation_then_returns_it_to_the_queue(
    stack, acme, alice, bob
):
    server, worker = stack
    carol = factories.member(acme, "carol", display_name="Carol")
    Membership.objects.filter(pk=alice.pk).update(is_away=True)  # the owner only supervises
    acme.allowed_origins = server.url
    acme.accept_timeout_seconds, acme.max_reassignments, acme.sticky_agent = 2, 1, False
    acme.save()
    boot = bootstrap(server, acme, server.url)
    cookies = {m.user.username: session_cookie(m.user).decode() for m in (bob, carol)}
    names = {bob.user_id: "Bob", carol.user_id: "Carol"}

    async def agent(name):
        ws = await websockets.connect(
            f"{server.ws_url}/ws/agent/{acme.pk}/",
            origin=server.url,
            additional_headers={"Cookie": cookies[name]},
        )
        await frames_until(ws, lambda f: f["type"] == "session.ready")
        return ws

    async def scenario():
        b, c = await agent("bob"), await agent("carol")
        visitor = await websockets.connect(server.ws_url + boot["ws_path"], origin=server.url)
        await visitor.send(json.dumps({"type": "auth", "token": boot["token"]}))
        await frames_until(visitor, lambda f: f["type"] == "session.ready")
        await visitor.send(
            json.dumps({"type": "message.send", "client_msg_id": "e2e-1", "body": "有人在吗？"})
        )
        assigned = await frames_until(b, routing_event("assigned"))
        t_assigned = time.monotonic()
        first = assigned["event"]["to_user_id"]
        await frames_until(c, routing_event("assigned"))
        # Nobody answers: the worker fires after 2 s and moves it to the other agent.
        moved = await frames_until(b, routing_event("timeout"))
        t_moved = time.monotonic()
        second = moved["event"]["to_user_id"]
        assert {first, second} == {bob.user_id, carol.user_id}
        assert moved["event"]["reason"] == (
            f"timeout after 2 s, moved from {names[first]} to {names[second]}"
        )
        seen_by_c = await frames_until(
            c,
            lambda f: (
                f["type"] == "conversation.updated" and f["conversation"]["assignee_id"] == second
            ),
        )
        assert seen_by_c["conversation"]["assignee_id"] == second
        # The second agent is silent too: max_reassignments=1, so back to the queue head.
        returned = await frames_until(c, routing_event("timeout"))
        t_returned = time.monotonic()
        assert returned["event"]["rule"] == "timeout_returned"
        queue = await frames_until(b, lambda f: f["type"] == "queue.changed" and f["total"] == 1)
        state = await frames_until(
            visitor,
            lambda f: (
                f["type"] == "conversation.state" and f["conversation"]["queue_position"] == 1
            ),
        )
        for ws in (b, c, visitor):
            await ws.close()
        return t_assigned, t_moved, t_returned, queue, state

    t_assigned, t_moved, t_returned, queue, state = asyncio.run(scenario())
    assert t_moved - t_assigned >= 1.5, "moved before the timeout"
    assert t_returned - t_moved >= 1.5
    conversation = Conversation.objects.get(merchant=acme)
    assert conversation.assignee_id is None and conversation.queued_at is not None
    assert state["conversation"]["estimated_wait_seconds"] > 0
    kinds = list(RoutingEvent.objects.filter(conversation=conversation).values_list("kind", "rule"))
    assert kinds == [
        ("assigned", "least_busy"),
        ("timeout", "timeout"),
        ("timeout", "timeout_returned"),
    ], kinds
    log = worker.log()
    assert log.count("routing_accept_timeout") >= 2, log[-3000:]
