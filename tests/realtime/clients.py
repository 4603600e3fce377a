"""WebSocket clients for the realtime proofs: they speak the protocol to real daphne processes
over real sockets the way the front ends do (widget/static/widget/loader.js,
conversations/static/workspace/workspace.js), and record what a person would have seen.

What both do, like the front ends:
- every `message.send` waits in an outbox under its `client_msg_id` until a stored copy of it
  comes back (ack, broadcast or history); after each `session.ready` the outbox is sent again
  with the same ids, so the server stores each message at most once;
- a message is shown once per seq (`shown`, in the order shown: `log`); a second copy of a seq
  (ack + broadcast, replay + broadcast) is dropped and counted in `duplicates`;
- on reconnect the visitor sends `auth.last_seq` (the highest seq it shows, as the widget does:
  the server keeps each visitor socket free of holes, see docs/realtime.md), the agent `resume`;
- `urls` is a list of servers tried in turn, the way nginx moves to another upstream when one
  refuses connections; with `auto_reconnect` a dropped socket reconnects at once with a short
  backoff and the time from drop to the next `session.ready` is kept in `reconnect_seconds`.

Agents see every seq of a conversation, so the agent client shows only contiguous seqs: a seq
that arrives after a hole waits in `pending` while a `resume` fetches the hole from the database
(`gap_resumes` counts them). Visitors cannot see holes (private notes leave gaps), so the visitor
client shows what arrives, and the tests check that it arrives in order and complete.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import time
import urllib.error
import urllib.request

import websockets
from websockets.exceptions import ConnectionClosed, InvalidHandshake

# The merchant's site that embeds the widget (acme.allowed_origins in the tests).
SITE_ORIGIN = "https://shop.example"
# How long an agent client waits for a hole in the seqs to fill by itself before resuming.
HOLE_GRACE_SECONDS = 0.25
_ids = itertools.count(1)


def bootstrap(
    base_url: str, widget_key: str, *, origin: str = SITE_ORIGIN, anonymous_id: str | None = None
) -> dict:
    """POST /widget/api/bootstrap like the loader: the visitor token and the socket path."""
    body = {"page_url": f"{origin}/shop", "page_title": "Shop"}
    if anonymous_id:
        body["anonymous_id"] = anonymous_id
    request = urllib.request.Request(
        f"{base_url}/widget/api/bootstrap?key={widget_key}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Origin": origin},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"bootstrap answered {exc.code}: {exc.read()[:500]!r}") from None


async def wait_until(predicate, timeout: float = 10.0, what: str = "condition") -> float:
    """Poll `predicate` until true; returns the seconds it took, raises AssertionError after
    `timeout`."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.005)
    return time.monotonic() - start


