"""The physical limit on this machine: a minimal relay on the raw `websockets` library.

A "visitor" socket on /v/<room> sends {"type": "message.send", "client_msg_id", "body"}; the
server acknowledges it ({"type": "message.ack", ...}) and sends {"type": "message.created",
"message": {...}} to the agent sockets of the room (/a/<room>). Same frame shapes and JSON work
as the product, with nothing stored, no authentication and no channel layer: what is left is the
cost of the sockets and the event loop. Run as a process: python bench/raw_relay.py PORT
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys

import websockets

rooms: dict[str, set] = {}


async def handler(ws):
    kind, _, room = ws.request.path.strip("/").partition("/")
    if kind == "a":
        rooms.setdefault(room, set()).add(ws)
        try:
            await ws.wait_closed()
        finally:
            rooms[room].discard(ws)
        return
    seq = 0
    async for raw in ws:
        frame = json.loads(raw)
        if frame.get("type") != "message.send":
            continue
        seq += 1
        message = {"seq": seq, "client_msg_id": frame["client_msg_id"], "body": frame["body"]}
        await ws.send(
            json.dumps(
                {
                    "type": "message.ack",
                    "client_msg_id": frame["client_msg_id"],
                    "message": message,
                },
                ensure_ascii=False,
            )
        )
        out = json.dumps({"type": "message.created", "message": message}, ensure_ascii=False)
        for agent in list(rooms.get(room, ())):
            try:
                await agent.send(out)
            except websockets.ConnectionClosed:
                pass


async def main(port: int) -> None:
    # Sockets the load generator aborts on purpose would log a traceback each.
    logging.getLogger("websockets").setLevel(logging.CRITICAL)
    async with websockets.serve(
        handler, "127.0.0.1", port, compression=None, max_queue=None, ping_interval=None
    ):
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
