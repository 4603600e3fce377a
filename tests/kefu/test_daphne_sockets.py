"""kefu/daphne_sockets.py and kefu/daphne_writes.py under a real daphne process: what each
open WebSocket keeps (no asyncio.Queue, no handshake copies, no upgraded HTTP request), and
that the sockets still do everything through the patched paths: the connect and receive
events through the lighter input queue, the frames out through the flush at the end of the
loop's iteration, the disconnect (the agent sees the visitor go offline), HTTP beside them,
and a response larger than one send (the socket waits for writability).
If a daphne or autobahn upgrade changes the internals the patches rely on, this fails."""

from __future__ import annotations

import asyncio
import json
import urllib.request

import pytest
import websockets

from tests.conftest import DaphneProcess, child_env, free_port
from tests.conversations.test_daphne import bootstrap, recv_type
from tests.wsclient import session_cookie

pytestmark = pytest.mark.slow


@pytest.fixture
def probe_server(transactional_db, tmp_path):
    server = DaphneProcess(
        free_port(), tmp_path / "daphne.log", child_env(), app="tests.kefu.daphne_probe:application"
    )
    yield server
    server.stop()


def probe(server) -> dict:
    with urllib.request.urlopen(f"{server.url}/__probe", timeout=10) as response:
        return json.loads(response.read())


def test_open_sockets_keep_no_handshake_and_work_through_the_patches(probe_server, acme, bob):
    server = probe_server
    acme.allowed_origins = server.url
    acme.save()
    boot = bootstrap(server, acme, server.url)
    cookie = session_cookie(bob.user).decode()

    async def scenario():
        async with websockets.connect(
            f"{server.ws_url}/ws/agent/{acme.pk}/",
            origin=server.url,
            additional_headers={"Cookie": cookie},
        ) as agent:
            await recv_type(agent, "session.ready")
            async with websockets.connect(server.ws_url + boot["ws_path"], origin=server.url) as v:
                await v.send(json.dumps({"type": "auth", "token": boot["token"]}))
                await recv_type(v, "session.ready")
                await recv_type(agent, "visitor.updated")  # online
                await asyncio.sleep(1.5)  # daphne forgets an upgraded request within 1 s
                report = await asyncio.to_thread(probe, server)
                await v.send(json.dumps({"type": "ping"}))
                await recv_type(v, "pong")
                await v.send(
                    json.dumps({"type": "message.send", "client_msg_id": "m-1", "body": "hi"})
                )
                ack = await recv_type(v, "message.ack")
                created = await recv_type(agent, "message.created")
                assert created["message"]["id"] == ack["message"]["id"]
            # The visitor's disconnect reached its consumer through the input queue.
            offline = await recv_type(agent, "visitor.updated")
            assert offline["visitor"]["online"] is False, offline
            return report

    report = asyncio.run(scenario())
    assert report["writes_flushed"] is True, report
    paths = sorted(s["path"] for s in report["sockets"])
    assert paths == [f"/ws/agent/{acme.pk}/", "/ws/visitor/"], report
    for socket in report["sockets"]:
        assert socket["queue"] == "BoundedInbox", socket
        assert socket["handshake_left"] == [], socket
        assert socket["request"] == "_Path", socket
        assert socket["send_queue"] == "_SendQueue", socket
    # The HTTP requests that were upgraded are gone; an HTTP request keeps daphne's own queue.
    assert [r for r in report["requests"] if r["uri"].startswith("/ws/")] == [], report
    assert {"uri": "/__probe", "queue": "Queue"} in report["requests"], report
    # The widget's origin check looked the merchant up; its frame lives as long as the socket
    # and keeps no Merchant row (widget/middleware.py).
    assert report["merchant_rows_in_coroutines"] == 0, report
    log = server.log()
    assert "Traceback" not in log and " ERROR " not in log, log[-3000:]


def test_a_response_larger_than_one_send_arrives_whole(probe_server):
    from tests.kefu.daphne_probe import BIG

    with urllib.request.urlopen(f"{probe_server.url}/__probe/big", timeout=60) as response:
        body = response.read()
    assert len(body) == len(BIG)
    assert body == BIG
    with urllib.request.urlopen(f"{probe_server.url}/__probe", timeout=10) as response:
        assert json.loads(response.read())["writes_flushed"] is True
