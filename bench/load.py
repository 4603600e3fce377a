"""Asyncio load generator speaking the real protocol, and the accounting of every run.

Visitors bootstrap over HTTP like the widget (or, for thousands of idle sockets, get the same
signed token minted directly) and authenticate with the `auth` frame; agents log in through the
login form and connect with their session cookie. The raw relay's clients speak the same frame
shapes to bench/raw_relay.py, so both are driven by the same code.

Accounting (`Recorder`): every `client_msg_id` sent in a phase carries the phase's tag; acks and
deliveries are recorded by id, and the number stored is counted in the database by that tag.
`loss_check` compares the four counts; nothing is inferred or assumed.
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import json
import random
import re
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import websockets

ORIGIN = "https://bench.example"  # the merchants' allowed site origin
CONNECT = dict(compression=None, max_queue=None, ping_interval=None, close_timeout=1, max_size=None)


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


class Recorder:
    """What happened to the messages of one phase, by client_msg_id."""

    def __init__(self, tag: str, drop_deliveries: int = 0):
        self.tag = tag
        self.sent_at: dict[str, float] = {}
        self.acked_at: dict[str, float] = {}
        self.delivered_at: dict[str, float] = {}
        self.duplicate_deliveries = 0
        self.duplicate_acks = 0  # acks saying "already stored": a resend reached the server twice
        self.rate_limited = 0
        self.errors: list[dict] = []
        # Test hook (tests/kefu/test_bench_smoke.py): pretend this many deliveries never arrived,
        # to prove the accounting notices.
        self.drop_deliveries = drop_deliveries
        self.done = asyncio.Event()

    def ack(self, cid: str, duplicate: bool) -> None:
        if cid not in self.sent_at:
            return
        if duplicate:
            self.duplicate_acks += 1
        self.acked_at.setdefault(cid, time.perf_counter())
        self._check()

    def deliver(self, cid: str) -> None:
        if cid not in self.sent_at:
            return
        if self.drop_deliveries > 0:
            self.drop_deliveries -= 1
            return
        if cid in self.delivered_at:
            self.duplicate_deliveries += 1
            return
        self.delivered_at[cid] = time.perf_counter()
        self._check()

    def _check(self) -> None:
        if (
            self.expected
            and len(self.acked_at) >= self.expected
            and len(self.delivered_at) >= self.expected
        ):
            self.done.set()

    expected = 0

    def summary(self, stored: int, offered: float | None = None) -> dict:
        sends = list(self.sent_at.values())
        start = min(sends, default=0.0)
        ends = list(self.acked_at.values())
        span = (max(ends) - start) if ends else float("nan")
        ack = [self.acked_at[c] - self.sent_at[c] for c in self.acked_at]
        dl = [self.delivered_at[c] - self.sent_at[c] for c in self.delivered_at]
        send_span = (max(sends) - start) if len(sends) > 1 else 0.0
        return {
            "offered": offered,
            "sent": len(self.sent_at),
            "acked": len(self.acked_at),
            "stored": stored,
            "delivered": len(self.delivered_at),
            "duplicates": self.duplicate_deliveries + self.duplicate_acks,
            "rate_limited": self.rate_limited,
            "errors": len(self.errors),
            "send_rate": len(sends) / send_span if send_span else float("nan"),
            "throughput": len(self.acked_at) / span if span == span and span > 0 else float("nan"),
            "ack_p50": pct(ack, 50) * 1000,
            "ack_p99": pct(ack, 99) * 1000,
            "p50": pct(dl, 50) * 1000,
            "p99": pct(dl, 99) * 1000,
            "max": max(dl, default=float("nan")) * 1000,
        }


def loss_check(row: dict) -> bool:
    """sent = acknowledged = stored = delivered, no duplicates."""
    return (
        row["sent"] == row["acked"] == row["stored"] == row["delivered"] and not row["duplicates"]
    )


# --- HTTP set-up: widget bootstrap and agent login ---------------------------------------------


def bootstrap(base: str, widget_key: str) -> dict:
    body = json.dumps({"page_url": f"{ORIGIN}/shop", "page_title": "Bench"}).encode()
    request = urllib.request.Request(
        f"{base}/widget/api/bootstrap?key={widget_key}",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "Origin": ORIGIN},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def bootstrap_many(bases: list[str], keys: list[str], threads: int = 16) -> list[dict]:
    """One bootstrap per key, spread over the servers, a few at a time (like page loads)."""
    with ThreadPoolExecutor(threads) as pool:
        return list(
            pool.map(lambda ik: bootstrap(bases[ik[0] % len(bases)], ik[1]), enumerate(keys))
        )


def agent_login(base: str, username: str, password: str) -> str:
    """Log in through the login form (CSRF cookie + token) and return the Cookie header."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{base}/accounts/login/", timeout=30).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    data = urllib.parse.urlencode(
        {"username": username, "password": password, "csrfmiddlewaretoken": token}
    ).encode()
    opener.open(
        urllib.request.Request(
            f"{base}/accounts/login/", data=data, headers={"Referer": f"{base}/accounts/login/"}
        ),
        timeout=30,
    )
    cookies = {c.name: c.value for c in jar}
    if "sessionid" not in cookies:
        raise RuntimeError(f"login as {username} failed")
    return "; ".join(f"{k}={v}" for k, v in cookies.items())