class ChatClient:
    role = ""
    sender_kind = ""

    def __init__(
        self, urls: list[str], *, name: str, auto_reconnect: bool = False, pings: bool = True
    ):
        self.urls = list(urls)
        self.url_index = 0
        self.name = name
        self.auto_reconnect = auto_reconnect
        self.pings = pings
        self.ws = None
        self.base: str | None = None  # the server the current socket is on
        self.ready = False
        self.stopped = False
        # True: frames from the server are lost before the client reads them (a dying link).
        self.deaf = False
        self._tasks: set[asyncio.Task] = set()
        self._pinger: asyncio.Task | None = None
        self._reconnecting: asyncio.Task | None = None
        self.heartbeat_seconds: int | None = None
        self.session: dict | None = None
        # What the person sees.
        self.shown: dict[int, dict[int, dict]] = {}  # conversation -> seq -> message
        self.log: list[tuple[int, int]] = []  # (conversation, seq) in the order shown
        self.duplicates = 0
        # Messages that came in `history` frames other than the replay after session.ready:
        # holes the server filled from the database (visitor sockets) or resumes (agents).
        self.filled = 0
        self._replaying = False
        self.violations: list[str] = []  # things the server must never send this client
        # What the person sent.
        self.outbox: dict[str, dict] = {}  # client_msg_id -> frame, not yet seen stored
        self.sent: dict[str, dict] = {}  # every frame ever sent, by client_msg_id
        self.acks: dict[str, dict] = {}  # client_msg_id -> first acknowledged message
        self.duplicate_acks = 0
        # What happened on the wire.
        self.frames: list[dict] = []
        self.errors: list[dict] = []
        self.close_codes: list[int | None] = []
        self.connects = 0
        self.ready_at: float | None = None
        self.opening_at: float | None = None
        self.reconnect_seconds: list[float] = []
        self._dropped_at: float | None = None

    # --- Connection ---------------------------------------------------------------------------

    def socket_url(self, base: str) -> str:
        raise NotImplementedError

    def connect_kwargs(self, base: str) -> dict:
        raise NotImplementedError

    async def handshake(self, ws) -> None:
        """Sent right after the socket opens (visitor: auth)."""

    async def connect(self, timeout: float = 20.0) -> None:
        """Open a socket to the next server that accepts one and wait for `session.ready`.
        A socket that does not get ready (refused handshake, server error during auth) is
        dropped and the next attempt starts, with backoff, until `timeout`."""
        deadline = time.monotonic() + timeout
        delay = 0.02
        while True:
            base = self.urls[self.url_index % len(self.urls)]
            try:
                if await self._open(base, min(5.0, max(deadline - time.monotonic(), 0.5))):
                    return
            except (OSError, InvalidHandshake, TimeoutError, ConnectionClosed):
                pass
            # Like an upstream that failed: the next attempt goes to the next server.
            self.url_index += 1
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: no server accepted a socket within {timeout} s")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)

    async def _open(self, base: str, timeout: float) -> bool:
        # Before the server can have seen any frame of this socket (its handshake, its auth).
        self.opening_at = time.monotonic()
        ws = await websockets.connect(
            self.socket_url(base),
            open_timeout=timeout,
            ping_interval=None,
            max_size=None,
            close_timeout=1,
            **self.connect_kwargs(base),
        )
        self.ws, self.ready, self.base = ws, False, base
        self.connects += 1
        self._spawn(self._read(ws))
        await self.handshake(ws)
        end = time.monotonic() + timeout
        while not self.ready and self.ws is ws and time.monotonic() < end:
            await asyncio.sleep(0.005)
        if self.ready and self.ws is ws:
            return True
        if self.ws is ws:
            self.ws = None
        ws.transport.abort()
        return False

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _read(self, ws) -> None:
        try:
            async for raw in ws:
                if self.deaf:
                    continue
                frame = json.loads(raw)
                self.frames.append(frame)
                await self.handle(frame)
        except ConnectionClosed:
            pass
        self.close_codes.append(ws.close_code)
        if ws is self.ws:
            self._dropped()

    def _dropped(self) -> None:
        self.ws, self.ready = None, False
        self._dropped_at = time.monotonic()
        if self._pinger:
            self._pinger.cancel()
        if self.auto_reconnect and not self.stopped and self._reconnecting is None:
            self._reconnecting = self._spawn(self._reconnect())

    async def _reconnect(self) -> None:
        try:
            await self.connect(timeout=60)
        finally:
            self._reconnecting = None

    async def cut(self) -> None:
        """Lose the connection abruptly (no close frame: a dead network or a killed tab)."""
        ws = self.ws
        if ws is not None:
            ws.transport.abort()
            await wait_until(lambda: self.ws is not ws, 5, "the cut to be noticed")

    async def leave(self) -> None:
        """Close the socket cleanly (close frame), as a page unload does."""
        ws = self.ws
        if ws is not None:
            await ws.close()
            await wait_until(lambda: self.ws is not ws, 5, "the close to be noticed")

    async def close(self) -> None:
        """Leave on purpose (a closed tab); the client does not come back by itself."""
        self.stopped = True
        ws = self.ws
        self.ws, self.ready = None, False
        if ws is not None:
            await ws.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def send_frame(self, frame: dict) -> bool:
        ws = self.ws
        if ws is None:
            return False
        try:
            await ws.send(json.dumps(frame, ensure_ascii=False))
            return True
        except ConnectionClosed:
            return False

    async def _ping(self, ws, every: float) -> None:
        while ws is self.ws:
            await asyncio.sleep(every)
            await self.send_frame({"type": "ping"})

    # --- Frames -------------------------------------------------------------------------------

    async def handle(self, frame: dict) -> None:
        kind = frame["type"]
        if kind not in ("history", "session.ready"):
            self._replaying = False
        if kind == "session.ready":
            await self.on_ready(frame)
        elif kind == "history":
            if not self._replaying:
                self.filled += len(frame["messages"])
            for message in frame["messages"]:
                await self.receive_message(message)
        elif kind == "message.created":
            await self.receive_message(frame["message"])
        elif kind == "message.ack":
            message = frame["message"]
            if frame["client_msg_id"] in self.acks:
                self.duplicate_acks += 1
                if self.acks[frame["client_msg_id"]]["id"] != message["id"]:
                    self.violations.append(f"two stored messages for {frame['client_msg_id']}")
            else:
                self.acks[frame["client_msg_id"]] = message
            await self.receive_message(message)
        elif kind == "error":
            self.errors.append(frame)
            if frame["code"] == "rate_limited" and frame.get("ref") in self.outbox:
                # Nothing was done: the same client_msg_id goes out again when allowed.
                self._spawn(self._retry_later(frame["ref"], frame.get("retry_after") or 1))
        await self.on_frame(frame)

    async def on_frame(self, frame: dict) -> None:
        pass

    async def on_ready(self, frame: dict) -> None:
        self.session = frame
        self.ready_at = time.monotonic()
        self._replaying = True
        self.heartbeat_seconds = frame["heartbeat_seconds"]
        self.ready = True
        if self._dropped_at is not None:
            self.reconnect_seconds.append(time.monotonic() - self._dropped_at)
            self._dropped_at = None
        if self.pings:
            self._pinger = self._spawn(self._ping(self.ws, self.heartbeat_seconds))
        await self.after_ready()
        for client_msg_id in list(self.outbox):
            await self.transmit(client_msg_id)

    async def after_ready(self) -> None:
        pass

    async def _retry_later(self, client_msg_id: str, delay: float) -> None:
        await asyncio.sleep(delay)
        await self.transmit(client_msg_id)

    def is_mine(self, message: dict) -> bool:
        frame = self.sent.get(message.get("client_msg_id") or "")
        return (
            frame is not None
            and message["sender_kind"] == self.sender_kind
            and frame["body"] == message["body"]
        )

    async def receive_message(self, message: dict) -> None:
        if self.is_mine(message):
            self.outbox.pop(message["client_msg_id"], None)
        await self.show(message)

    def show_now(self, message: dict) -> None:
        conversation, seq = message["conversation_id"], message["seq"]
        self.shown.setdefault(conversation, {})[seq] = message
        self.log.append((conversation, seq))

    # --- Sending ------------------------------------------------------------------------------

    def new_id(self) -> str:
        return f"{self.name}-{next(_ids)}-{secrets.token_hex(3)}"

    async def send(self, body: str, **fields) -> str:
        """What the send button does: into the outbox, then out if connected."""
        client_msg_id = self.new_id()
        frame = {"type": "message.send", "client_msg_id": client_msg_id, "body": body, **fields}
        self.sent[client_msg_id] = frame
        self.outbox[client_msg_id] = frame
        await self.transmit(client_msg_id)
        return client_msg_id

    async def transmit(self, client_msg_id: str) -> bool:
        frame = self.outbox.get(client_msg_id)
        if frame is None or not self.ready:
            return False
        return await self.send_frame(frame)

    async def send_again(self, client_msg_id: str) -> bool:
        """A retry of an already sent message with the same id (double click, lost ack)."""
        if not self.ready:
            return False
        return await self.send_frame(self.sent[client_msg_id])

    # --- Reading the state --------------------------------------------------------------------

    def seqs(self, conversation: int) -> list[int]:
        return sorted(self.shown.get(conversation, {}))

    def log_for(self, conversation: int) -> list[int]:
        return [seq for c, seq in self.log if c == conversation]

    def of_type(self, kind: str) -> list[dict]:
        return [f for f in self.frames if f["type"] == kind]

    async def next_frame(self, kind: str, after: int = 0, timeout: float = 5, **fields) -> dict:
        """The first frame of `kind` at index `after` or later whose fields match `fields`
        (nested keys as `visitor__id`)."""

        def matches(frame):
            for key, want in fields.items():
                value = frame
                for part in key.split("__"):
                    value = value.get(part) if isinstance(value, dict) else None
                if value != want:
                    return False
            return frame["type"] == kind

        found: list[dict] = []

        def look():
            found[:] = [f for f in self.frames[after:] if matches(f)][:1]
            return bool(found)

        await wait_until(look, timeout, f"{self.name} to get {kind} {fields}")
        return found[0]


