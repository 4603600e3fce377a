"""Routing over real sockets (the real ASGI app, in-memory and Redis layers): live queue
positions for visitors, `queue.changed` and teams for agents, and the claim / transfer / status
frames with their error frames (the socket stays up)."""

import pytest
from asgiref.sync import sync_to_async

from conversations.models import Conversation, Message, RoutingEvent
from merchants.models import Membership, Team
from tests import factories
from tests.conversations.realtime_helpers import agent_sock, quiet_all, run, visitor_sock
from tests.conversations.routing_helpers import english, fresh_realtime  # noqa: F401 (autouse)
from tests.wsclient import session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


def state_of(sock):
    return [f["conversation"] for f in sock.log if f["type"] == "conversation.state"]


async def send_visitor(sock, body, cid="m1"):
    await sock.send({"type": "message.send", "client_msg_id": cid, "body": body})
    return await sock.until("message.ack")


def test_queue_positions_move_live_and_agents_see_the_queue(acme, bob, channel_layer_kind):
    Membership.objects.filter(pk=bob.pk).update(max_concurrent=1)
    team = Team.objects.create(merchant=acme, name="售前")
    bob.teams.add(team)
    v1, v2, v3 = (factories.visitor(acme, name=n) for n in ("一号", "二号", "三号"))
    cookie = session_cookie(bob.user)

    async def scenario():
        s1, s2 = await visitor_sock(acme, v1, "v1"), await visitor_sock(acme, v2, "v2")
        await send_visitor(s1, "第一个问题")
        first = await s1.until_match(lambda f: f["type"] == "conversation.state")
        assert first["conversation"]["queue_position"] == 1
        assert first["conversation"]["estimated_wait_seconds"] > 0
        await send_visitor(s2, "第二个问题")
        second = await s2.until_match(lambda f: f["type"] == "conversation.state")
        assert second["conversation"]["queue_position"] == 2
        # A visitor who (re)connects while waiting learns the position right after session.ready.
        s2b = await visitor_sock(acme, v2, "v2b", last_seq=1)
        again = await s2b.until("conversation.state")
        assert again["conversation"]["queue_position"] == 2
        assert (
            again["conversation"]["estimated_wait_seconds"]
            >= second["conversation"]["estimated_wait_seconds"] // 2
        )

        # bob connects: teams and the queue after session.ready, then he is served the head.
        agent = await agent_sock(acme.pk, cookie, "bob")
        assert agent.ready["teams"] == [
            {"id": team.pk, "name": "售前", "member_ids": [bob.user_id]}
        ]
        queue = await agent.until("queue.changed")
        assert queue["total"] == 2
        assert [e["visitor_name"] for e in queue["queue"]] == ["一号", "二号"]
        assert [e["position"] for e in queue["queue"]] == [1, 2]
        event = await agent.until("routing.event")
        assert event["event"]["to_user_id"] == bob.user_id
        assert event["event"]["reason"].startswith("from the queue after")
        left = await s1.until_match(
            lambda f: (
                f["type"] == "conversation.state" and f["conversation"]["queue_position"] is None
            )
        )
        assert left["conversation"]["estimated_wait_seconds"] is None
        moved = await s2.until_match(
            lambda f: f["type"] == "conversation.state" and f["conversation"]["queue_position"] == 1
        )
        assert moved["conversation"]["estimated_wait_seconds"] > 0
        after = await agent.until_match(lambda f: f["type"] == "queue.changed")
        assert after["total"] == 1 and after["queue"][0]["visitor_name"] == "二号"

        # A third visitor queues behind: the others hear nothing about it but agents do.
        s3 = await visitor_sock(acme, v3, "v3")
        await send_visitor(s3, "第三个")
        third = await s3.until_match(lambda f: f["type"] == "conversation.state")
        assert third["conversation"]["queue_position"] == 2
        grown = await agent.until_match(lambda f: f["type"] == "queue.changed" and f["total"] == 2)
        assert [e["visitor_name"] for e in grown["queue"]] == ["二号", "三号"]

        # bob resolves his conversation: the slot frees, the head (v2) is served, v3 moves up.
        c1 = await sync_to_async(lambda: Conversation.objects.get(visitor=v1).pk)()
        await agent.send(
            {"type": "conversation.status", "conversation_id": c1, "status": "resolved"}
        )
        await s2.until_match(
            lambda f: (
                f["type"] == "conversation.state" and f["conversation"]["queue_position"] is None
            )
        )
        await s3.until_match(
            lambda f: f["type"] == "conversation.state" and f["conversation"]["queue_position"] == 1
        )
        await s1.until_match(
            lambda f: (
                f["type"] == "conversation.state" and f["conversation"]["status"] == "resolved"
            )
        )
        await quiet_all(s1, s2, s2b, s3, agent)
        # Visitors never receive agent-only frames.
        for sock in (s1, s2, s2b, s3):
            assert {f["type"] for f in sock.log} <= {
                "session.ready",
                "history",
                "message.ack",
                "message.created",
                "conversation.state",
                "conversation.read",
                "typing",
                "availability.changed",
            }, sock.log
            # The name of the agent who has their chat is theirs to see (the widget's header);
            # routing detail is not, and the name appears nowhere else.
            # So is the system line saying who joined (conversations/system_lines.py).
            shown = [
                {**f, "conversation": {**f["conversation"], "agent_name": ""}}
                if f["type"] in ("conversation.state", "session.ready") and f.get("conversation")
                else {**f, "message": {**f["message"], "body": "", "meta": {}}}
                if f["type"] == "message.created" and f["message"]["kind"] == "event"
                else f
                for f in sock.log
            ]
            assert "routing" not in repr(shown) and "Bob" not in repr(shown)
        for sock in (s1, s2, s2b, s3, agent):
            await sock.close()

    run(scenario())
    c2 = Conversation.objects.get(visitor=v2)
    assert c2.assignee_id == bob.user_id and c2.queued_at is None


