import pytest
from asgiref.sync import sync_to_async

from tests import factories
from tests.wsclient import auth_visitor, open_agent, receive_until, session_cookie



@pytest.mark.django_db(transaction=True)
def test_visitor_message_reaches_agent_and_reply_reaches_visitor(acme, bob, channel_layer_kind):
    import asyncio

    visitor = factories.visitor(acme, name="张三")
    cookie = session_cookie(bob.user)

    async def scenario():
        agent, connected, _ = await open_agent(acme.pk, cookie)
        assert connected
        ready = await agent.receive_json_from(timeout=5)
        assert ready["type"] == "session.ready" and ready["role"] == "agent"
        comm, _ = await auth_visitor(acme, visitor)
        await comm.send_json_to({"type": "message.send", "client_msg_id": "c1", "body": "你好 👋"})
        ack, _ = await receive_until(comm, "message.ack")
        assert ack["message"]["seq"] == 1 and ack["message"]["body"] == "你好 👋"
        created, _ = await receive_until(agent, "message.created")
        assert created["message"]["id"] == ack["message"]["id"]
        conv_id = created["message"]["conversation_id"]
        await agent.send_json_to({"type": "message.send", "client_msg_id": "a1", "body": "您好", "conversation_id": conv_id})
        reply, _ = await receive_until(comm, "message.created")
        # the visitor first gets its own message back from the group, then the reply
        if reply["message"]["seq"] == 1:
            reply, _ = await receive_until(comm, "message.created")
        assert reply["message"]["seq"] == 2 and reply["message"]["sender_name"] == "Bob"
        await comm.disconnect()
        await agent.disconnect()

    asyncio.run(scenario())