class VisitorClient(ChatClient):
    role = "visitor"
    sender_kind = "visitor"

    def __init__(self, urls, boot: dict, *, origin: str = SITE_ORIGIN, **kw):
        super().__init__(urls, **kw)
        self.boot = boot
        self.origin = origin
        self.conversation: int | None = None
        self._auth_conversation: int | None = None
        self._auth_last_seq = 0

    def socket_url(self, base):
        return base + self.boot["ws_path"]

    def connect_kwargs(self, base):
        return {"origin": self.origin}

    def last_seq(self) -> int:
        """The highest seq shown in the current conversation, as the widget sends it."""
        if self.conversation is None:
            return 0
        return max(self.shown.get(self.conversation, {}) or [0])

    async def handshake(self, ws):
        self._auth_conversation, self._auth_last_seq = self.conversation, self.last_seq()
        await ws.send(
            json.dumps(
                {"type": "auth", "token": self.boot["token"], "last_seq": self._auth_last_seq}
            )
        )

    async def on_ready(self, frame):
        conversation = frame["conversation"]
        if conversation and self._auth_last_seq and conversation["id"] != self._auth_conversation:
            # A new conversation began while away: last_seq counted the old one. Reconnect
            # and resume the new one from its start, as the widget does.
            self.conversation = conversation["id"]
            ws, self.ws = self.ws, None  # connect() sees the socket fail and opens another
            ws.transport.abort()
            return
        if conversation and (self.conversation is None or conversation["id"] > self.conversation):
            self.conversation = conversation["id"]
        await super().on_ready(frame)

    async def show(self, message):
        if message["private"]:
            self.violations.append(f"visitor received private note seq {message['seq']}")
            return
        conversation, seq = message["conversation_id"], message["seq"]
        if self.conversation is None or conversation > self.conversation:
            self.conversation = conversation
        if seq in self.shown.get(conversation, {}):
            self.duplicates += 1
            return
        self.show_now(message)