def test_claim_race_over_sockets_and_error_frames_keep_the_socket(acme, alice, bob, charlie):
    Membership.objects.filter(pk__in=[alice.pk, bob.pk]).update(is_away=True)
    visitor = factories.visitor(acme)
    conversation_id = factories.visitor_message(visitor, "有人吗").conversation_id
    cookies = {m.user.username: session_cookie(m.user) for m in (alice, bob)}

    async def scenario():
        a = await agent_sock(acme.pk, cookies["alice"], "alice")
        b = await agent_sock(acme.pk, cookies["bob"], "bob")
        await quiet_all(a, b)
        # Both claim at once: exactly one wins, the other gets already_assigned.
        await a.send({"type": "conversation.claim", "conversation_id": conversation_id})
        await b.send({"type": "conversation.claim", "conversation_id": conversation_id})
        got = await quiet_all(a, b)
        errors = [f for frames in got.values() for f in frames if f["type"] == "error"]
        assert [e["code"] for e in errors] == ["already_assigned"]
        claimed = [f for f in got["alice"] if f["type"] == "routing.event"]
        assert len(claimed) == 1 and claimed[0]["event"]["kind"] == "claimed"
        for sock in (a, b):
            await sock.ping()
            # Unknown conversation, and a transfer naming nobody / both.
            await sock.send({"type": "conversation.claim", "conversation_id": 999999})
            assert (await sock.until("error"))["code"] == "not_found"
            await sock.send({"type": "conversation.transfer", "conversation_id": conversation_id})
            err = await sock.until("error")
            assert err["code"] == "invalid_frame" and "to_user_id" in err["fields"]
            await sock.send(
                {
                    "type": "conversation.status",
                    "conversation_id": conversation_id,
                    "status": "closed",
                }
            )
            assert (await sock.until("error"))["code"] == "invalid_frame"
            await sock.ping()
        for sock in (a, b):
            await sock.close()

    run(scenario())
    winner = Conversation.objects.get(pk=conversation_id).assignee_id
    assert winner in (alice.user_id, bob.user_id)
    assert RoutingEvent.objects.filter(conversation_id=conversation_id, kind="claimed").count() == 1


