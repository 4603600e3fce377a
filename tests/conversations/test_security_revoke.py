"""Revoking an agent's access closes the sockets they opened before (issue 16, finding 2,
docs/security.md): a deactivated membership, a removed membership or a deactivated user gets
close code 4403 within seconds, through the channel layer (in-process and Redis), and an agent
socket re-checks its membership before acting on a frame, so a lost event cannot keep it alive."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async

from accounts import services as account_services
from conversations.consumers import agent as agent_consumer
from conversations.models import Message
from merchants import services as merchant_services
from merchants.models import Membership
from tests import factories
from tests.wsclient import open_agent, receive_until, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


async def closed_with(comm, timeout: float = 5) -> int:
    """The close code the server sends next, skipping frames."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        output = await comm.receive_output(timeout=max(deadline - loop.time(), 0.01))
        if output["type"] == "websocket.close":
            return output["code"]


def deactivate_membership(bob):
    bob.is_active = False
    merchant_services.membership_update(membership=bob)


def remove_membership(bob):
    merchant_services.membership_delete(membership=Membership.objects.get(pk=bob.pk))


def deactivate_user(bob):
    user = bob.user
    user.is_active = False
    account_services.user_update(user=user)


@pytest.mark.parametrize("revoke", [deactivate_membership, remove_membership, deactivate_user])
def test_revoking_access_closes_open_agent_sockets(acme, bob, channel_layer_kind, revoke):
    visitor = factories.visitor(acme)
    conversation_id = factories.visitor_message(visitor, "hi").conversation_id
    cookie = session_cookie(bob.user)

    async def scenario():
        tabs = []
        for _ in range(2):  # two tabs
            agent, connected, _ = await open_agent(acme.pk, cookie)
            assert connected
            await receive_until(agent, "session.ready")
            tabs.append(agent)
        await sync_to_async(revoke)(bob)
        return [await closed_with(tab) for tab in tabs]

    assert run(scenario()) == [4403, 4403]
    assert (
        Message.objects.filter(conversation_id=conversation_id).exclude(kind="event").count() == 1
    )


def test_other_agents_keep_their_sockets(acme, alice, bob, channel_layer_kind):
    cookie = session_cookie(alice.user)

    async def scenario():
        agent, _, _ = await open_agent(acme.pk, cookie)
        await receive_until(agent, "session.ready")
        await sync_to_async(deactivate_membership)(bob)
        await agent.send_json_to({"type": "ping"})
        pong, _ = await receive_until(agent, "pong")
        assert pong == {"type": "pong"}
        await agent.disconnect()

    run(scenario())


def test_frame_re_checks_access_when_the_event_was_lost(acme, bob, monkeypatch):
    visitor = factories.visitor(acme)
    conversation_id = factories.visitor_message(visitor, "hi").conversation_id
    cookie = session_cookie(bob.user)
    monkeypatch.setattr(agent_consumer, "ACCESS_RECHECK_SECONDS", 0.0)

    async def scenario():
        agent, _, _ = await open_agent(acme.pk, cookie)
        await receive_until(agent, "session.ready")
        # Deactivated without the service: no access.revoked event is sent.
        await sync_to_async(Membership.objects.filter(pk=bob.pk).update)(is_active=False)
        await agent.send_json_to(
            {
                "type": "message.send",
                "client_msg_id": "late",
                "body": "still here?",
                "conversation_id": conversation_id,
            }
        )
        return await closed_with(agent)

    assert run(scenario()) == 4403
    assert not Message.objects.filter(client_msg_id="late").exists()


def test_the_admin_pages_revoke_through_the_services(acme, alice, bob, charlie, rf):
    """Deactivating a user or deleting a membership in the back office sends access_revoked
    (what closes the sockets above), for that user and merchant only."""
    from django.contrib import admin as django_admin

    from merchants.signals import access_revoked

    sent = []

    def receiver(sender, *, merchant_id, user_id, **kwargs):
        sent.append((merchant_id, user_id))

    access_revoked.connect(receiver)
    try:
        request = rf.post("/admin/")
        request.user = alice.user
        user_admin = django_admin.site._registry[type(bob.user)]
        user = bob.user
        user.is_active = False
        user_admin.save_model(request, user, form=None, change=True)
        assert sent == [(acme.pk, bob.user_id)]

        membership_admin = django_admin.site._registry[Membership]
        membership_admin.delete_model(request, Membership.objects.get(pk=charlie.pk))
        assert sent[1:] == [(charlie.merchant_id, charlie.user_id)]
    finally:
        access_revoked.disconnect(receiver)
