"""The realtime path through a real daphne process on loopback, with real WebSocket clients
(the `websockets` library): handshake refusals as HTTP statuses, and a chat round trip."""

import asyncio
import json
import urllib.error
import urllib.request

import pytest
import websockets
from websockets.exceptions import InvalidStatus

from conversations.models import Message
from tests.wsclient import session_cookie


def bootstrap(server, merchant, origin):
    request = urllib.request.Request(
        f"{server.url}/widget/api/bootstrap?key={merchant.widget_key}",
        data=json.dumps({"page_title": "live"}).encode(),
        headers={"Content-Type": "application/json", "Origin": origin},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"bootstrap failed {exc.code}:\n{server.log()[-3000:]}") from None


async def recv_type(ws, frame_type, timeout=10):
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if frame["type"] == frame_type:
            return frame


def test_chat_round_trip_through_daphne(daphne_server, acme, bob):
    acme.allowed_origins = daphne_server.url
    acme.save()
    boot = bootstrap(daphne_server, acme, daphne_server.url)
    cookie = session_cookie(bob.user).decode()

    async def scenario():
        async with (
            websockets.connect(
                f"{daphne_server.ws_url}/ws/agent/{acme.pk}/",
                origin=daphne_server.url,
                additional_headers={"Cookie": cookie},
            ) as agent,
            websockets.connect(
                daphne_server.ws_url + boot["ws_path"], origin=daphne_server.url
            ) as visitor,
        ):
            await recv_type(agent, "session.ready")
            await visitor.send(json.dumps({"type": "auth", "token": boot["token"]}))
            await recv_type(visitor, "session.ready")
            await visitor.send(
                json.dumps({"type": "message.send", "client_msg_id": "live-1", "body": "实时 ✓"})
            )
            ack = await recv_type(visitor, "message.ack")
            created = await recv_type(agent, "message.created")
            assert created["message"]["id"] == ack["message"]["id"]
            await agent.send(
                json.dumps(
                    {
                        "type": "message.send",
                        "client_msg_id": "live-2",
                        "body": "收到",
                        "conversation_id": created["message"]["conversation_id"],
                    }
                )
            )
            # The stored "joined" line comes first, then the reply: each socket gets them as
            # `message.created` frames in seq order, never a later seq before an earlier one
            # and never a `history` patch (ordered delivery, docs/realtime.md guarantee 5).
            lines = []
            while len(lines) < 2:
                frame = json.loads(await asyncio.wait_for(visitor.recv(), 10))
                assert frame["type"] != "history", frame
                if frame["type"] == "message.created" and frame["message"]["seq"] > 1:
                    lines.append(frame["message"])  # seq 1: the visitor's own
            # The agent's socket too: its messages (broadcasts and its ack) in seq order.
            agent_seqs = []
            while 3 not in agent_seqs:
                frame = json.loads(await asyncio.wait_for(agent.recv(), 10))
                assert frame["type"] != "history", frame
                if frame["type"] in ("message.created", "message.ack"):
                    agent_seqs.append(frame["message"]["seq"])
            assert agent_seqs == sorted(agent_seqs) and 2 in agent_seqs, agent_seqs
            return lines

    joined, reply = asyncio.run(scenario())
    assert (joined["seq"], joined["kind"], joined["meta"].get("system")) == (
        2,
        "event",
        "joined",
    ), joined
    assert (reply["seq"], reply["kind"], reply["body"]) == (3, "text", "收到")
    assert list(
        Message.objects.exclude(kind=Message.Kind.EVENT)
        .order_by("seq")
        .values_list("body", flat=True)
    ) == ["实时 ✓", "收到"]


@pytest.mark.parametrize("case", ["bad_origin", "unknown_key", "agent_bad_origin"])
def test_refused_handshakes_are_http_403(daphne_server, acme, bob, case):
    acme.allowed_origins = daphne_server.url
    acme.save()
    cookie = session_cookie(bob.user).decode()
    if case == "bad_origin":
        url, origin, headers = (
            f"{daphne_server.ws_url}/ws/visitor/?key={acme.widget_key}",
            "https://evil.example",
            {},
        )
    elif case == "unknown_key":
        url, origin, headers = f"{daphne_server.ws_url}/ws/visitor/?key=nope", daphne_server.url, {}
    else:
        url, origin, headers = (
            f"{daphne_server.ws_url}/ws/agent/{acme.pk}/",
            "https://evil.example",
            {"Cookie": cookie},
        )

    async def scenario():
        with pytest.raises(InvalidStatus) as exc:
            async with websockets.connect(url, origin=origin, additional_headers=headers):
                pass
        return exc.value.response.status_code

    assert asyncio.run(scenario()) == 403