class AgentClient(ChatClient):
    role = "agent"
    sender_kind = "agent"

    def __init__(self, urls, merchant_id: int, cookie: str, *, origin: str | None = None, **kw):
        super().__init__(urls, **kw)
        self.merchant_id = merchant_id
        self.cookie = cookie
        self.origin = origin
        self.contiguous: dict[int, int] = {}  # conversation -> every seq up to it is shown
        self.pending: dict[int, dict[int, dict]] = {}  # seqs that arrived after a hole
        self.resuming = False
        self.gap_resumes = 0
        self._hole_check: asyncio.Task | None = None

    def socket_url(self, base):
        return f"{base}/ws/agent/{self.merchant_id}/"

    def connect_kwargs(self, base):
        # ALLOWED_HOSTS decides the agent origin: the server's own address.
        origin = self.origin or base.replace("ws://", "http://")
        return {"origin": origin, "additional_headers": {"Cookie": self.cookie}}

    async def after_ready(self):
        self.resuming = False
        known = {c: self.contiguous.get(c, 0) for c in set(self.contiguous) | set(self.pending)}
        if known:
            await self.resume(known)

    async def resume(self, conversations: dict[int, int]) -> None:
        self.resuming = True
        if not await self.send_frame({"type": "resume", "conversations": conversations}):
            self.resuming = False

    def holes(self) -> dict[int, int]:
        return {c: self.contiguous.get(c, 0) for c, waiting in self.pending.items() if waiting}

    async def on_frame(self, frame):
        if frame["type"] == "resume.done":
            self.resuming = False
            if self.holes():  # something newer arrived while the resume ran
                self.gap_resumes += 1
                await self.resume(self.holes())
        elif (
            frame["type"] == "error"
            and frame["code"] == "rate_limited"
            and self.resuming
            and not frame.get("ref")
        ):
            # The resume itself was refused: ask again when allowed.
            self.resuming = False
            self._spawn(self._resume_later(frame.get("retry_after") or 1))

    async def _check_holes(self) -> None:
        await asyncio.sleep(HOLE_GRACE_SECONDS)
        self._hole_check = None
        if self.holes() and not self.resuming:
            self.gap_resumes += 1
            await self.resume(self.holes())

    async def open_conversation(self, conversation_id: int) -> None:
        """What opening a conversation in the inbox does: follow it from its first message."""
        if conversation_id not in self.contiguous:
            self.contiguous[conversation_id] = 0
            if self.ready:
                await self.resume({conversation_id: 0})

    async def _resume_later(self, delay: float) -> None:
        await asyncio.sleep(delay)
        if self.holes() and not self.resuming:
            await self.resume(self.holes())

    async def show(self, message):
        conversation, seq = message["conversation_id"], message["seq"]
        done = self.contiguous.get(conversation, 0)
        waiting = self.pending.setdefault(conversation, {})
        if seq <= done or seq in waiting:
            self.duplicates += 1
            return
        if seq != done + 1:
            # A hole: overtaken (two processes publish in parallel) or lost. Give the live
            # stream a moment to fill it, then fetch it: the database has it.
            waiting[seq] = message
            if self._hole_check is None:
                self._hole_check = self._spawn(self._check_holes())
            return
        self.show_now(message)
        done = seq
        while done + 1 in waiting:
            done += 1
            self.show_now(waiting.pop(done))
        self.contiguous[conversation] = done


def pair(server, shop, **kw) -> tuple[VisitorClient, AgentClient]:
    boot = bootstrap(server.url, shop["key"])
    return (
        VisitorClient([server.ws_url], boot, name="v", **kw),
        AgentClient([server.ws_url], shop["merchant"].pk, shop["cookie"], name="a", **kw),
    )


async def round_trip(visitor: VisitorClient, agent: AgentClient, conversation: int) -> None:
    """One message each way, each arriving as a live broadcast."""
    n_agent, n_visitor = len(agent.frames), len(visitor.frames)
    sent = await visitor.send("还在吗？")
    await agent.next_frame("message.created", n_agent, message__client_msg_id=sent)
    reply = await agent.send("在的。", conversation_id=conversation)
    await visitor.next_frame("message.created", n_visitor, message__client_msg_id=reply)