# --- Clients ------------------------------------------------------------------------------------


class Client:
    """One socket. `rec` is the phase's Recorder (swapped between phases)."""

    rec: Recorder | None = None

    def __init__(self):
        self.ws = None
        self.reader: asyncio.Task | None = None
        self.closed = asyncio.Event()

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                self.handle(json.loads(raw))
        except (websockets.ConnectionClosed, OSError):
            pass
        self.closed.set()

    def handle(self, frame: dict) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        """Drop the TCP connection without a closing handshake (a network cut)."""
        if self.ws is not None:
            self.ws.transport.abort()


class VisitorClient(Client):
    def __init__(self, url: str, token: str | None = None):
        super().__init__()
        self.url, self.token = url, token
        self.ready: asyncio.Future | None = None
        self.pending: dict[str, str] = {}  # client_msg_id -> frame, until acked
        self.acked: dict[str, asyncio.Future] = {}
        self.seqs: dict[int, int] = {}  # seq -> times shown (per current conversation)
        self.duplicate_seqs = 0
        self.conversation: dict | None = None

    retries = 0  # handshakes refused or dropped by the server before this socket got ready

    async def open(self, last_seq: int = 0, timeout: float = 60) -> None:
        """Connect and authenticate; like the widget, a refused or dropped attempt is retried
        with backoff and jitter until `timeout`."""
        deadline = time.monotonic() + timeout
        delay = 0.1
        while True:
            try:
                return await self._open_once(last_seq, max(1.0, deadline - time.monotonic()))
            except (
                TimeoutError,
                OSError,
                websockets.InvalidHandshake,
                websockets.ConnectionClosed,
            ):
                if self.ws is not None:
                    self.ws.transport.abort()
                if time.monotonic() + delay > deadline:
                    raise
                self.retries += 1
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 2.0)

    async def _open_once(self, last_seq: int, timeout: float) -> None:
        self.closed = asyncio.Event()
        self.ready = asyncio.get_running_loop().create_future()
        self.ws = await websockets.connect(self.url, origin=ORIGIN, open_timeout=timeout, **CONNECT)
        self.reader = asyncio.ensure_future(self._read())
        if self.token is not None:
            await self.ws.send(
                json.dumps({"type": "auth", "token": self.token, "last_seq": last_seq})
            )
            closed = asyncio.ensure_future(self.closed.wait())
            await asyncio.wait(
                [self.ready, closed], timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            closed.cancel()
            if not self.ready.done():
                raise TimeoutError("no session.ready")

    def _seen(self, message: dict) -> None:
        seq = message.get("seq")
        if seq is None:
            return
        n = self.seqs.get(seq, 0)
        self.seqs[seq] = n + 1

    def handle(self, frame: dict) -> None:
        kind = frame.get("type")
        if kind == "session.ready":
            self.conversation = frame.get("conversation")
            if not self.ready.done():
                self.ready.set_result(frame)
        elif kind == "message.ack":
            cid = frame["client_msg_id"]
            self.pending.pop(cid, None)
            if self.rec is not None:
                self.rec.ack(cid, frame.get("duplicate", False))
            future = self.acked.pop(cid, None)
            if future is not None and not future.done():
                future.set_result(None)
        elif kind == "history":
            for message in frame["messages"]:
                self._seen(message)
        elif kind == "error":
            if frame.get("code") == "rate_limited" and frame.get("ref") in self.pending:
                # Back-pressure from the server: send the same id again when told to.
                if self.rec is not None:
                    self.rec.rate_limited += 1
                asyncio.get_running_loop().call_later(
                    frame.get("retry_after") or 0.1, self._resend, frame["ref"]
                )
            elif self.rec is not None:
                self.rec.errors.append(frame)

    def _resend(self, cid: str) -> None:
        if cid in self.pending and self.ws is not None:
            asyncio.ensure_future(self._send_raw(self.pending[cid]))

    async def _send_raw(self, text: str) -> None:
        try:
            await self.ws.send(text)
        except websockets.ConnectionClosed:
            pass

    async def send(self, cid: str, body: str) -> asyncio.Future:
        text = json.dumps(
            {"type": "message.send", "client_msg_id": cid, "body": body}, ensure_ascii=False
        )
        self.pending[cid] = text
        future = asyncio.get_running_loop().create_future()
        self.acked[cid] = future
        self.rec.sent_at[cid] = time.perf_counter()
        await self._send_raw(text)
        return future


class AgentClient(Client):
    def __init__(self, url: str, cookie: str | None = None):
        super().__init__()
        self.url, self.cookie = url, cookie

    async def open(self, timeout: float = 30) -> None:
        headers = {"Cookie": self.cookie} if self.cookie else {}
        origin = "http://127.0.0.1" + self.url.split("127.0.0.1", 1)[1].split("/", 1)[0]
        self.ws = await websockets.connect(
            self.url, origin=origin, additional_headers=headers, open_timeout=timeout, **CONNECT
        )
        self.reader = asyncio.ensure_future(self._read())

    def handle(self, frame: dict) -> None:
        if frame.get("type") == "message.created" and self.rec is not None:
            cid = frame["message"].get("client_msg_id")
            if cid:
                self.rec.deliver(cid)


def attach(clients, rec: Recorder | None) -> None:
    for c in clients:
        c.rec = rec


# --- Phases -------------------------------------------------------------------------------------


async def drain(rec: Recorder, timeout: float) -> None:
    rec.expected = len(rec.sent_at)
    rec._check()
    try:
        await asyncio.wait_for(rec.done.wait(), timeout)
    except TimeoutError:
        pass
    await asyncio.sleep(0.2)  # late duplicates, if any, are counted too


async def open_loop(
    rec: Recorder, visitors: list[VisitorClient], rate: float, seconds: float, drain_timeout: float
) -> float:
    """Offer `rate` messages/s for `seconds`, whatever the server's speed (visitors resend only
    on `rate_limited`); then wait for every ack and delivery. Returns the seconds spent
    offering."""
    loop = asyncio.get_running_loop()
    total = max(1, int(rate * seconds))
    start = loop.time()
    for i in range(total):
        delay = start + i / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        visitor = visitors[i % len(visitors)]
        await visitor.send(f"{rec.tag}-{i}", f"压测消息 {i} 😀 load")
    offered_for = loop.time() - start
    await drain(rec, drain_timeout)
    return offered_for


async def paced(
    rec: Recorder,
    visitor: VisitorClient,
    until: asyncio.Event,
    every: tuple[float, float] = (0.2, 0.4),
) -> None:
    """A quiet visitor beside the load: one message, then a pause drawn from `every` seconds,
    until `until` is set (whatever the server's speed; acks are not waited for)."""
    i = 0
    while not until.is_set():
        await visitor.send(f"{rec.tag}-{i}", f"安静的访客 {i}")
        i += 1
        try:
            await asyncio.wait_for(until.wait(), random.uniform(*every))
        except TimeoutError:
            pass


async def one_each(rec: Recorder, visitors: list[VisitorClient], drain_timeout: float) -> None:
    """Every visitor sends one message (its first: it starts a conversation)."""
    await asyncio.gather(*(v.send(f"{rec.tag}-{i}", f"你好 {i}") for i, v in enumerate(visitors)))
    await drain(rec, drain_timeout)


async def closed_loop(
    rec: Recorder, visitors: list[VisitorClient], seconds: float, drain_timeout: float
) -> None:
    """Every visitor sends its next message as soon as the previous one is acknowledged (the
    most a set of sockets can push), for `seconds`."""
    deadline = asyncio.get_running_loop().time() + seconds
    counter = iter(range(10**9))

    async def one(visitor: VisitorClient):
        while asyncio.get_running_loop().time() < deadline:
            i = next(counter)
            future = await visitor.send(f"{rec.tag}-{i}", f"压测消息 {i} 😀 closed")
            try:
                await asyncio.wait_for(future, drain_timeout)
            except TimeoutError:
                return

    await asyncio.gather(*(one(v) for v in visitors))
    await drain(rec, drain_timeout)


async def open_all(clients, concurrency: int = 200, **kwargs) -> float:
    """Open (and authenticate) every client, `concurrency` handshakes at a time; returns the
    seconds it took."""
    gate = asyncio.Semaphore(concurrency)
    start = time.perf_counter()

    async def one(client):
        async with gate:
            await client.open(**kwargs)

    await asyncio.gather(*(one(c) for c in clients))
    return time.perf_counter() - start


async def close_all(clients) -> None:
    for c in clients:
        c.abort()
    await asyncio.sleep(0)