def test_transfer_and_status_frames(acme, alice, bob):
    carol = factories.member(acme, "carol", display_name="Carol")
    Membership.objects.filter(pk=alice.pk).update(is_away=True)
    visitor = factories.visitor(acme)
    conversation_id = factories.visitor_message(visitor, "退货").conversation_id
    cookies = {m.user.username: session_cookie(m.user) for m in (alice, bob, carol)}

    async def scenario():
        b = await agent_sock(acme.pk, cookies["bob"], "bob")  # bob is served the queue
        await b.until_match(lambda f: f["type"] == "routing.event")
        c = await agent_sock(acme.pk, cookies["carol"], "carol")
        a = await agent_sock(acme.pk, cookies["alice"], "alice")
        await quiet_all(a, b, c)
        # carol may not move bob's conversation; alice (owner) may.
        await c.send(
            {
                "type": "conversation.transfer",
                "conversation_id": conversation_id,
                "to_user_id": carol.user_id,
            }
        )
        assert (await c.until("error"))["code"] == "forbidden"
        await b.send(
            {
                "type": "conversation.transfer",
                "conversation_id": conversation_id,
                "to_user_id": 999999,
            }
        )
        assert (await b.until("error"))["code"] == "agent_unavailable"
        await b.send(
            {
                "type": "conversation.transfer",
                "conversation_id": conversation_id,
                "to_user_id": carol.user_id,
                "note": "老客户，要退货",
            }
        )
        note = await c.until_match(lambda f: f["type"] == "message.created")
        assert note["message"]["private"] and note["message"]["body"] == "老客户，要退货"
        event = await c.until_match(lambda f: f["type"] == "routing.event")
        assert event["event"]["kind"] == "transferred"
        assert event["event"]["reason"] == "transferred from Bob to Carol by Bob"
        updated = await c.until_match(lambda f: f["type"] == "conversation.updated")
        assert updated["conversation"]["assignee_id"] == carol.user_id
        await a.send(
            {
                "type": "conversation.transfer",
                "conversation_id": conversation_id,
                "to_user_id": bob.user_id,
            }
        )
        event = await b.until_match(
            lambda f: f["type"] == "routing.event" and f["event"]["kind"] != "transferred"
        )
        assert (
            event["event"]["kind"] == "reassigned" and event["event"]["actor_id"] == alice.user_id
        )
        await b.send(
            {
                "type": "conversation.status",
                "conversation_id": conversation_id,
                "status": "resolved",
            }
        )
        done = await c.until_match(
            lambda f: (
                f["type"] == "conversation.updated" and f["conversation"]["status"] == "resolved"
            )
        )
        assert done["conversation"]["id"] == conversation_id
        await b.send(
            {"type": "conversation.status", "conversation_id": conversation_id, "status": "open"}
        )
        await c.until_match(
            lambda f: f["type"] == "conversation.updated" and f["conversation"]["status"] == "open"
        )
        for sock in (a, b, c):
            await sock.ping()
            await sock.close()

    run(scenario())
    conversation = Conversation.objects.get(pk=conversation_id)
    assert (conversation.status, conversation.assignee_id) == ("open", bob.user_id)
    assert Message.objects.filter(conversation=conversation, is_private=True).count() == 1
    kinds = list(
        RoutingEvent.objects.filter(conversation=conversation).values_list("kind", flat=True)
    )
    assert kinds == [
        "queued",
        "assigned",
        "transferred",
        "reassigned",
        "resolved",
        "reopened",
        "claimed",
    ]


def test_coming_back_from_away_drains_the_queue(acme, bob):
    Membership.objects.filter(pk=bob.pk).update(is_away=True)
    visitor = factories.visitor(acme)
    conversation_id = factories.visitor_message(visitor).conversation_id
    cookie = session_cookie(bob.user)

    async def scenario():
        b = await agent_sock(acme.pk, cookie, "bob")
        await quiet_all(b)
        assert not [f for f in b.log if f["type"] == "routing.event"]  # away: not served
        await b.send({"type": "presence.set", "status": "online"})
        event = await b.until("routing.event")
        assert event["event"]["conversation_id"] == conversation_id
        await b.close()

    run(scenario())
    assert Conversation.objects.get(pk=conversation_id).assignee_id == bob.user_id
