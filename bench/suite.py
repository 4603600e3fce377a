"""The benchmark suite of the chat path (issue 6): `make bench` (full, <= 10 min) and
`make bench-quick` (<= 60 s).

One run measures, on this machine:
1. the raw relay (bench/raw_relay.py): closed-loop saturation, latency at fixed offered loads,
   memory per idle socket, reconnect of the storm's socket count: the physical limit;
2. the product (bench/stack.py: daphne per core, Celery worker, MariaDB, Redis, production
   settings) driven through the real protocol (bench/load.py): sustained persisted msg/s,
   delivery latency at fixed offered loads and at saturation, half and twice the sustainable
   load, a quiet visitor alone and beside the 2x phase (its p99 unloaded / at 2x overload), loss accounting for every phase, idle sockets and memory per socket on one process,
   a reconnect storm;
3. the inbox list and history APIs over 100,000 conversations / 1,000,000 messages
   (bench/dataset.py, database kefu_bench);
and writes the tables, with the ratios to the raw relay, into docs/performance.md between the
`bench:results` markers (the rest of the file is left alone).

Usage: python bench/suite.py [--quick] [--write docs/performance.md] [--layer pubsub|core]
       [--server daphne|uvicorn]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.stack import (  # noqa: E402
    Stack,
    free_port,
    machine,
    raise_fd_limit,
    require_services,
    rss_kb,
)

FULL = dict(
    merchants=20,
    visitors=400,
    loads=[100, 500, 1000, 2000],
    load_seconds=5,
    sat_seconds=10,
    quiet_seconds=10,
    idle=10_000,
    storm=2_000,
    api=True,
    drain=120,
)
QUICK = dict(
    merchants=4,
    visitors=40,
    loads=[100],
    load_seconds=2,
    sat_seconds=3,
    quiet_seconds=4,
    idle=200,
    storm=200,
    api=False,
    drain=20,
)


def log(*parts) -> None:
    print(time.strftime("%H:%M:%S"), *parts, flush=True)


def setup_django():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kefu.settings")
    import django

    django.setup()


# --- Raw relay ----------------------------------------------------------------------------------


async def raw_phase(cfg: dict) -> dict:
    from bench import load

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "raw_relay.py"), str(port)], cwd=ROOT
    )
    try:
        await asyncio.sleep(0.5)
        base = f"ws://127.0.0.1:{port}"
        for _ in range(50):
            try:
                probe = load.VisitorClient(f"{base}/v/probe")
                await probe.open()
                probe.abort()
                break
            except OSError:
                await asyncio.sleep(0.1)
        out: dict = {}
        m = cfg["merchants"]
        agents = [load.AgentClient(f"{base}/a/r{j}") for j in range(m)]
        visitors = [load.VisitorClient(f"{base}/v/r{i % m}") for i in range(cfg["visitors"])]
        await load.open_all(agents)
        await load.open_all(visitors)
        everyone = agents + visitors

        async def phase(name, runner, *a):
            rec = load.Recorder(f"raw{name}")
            load.attach(everyone, rec)
            await runner(rec, visitors, *a)
            out[name] = rec.summary(stored=len(rec.acked_at))
            log("raw", name, fmt_row(out[name]))

        await phase("saturation", load.closed_loop, cfg["sat_seconds"], cfg["drain"])
        for rate in cfg["loads"]:
            await phase(f"load{rate}", load.open_loop, rate, cfg["load_seconds"], cfg["drain"])
        await load.close_all(everyone)
        # Idle sockets: resident memory per socket.
        await asyncio.sleep(0.5)
        before = rss_kb(proc.pid)
        # The raw slope is flat and linear: 2,000 sockets measure it as well as 10,000.
        idle = [load.VisitorClient(f"{base}/v/idle{i}") for i in range(min(cfg["idle"], 2000))]
        await load.open_all(idle)
        await asyncio.sleep(1)
        out["idle"] = {
            "sockets": len(idle),
            "kb_per_socket": (rss_kb(proc.pid) - before) / len(idle),
        }
        await load.close_all(idle)
        # Reconnect of as many sockets as the storm, all at once.
        storm = [load.VisitorClient(f"{base}/v/s{i}") for i in range(cfg["storm"])]
        out["storm_seconds"] = await load.open_all(storm, concurrency=len(storm))
        await load.close_all(storm)
        log("raw idle", out["idle"], "storm", round(out["storm_seconds"], 2))
        return out
    finally:
        proc.kill()
        proc.wait()


# --- The product -------------------------------------------------------------------------------


def make_merchants(n: int, tag: str, capacity: int = 10):
    """n merchants with one agent each, who may take `capacity` conversations at once (enough
    for their share of the visitors: this measures the message path, not a queue of hundreds;
    bench/routing.py measures routing)."""
    from bench.load import ORIGIN
    from merchants.models import Membership, Merchant
    from merchants.services import membership_add

    made = []
    for j in range(n):
        merchant = Merchant.objects.create(name=f"{tag}-{j}", allowed_origins=ORIGIN)
        password = uuid.uuid4().hex
        membership = membership_add(
            merchant=merchant,
            username=f"{tag}-agent{j}",
            password=password,
            role=Membership.Role.AGENT,
            display_name=f"Agent {j}",
        )
        Membership.objects.filter(pk=membership.pk).update(max_concurrent=max(capacity, 10))
        made.append((merchant, f"{tag}-agent{j}", password))
    return made


def mint_visitors(
    merchant_id: int, n: int, with_conversation: bool = False
) -> list[tuple[int, str]]:
    """Visitors created in bulk with the token the bootstrap would have issued (thousands of
    bootstraps would measure the bootstrap, not the sockets)."""
    from django.utils import timezone

    from conversations.models import Conversation, Message, Visitor
    from conversations.tokens import visitor_token_issue

    tag = uuid.uuid4().hex[:8]
    visitors = Visitor.objects.bulk_create(
        [Visitor(merchant_id=merchant_id, anonymous_id=f"{tag}{i}") for i in range(n)],
        batch_size=2000,
    )
    if with_conversation:
        now = timezone.now()
        conversations = Conversation.objects.bulk_create(
            [
                Conversation(
                    merchant_id=merchant_id,
                    visitor=v,
                    last_seq=1,
                    last_message_at=now,
                    last_message_preview="hi",
                    last_message_sender_kind="visitor",
                )
                for v in visitors
            ],
            batch_size=2000,
        )
        Message.objects.bulk_create(
            [
                Message(
                    merchant_id=merchant_id,
                    conversation=c,
                    seq=1,
                    sender_kind="visitor",
                    sender_key="visitor",
                    body="在吗?",
                    client_msg_id=f"{tag}-{c.pk}",
                )
                for c in conversations
            ],
            batch_size=2000,
        )
    return [(v.pk, visitor_token_issue(merchant_id=merchant_id, visitor_id=v.pk)) for v in visitors]


def storm_missed(merchant_id: int, visitor_ids: list[int]) -> int:
    """While the storm's sockets are down, an agent answers every conversation (seq 2)."""
    from conversations.models import Conversation, Message

    conversations = list(
        Conversation.objects.filter(merchant_id=merchant_id, visitor_id__in=visitor_ids)
    )
    Message.objects.bulk_create(
        [
            Message(
                merchant_id=merchant_id,
                conversation=c,
                seq=2,
                sender_kind="agent",
                sender_key="agent:0",
                sender_name="Agent",
                body="您好,在的",
            )
            for c in conversations
        ],
        batch_size=2000,
    )
    return Conversation.objects.filter(pk__in=[c.pk for c in conversations]).update(last_seq=2)


def delete_stored(merchant_ids: list[int], tag: str, n: int) -> None:
    from conversations.models import Message

    ids = list(
        Message.objects.filter(
            merchant_id__in=merchant_ids, client_msg_id__startswith=tag + "-"
        ).values_list("id", flat=True)[:n]
    )
    Message.objects.filter(pk__in=ids).delete()


def wait_routed(merchant_ids: list[int], timeout: float) -> int:
    """Wait until the post-commit step has handled every stored visitor message of these
    merchants (or `timeout` s); returns how many conversations still wait."""
    from django.db.models import F

    from conversations.models import Conversation

    deadline = time.monotonic() + timeout
    while True:
        waiting = Conversation.objects.filter(
            merchant_id__in=merchant_ids, pipeline_seq__lt=F("last_seq")
        ).count()
        if not waiting or time.monotonic() > deadline:
            return waiting
        time.sleep(0.25)


def count_stored(merchant_ids: list[int], tag: str) -> int:
    from conversations.models import Message

    return Message.objects.filter(
        merchant_id__in=merchant_ids, client_msg_id__startswith=tag + "-"
    ).count()


async def kefu_phase(
    stack: Stack,
    cfg: dict,
    sustainable_hint: float | None = None,
    drop_deliveries: int = 0,
    delete_rows: int = 0,
    only: set | None = None,
) -> dict:
    """`drop_deliveries` / `delete_rows` are test hooks (tests/kefu/test_bench_smoke.py): per
    phase, pretend that many deliveries were lost / delete that many stored rows before counting,
    to prove the accounting notices."""
    from bench import load

    def want(name):
        return only is None or name in only

    tag = f"b{uuid.uuid4().hex[:6]}"
    # recorders: each phase's Recorder, for scripts that split its latencies (bench/overload.py)
    out: dict = {"errors_before": len(stack.errors()), "recorders": {}}
    # The quiet visitor (issue 12): a merchant of its own, with its agent, after the others.
    quiet = want("quiet")
    made = await asyncio.to_thread(
        make_merchants,
        cfg["merchants"] + (1 if quiet else 0),
        tag,
        -(-cfg["visitors"] // cfg["merchants"]) + 5,
    )
    mids = [m.pk for m, _, _ in made]
    made, quiet_made = made[: cfg["merchants"]], made[cfg["merchants"] :]
    bases, wss = stack.bases, stack.ws_bases
    p = len(bases)
    cookies = [
        await asyncio.to_thread(load.agent_login, bases[j % p], user, pw)
        for j, (_, user, pw) in enumerate(made)
    ]
    agents = [
        load.AgentClient(f"{wss[j % p]}/ws/agent/{m.pk}/", cookies[j])
        for j, (m, _, _) in enumerate(made)
    ]
    keys = [made[i % len(made)][0].widget_key for i in range(cfg["visitors"])]
    t = time.perf_counter()
    boots = await asyncio.to_thread(load.bootstrap_many, bases, keys)
    out["bootstrap_per_s"] = len(boots) / (time.perf_counter() - t)
    visitors = [
        load.VisitorClient(f"{wss[i % p]}{b['ws_path']}", b["token"]) for i, b in enumerate(boots)
    ]
    await load.open_all(agents)
    await load.open_all(visitors)
    everyone = agents + visitors
    # The quiet visitor and its agent, both on the first process, beside its share of the
    # flooding visitors: what one more visitor waits there when the others overload it.
    quiet_clients: list = []
    if quiet:
        merchant, user, password = quiet_made[0]
        cookie = await asyncio.to_thread(load.agent_login, bases[0], user, password)
        boot = await asyncio.to_thread(load.bootstrap, bases[0], merchant.widget_key)
        quiet_visitor = load.VisitorClient(f"{wss[0]}{boot['ws_path']}", boot["token"])
        quiet_clients = [load.AgentClient(f"{wss[0]}/ws/agent/{merchant.pk}/", cookie)]
        quiet_clients.append(quiet_visitor)
        await load.open_all(quiet_clients)
    log("kefu: sockets open", len(everyone) + len(quiet_clients))
    # Like the widget and the workspace: a ping every 20 s, or the server closes a socket that
    # only listens (WS_HEARTBEAT_TIMEOUT).
    heartbeat = asyncio.ensure_future(pinger(everyone + quiet_clients))

    async def phase(name, runner, *a, offered=None, clients=None):
        rec = load.Recorder(f"{tag}{name}", drop_deliveries=drop_deliveries)
        clients = everyone if clients is None else clients
        load.attach(clients, rec)
        before = [stack.stats(i) for i in range(p)]
        await runner(rec, [c for c in clients if isinstance(c, load.VisitorClient)], *a)
        after = [stack.stats(i) for i in range(p)]
        tx = sum(a["batches"] - b["batches"] for a, b in zip(after, before))
        batched = sum(a["batched"] - b["batched"] for a, b in zip(after, before))
        queries = sum(a["queries"] - b["queries"] for a, b in zip(after, before))
        if delete_rows:
            await asyncio.to_thread(delete_stored, mids, rec.tag, delete_rows)
        stored = await asyncio.to_thread(count_stored, mids, rec.tag)
        out["recorders"][name] = rec
        out[name] = rec.summary(stored=stored, offered=offered)
        out[name]["ok"] = load.loss_check(out[name])
        out[name]["per_tx"] = batched / tx if tx else float("nan")
        out[name]["queries_per_msg"] = queries / max(1, len(rec.sent_at))
        out[name]["closed_sockets"] = sum(1 for c in clients if c.closed.is_set())
        # The collector's full passes in the phase: each stops every thread of its process.
        out[name]["gc_full_ms"] = [
            ms
            for a, b in zip(after, before)
            for _t, generation, ms, _n in a["gc"]["long"][len(b["gc"]["long"]) :]
            if generation == 2
        ]
        runs = sum(a["gc"]["runs"][2] - b["gc"]["runs"][2] for a, b in zip(after, before))
        log("kefu", name, fmt_row(out[name]), f"| gc full passes {runs}:", out[name]["gc_full_ms"])
        return out[name]

    async def quiet_alone(rec, senders, seconds, drain):
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(seconds, stop.set)
        await load.paced(rec, senders[0], stop)
        await load.drain(rec, drain)

    quiet_recs: dict = {}

    async def flood_with_quiet(rec, senders, *a):
        """The 2x flood, and the quiet visitor sending beside it until the flood is drained."""
        quiet_rec = quiet_recs["double_quiet"] = load.Recorder(f"{tag}double_quiet")
        load.attach(quiet_clients, quiet_rec)
        stop = asyncio.Event()
        task = asyncio.ensure_future(load.paced(quiet_rec, quiet_visitor, stop))
        try:
            await load.open_loop(rec, senders, *a)
        finally:
            stop.set()
            await task
        await load.drain(quiet_rec, cfg["drain"])

    # The first message of each visitor starts a conversation (and routes it): its own phase.
    if quiet:
        first = load.Recorder(f"{tag}quietfirst")
        load.attach(quiet_clients, first)
        await load.one_each(first, [quiet_visitor], cfg["drain"])
    await phase("warmup", load.one_each, cfg["drain"])
    # The router's step runs after the acks (conversations.pipeline): the phases below start once
    # it has routed every new conversation, or they measure 400 routings besides the message
    # path (docs/performance.md, "Latest run"). Its statements count for the first messages.
    before = [stack.stats(i) for i in range(p)]
    t = time.perf_counter()
    out["warmup"]["unrouted"] = await asyncio.to_thread(wait_routed, mids, cfg["drain"])
    out["warmup"]["routed_s"] = time.perf_counter() - t
    after = [stack.stats(i) for i in range(p)]
    out["warmup"]["queries_per_msg"] += sum(
        a["queries"] - b["queries"] for a, b in zip(after, before)
    ) / max(1, out["warmup"]["sent"])
    log(
        f"kefu: first messages routed {out['warmup']['routed_s']:.1f} s after their delivery,"
        f" {out['warmup']['unrouted']} left"
    )
    if want("saturation"):
        sat = await phase("saturation", load.closed_loop, cfg["sat_seconds"], cfg["drain"])
        sustainable = sat["throughput"]
    else:
        sustainable = sustainable_hint or 100.0

    def drain_for(messages: float) -> float:
        # Past saturation the backlog drains at the sustainable rate: wait for all of it.
        return max(cfg["drain"], 2 * messages / max(sustainable, 1.0) + 10)

    for rate in cfg["loads"]:
        if want(f"load{rate}"):
            # Far past saturation one second shows the behaviour; longer only grows the queue.
            seconds = cfg["load_seconds"] if rate <= 1.5 * sustainable else 1
            await phase(
                f"load{rate}",
                load.open_loop,
                rate,
                seconds,
                drain_for(rate * seconds),
                offered=rate,
            )
    if want("half"):
        await phase(
            "half",
            load.open_loop,
            sustainable / 2,
            cfg["load_seconds"],
            cfg["drain"],
            offered=round(sustainable / 2),
        )
    if quiet:
        await phase("quiet", quiet_alone, cfg["quiet_seconds"], cfg["drain"], clients=quiet_clients)
    if want("double"):
        await phase(
            "double",
            flood_with_quiet if quiet else load.open_loop,
            sustainable * 2,
            cfg["load_seconds"],
            drain_for(sustainable * 2 * cfg["load_seconds"]),
            offered=round(sustainable * 2),
        )
        if quiet:
            rec = out["recorders"]["double_quiet"] = quiet_recs["double_quiet"]
            stored = await asyncio.to_thread(count_stored, mids, rec.tag)
            row = out["double_quiet"] = rec.summary(stored=stored)
            row["ok"] = load.loss_check(row)
            log("kefu quiet visitor at 2x", fmt_row(row))
    load.attach(everyone + quiet_clients, None)
    heartbeat.cancel()
    await load.close_all(everyone + quiet_clients)

    if want("idle"):
        out["idle"] = await idle_phase(stack, cfg, mids[0])
    if want("storm"):
        out["storm"] = await storm_phase(stack, cfg, mids[0])
    out["server_errors"] = stack.errors()
    out["worker_alive"] = stack.worker is None or stack.worker.poll() is None
    await asyncio.to_thread(cleanup, tag)
    return out


async def pinger(clients, every: float = 20.0) -> None:
    """Idle sockets still ping (the heartbeat), like the widget."""
    while True:
        await asyncio.sleep(every)
        for c in clients:
            if c.ws is not None and not c.closed.is_set():
                try:
                    await c.ws.send('{"type":"ping"}')
                except Exception:  # noqa: BLE001 - a dead socket is counted elsewhere
                    pass


async def idle_phase(stack: Stack, cfg: dict, merchant_id: int) -> dict:
    from bench import load

    n = cfg["idle"]
    minted = await asyncio.to_thread(mint_visitors, merchant_id, n)
    await asyncio.sleep(1)
    before = stack.stats(0)
    clients = [
        load.VisitorClient(f"{stack.ws_bases[0]}/ws/visitor/?key={await _key(merchant_id)}", token)
        for _, token in minted
    ]
    ping = asyncio.ensure_future(pinger(clients))
    seconds = await load.open_all(clients, concurrency=100)
    await asyncio.sleep(2)
    after = stack.stats(0)
    ping.cancel()
    alive = sum(1 for c in clients if not c.closed.is_set())
    await load.close_all(clients)
    result = {
        "sockets": n,
        "alive": alive,
        "server_sockets": after["sockets"] - before["sockets"],
        "open_seconds": seconds,
        "kb_per_socket": (after["rss_kb"] - before["rss_kb"]) / n,
        "rss_mb": after["rss_kb"] / 1024,
    }
    log("kefu idle", result)
    return result


_keys: dict[int, str] = {}


async def _key(merchant_id: int) -> str:
    if merchant_id not in _keys:
        from merchants.models import Merchant

        _keys[merchant_id] = await asyncio.to_thread(
            lambda: Merchant.objects.get(pk=merchant_id).widget_key
        )
    return _keys[merchant_id]


async def storm_phase(stack: Stack, cfg: dict, merchant_id: int) -> dict:
    """Sockets with a conversation each are all dropped at once; while they are down an agent
    answers every conversation; then all reconnect at once with their last seq. Resumed = the
    socket is ready and shows the answer. Missed = an answer never shown; duplicated = a seq
    shown twice."""
    from bench import load

    n = cfg["storm"]
    key = await _key(merchant_id)
    minted = await asyncio.to_thread(mint_visitors, merchant_id, n, True)
    p = len(stack.ws_bases)
    clients = [
        load.VisitorClient(f"{stack.ws_bases[i % p]}/ws/visitor/?key={key}", token)
        for i, (_, token) in enumerate(minted)
    ]
    await load.open_all(clients, concurrency=200)
    # The replay follows session.ready: wait until every socket shows seq 1.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not all(1 in c.seqs for c in clients):
        await asyncio.sleep(0.05)
    shown_first = sum(1 for c in clients if c.seqs.get(1) == 1)
    await load.close_all(clients)
    # Wait until every server has run the disconnect handlers.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and sum(stack.stats(i)["sockets"] for i in range(p)) > 0:
        await asyncio.sleep(0.2)
    await asyncio.to_thread(storm_missed, merchant_id, [v for v, _ in minted])
    queries = stack.queries()
    for c in clients:
        c.retries = 0
    start = time.perf_counter()

    async def back(c):
        await c.open(last_seq=1, timeout=60)
        while 2 not in c.seqs and not c.closed.is_set():
            await asyncio.sleep(0.01)

    results = await asyncio.gather(*(back(c) for c in clients), return_exceptions=True)
    seconds = time.perf_counter() - start
    failed = [r for r in results if isinstance(r, BaseException)]
    queries = stack.queries() - queries
    await asyncio.sleep(0.5)
    result = {
        "sockets": n,
        "seconds": seconds,
        "failed": len(failed),
        "retries": sum(c.retries for c in clients),
        "shown_before": shown_first,
        "missed": sum(1 for c in clients if c.seqs.get(2, 0) == 0),
        "duplicated": sum(1 for c in clients for k in c.seqs.values() if k > 1),
        "queries_per_reconnect": queries / n,
    }
    await load.close_all(clients)
    log("kefu storm", result, failed[:2])
    return result


def cleanup(tag: str) -> None:
    from django.contrib.auth import get_user_model
    from django.db import IntegrityError

    from merchants.models import Merchant

    for attempt in range(5):
        try:
            Merchant.objects.filter(name__startswith=tag + "-").delete()
            break
        except IntegrityError:
            # On a loaded machine the step may still be routing the run's conversations and
            # adds rows (notifications) after the delete collected what to remove: try again.
            if attempt == 4:
                raise
            time.sleep(2)
    get_user_model().objects.filter(username__startswith=tag + "-").delete()


# --- API over a million messages ---------------------------------------------------------------


def api_phase(
    cfg: dict, database_url: str, redis_url: str, logdir: Path, requests: int = 200
) -> dict:
    from bench.stack import ROOT as root

    bench_db = database_url.rsplit("/", 1)[0] + "/" + os.environ.get("BENCH_DB", "kefu_bench")
    _create_database(database_url, bench_db.rsplit("/", 1)[1])
    env = dict(os.environ, DATABASE_URL=bench_db)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=root,
        env=env,
        check=True,
    )
    log("api: loading / checking the data set (first run: a few minutes)")
    done = subprocess.run(
        [sys.executable, "bench/dataset.py"],
        cwd=root,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    data = json.loads(done.stdout.strip().splitlines()[-1])
    log("api: data set", {k: v for k, v in data.items() if k not in ("token", "sample")})
    out = {"dataset": {k: v for k, v in data.items() if k not in ("token", "sample")}}
    with Stack(
        processes=1,
        database_url=bench_db,
        redis_url=redis_url,
        logdir=logdir / "api",
        worker=False,
        # A limit the requests never reach: the limit's counting (a Redis INCR per request) is
        # part of the figures, its 429s would end the phase (the default is 600 a minute).
        env={"API_RATE_LIMIT": "1000000000"},
    ) as stack:
        base = stack.bases[0]
        headers = {"Authorization": f"Bearer {data['token']}"}

        def get(path):
            request = urllib.request.Request(base + path, headers=headers)
            q = stack.stats(0)["queries"]
            t = time.perf_counter()
            with urllib.request.urlopen(request, timeout=30) as response:
                body = json.loads(response.read())
            return time.perf_counter() - t, stack.stats(0)["queries"] - q, body

        def series(paths):
            from bench.load import pct

            get(paths[0])  # warm connection and caches once
            times, counts = [], set()
            for path in paths:
                seconds, queries, _ = get(path)
                times.append(seconds)
                counts.add(queries)
            return {
                "n": len(paths),
                "p50": pct(times, 50) * 1000,
                "p99": pct(times, 99) * 1000,
                "queries": sorted(counts),
            }

        out["inbox"] = series(["/api/v1/conversations/"] * requests)
        out["inbox_open"] = series(["/api/v1/conversations/?status=open"] * (requests // 2))
        # Deep pages: follow the cursor 20 pages in.
        path, deep = "/api/v1/conversations/", []
        for _ in range(20):
            _, _, body = get(path)
            path = body["next"].split(base, 1)[-1] if body.get("next") else path
            deep.append(path)
        out["inbox_deep"] = series(deep * 5)
        sample = data["sample"]
        out["history"] = series(
            [f"/api/v1/conversations/{c}/messages/" for c in (sample * 2)[:requests]]
        )
    for name in ("inbox", "inbox_open", "inbox_deep", "history"):
        log("api", name, out[name])
    return out


def _create_database(server_url: str, name: str) -> None:
    from urllib.parse import unquote, urlparse

    import MySQLdb

    u = urlparse(server_url)
    conn = MySQLdb.connect(
        host=u.hostname or "127.0.0.1",
        port=u.port or 3306,
        user=unquote(u.username or ""),
        password=unquote(u.password or ""),
    )
    conn.cursor().execute(
        f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
    )
    conn.close()


# --- Report -------------------------------------------------------------------------------------


def fmt_row(r: dict) -> str:
    return (
        f"per tx {r.get('per_tx', float('nan')):.1f} q/msg {r.get('queries_per_msg', float('nan')):.1f} | sent {r['sent']} acked {r['acked']} stored {r['stored']} delivered {r['delivered']} "
        f"dup {r['duplicates']} | {r['throughput']:.0f} msg/s | delivery p50 {r['p50']:.1f} "
        f"p99 {r['p99']:.1f} max {r['max']:.1f} ms | rate_limited {r['rate_limited']} "
        f"errors {r['errors']} closed sockets {r.get('closed_sockets', 0)}"
    )


def f1(x) -> str:
    return "-" if x is None or x != x else (f"{x:.0f}" if abs(x) >= 100 else f"{x:.1f}")


def ratio(a, b) -> str:
    return "-" if not a or not b or a != a or b != b else f"{a / b:.2f}"


def report(m: dict, raw: dict, kefu: dict, api: dict | None, args, started: float) -> str:
    layer = "pub/sub" if args.layer == "pubsub" else "core"
    lines = [
        f"### Run of {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
        f" ({'quick' if args.quick else 'full'}, {args.processes} {args.server} processes, "
        f"channels_redis {layer} layer"
        + (f", batches capped at {args.max_batch}" if args.max_batch else "")
        + ")",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM, Python {m['python']}; "
        f"load average at start {m['load'][0]:.2f} / {m['load'][1]:.2f} / {m['load'][2]:.2f}, "
        f"at end {os.getloadavg()[0]:.2f}; the load generator and every server share these "
        f"cores; run took {time.time() - started:.0f} s.",
        "",
        "**Messages** (visitor -> agent; every message committed to MariaDB before its ack; "
        "stored = rows counted in the database; delivered = `message.created` frames on agent "
        "sockets; latency from send to delivery):",
        "",
        "| phase | offered msg/s | sent | acked | stored | delivered | dup | loss check | "
        "msg/s | delivery p50 / p99 / max ms | raw relay p50 / p99 ms | p99 ratio to raw | "
        "messages per transaction | SQL per message |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in (
        ["warmup", "saturation"]
        + [f"load{r}" for r in args.cfg["loads"]]
        + ["half", "quiet", "double", "double_quiet"]
    ):
        r = kefu.get(name)
        if r is None:
            continue
        rr = raw.get(name if name.startswith("load") or name == "saturation" else "")
        offered = "closed loop" if name == "saturation" else f1(r["offered"])
        if name == "warmup":
            offered = "1 per visitor"
        if "quiet" in name:
            offered = "1 per 0.2-0.4 s"
        label = {
            "warmup": "first messages (start + route)",
            "saturation": "saturation (sustained)",
            "half": "half sustainable",
            "quiet": "quiet visitor alone",
            "double": "2x sustainable",
            "double_quiet": "quiet visitor during 2x",
        }.get(name, "fixed")
        lines.append(
            f"| {label} | {offered} | {r['sent']} | {r['acked']} | {r['stored']} | "
            f"{r['delivered']} | {r['duplicates']} | {'OK' if r['ok'] else '**MISMATCH**'} | "
            f"{f1(r['throughput'])} | {f1(r['p50'])} / {f1(r['p99'])} / {f1(r['max'])} | "
            + (
                f"{f1(rr['p50'])} / {f1(rr['p99'])} | {ratio(r['p99'], rr['p99'])} |"
                if rr
                else "- | - |"
            )
            + f" {f1(r.get('per_tx'))} | {f1(r.get('queries_per_msg'))} |"
        )
    sat, rsat = kefu.get("saturation"), raw.get("saturation")
    lines += [
        "",
        f"Raw relay saturation: {f1(rsat['throughput'])} msg/s (p50 {f1(rsat['p50'])} ms)."
        f" Sustained persisted throughput / raw = **{ratio(sat and sat['throughput'], rsat['throughput'])}**"
        f" (target >= 0.25). Rate-limited frames resent by the clients: "
        f"{sum(kefu[k]['rate_limited'] for k in kefu if isinstance(kefu[k], dict) and 'rate_limited' in kefu[k])}.",
        "",
    ]
    alone, loaded = kefu.get("quiet"), kefu.get("double_quiet")
    if alone and loaded:
        lines[-1:-1] = [
            "Quiet visitor (one message every 0.2-0.4 s, its own merchant and agent, on the first "
            "process beside its share of the other visitors): delivery p99 unloaded / at 2x "
            f"overload **{f1(alone['p99'])} / {f1(loaded['p99'])} ms** (ratio "
            f"{ratio(loaded['p99'], alone['p99'])}, goal <= 2; ack p99 {f1(alone['ack_p99'])} / "
            f"{f1(loaded['ack_p99'])} ms; {alone['sent']} / {loaded['sent']} messages).",
            "",
        ]
    first = kefu.get("warmup") or {}
    if "routed_s" in first:
        lines[-1:-1] = [
            f"First messages: the router's step (after the acks) had routed every new "
            f"conversation {f1(first['routed_s'])} s after the last delivery"
            + (f" ({first['unrouted']} still waiting at the time-out)" if first["unrouted"] else "")
            + "; the phases after it start then, and its statements count in the first row.",
            "",
        ]
    if "idle" in kefu:
        i, ri = kefu["idle"], raw["idle"]
        lines += [
            "**Idle sockets** (authenticated visitor sockets on one daphne process; RSS slope):",
            "",
            "| sockets | alive after open | open time s | KB per socket | process RSS MB | raw relay KB per socket | ratio |",
            "|---|---|---|---|---|---|---|",
            f"| {i['sockets']} | {i['alive']} | {f1(i['open_seconds'])} | {f1(i['kb_per_socket'])} | "
            f"{f1(i['rss_mb'])} | {f1(ri['kb_per_socket'])} | {ratio(i['kb_per_socket'], ri['kb_per_socket'])} |",
            "",
        ]
    if "storm" in kefu:
        s = kefu["storm"]
        lines += [
            "**Reconnect storm** (sockets with a conversation each dropped at once; an agent "
            "answers every conversation while they are down; all reconnect at once with their "
            "last seq):",
            "",
            "| sockets | all resumed in s | failed | missed | duplicated | DB queries per reconnect | raw relay reconnect s | ratio |",
            "|---|---|---|---|---|---|---|---|",
            f"| {s['sockets']} | {f1(s['seconds'])} | {s['failed']} | {s['missed']} | "
            f"{s['duplicated']} | {f1(s['queries_per_reconnect'])} | {f1(raw['storm_seconds'])} | "
            f"{ratio(s['seconds'], raw['storm_seconds'])} |",
            "",
        ]
    if api:
        d = api["dataset"]
        lines += [
            f"**APIs over {d['conversations']:,} conversations and {d['messages']:,} messages** "
            "(one merchant, MariaDB, one daphne process, sequential requests with an API token; "
            "queries counted in the server):",
            "",
            "| request | n | p50 ms | p99 ms | SQL queries per request |",
            "|---|---|---|---|---|",
        ]
        for name, label in [
            ("inbox", "inbox list, first page (50)"),
            ("inbox_open", "inbox list, status=open"),
            ("inbox_deep", "inbox list, pages 1-20 by cursor"),
            ("history", "message history of a conversation"),
        ]:
            a = api[name]
            lines.append(
                f"| {label} | {a['n']} | {f1(a['p50'])} | {f1(a['p99'])} | "
                f"{', '.join(map(str, a['queries']))} |"
            )
        lines.append("")
    errors = kefu.get("server_errors") or []
    lines.append(
        f"Server log: {len(errors)} ERROR/traceback lines"
        + (f" (first: `{errors[0]}`)" if errors else "")
        + "; Celery worker "
        + ("alive" if kefu.get("worker_alive") else "**died**")
        + " at the end."
    )
    return "\n".join(lines) + "\n"


START, END = "<!-- bench:results:start -->", "<!-- bench:results:end -->"


def write(path: Path, text: str) -> None:
    doc = path.read_text(encoding="utf-8") if path.exists() else "# Performance\n"
    if START in doc and END in doc:
        head, rest = doc.split(START, 1)
        _, tail = rest.split(END, 1)
        doc = f"{head}{START}\n{text}{END}{tail}"
    else:
        doc = doc.rstrip("\n") + f"\n\n## Latest run\n\n{START}\n{text}{END}\n"
    path.write_text(doc, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--write", help="put the result tables into this markdown file")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--layer", choices=["pubsub", "core"], default="pubsub")
    parser.add_argument(
        "--server",
        choices=["daphne", "uvicorn"],
        default="daphne",
        help="the ASGI server of the product's processes (bench/stack.py)",
    )
    parser.add_argument("--no-api", action="store_true")
    parser.add_argument(
        "--max-batch",
        type=int,
        default=0,
        help="cap the visitor-message batch (1 = one transaction per message)",
    )
    args = parser.parse_args()
    # Stopped from outside (Ctrl-C, kill): still stop the servers it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    database_url, redis_url = require_services()
    fds = raise_fd_limit()
    setup_django()
    args.cfg = cfg = dict(QUICK if args.quick else FULL)
    if args.no_api:
        cfg["api"] = False
    m = machine()
    started = time.time()
    log(f"machine {m}; fd limit {fds}")
    raw = asyncio.run(raw_phase(cfg))
    from django.conf import settings

    logdir = Path(settings.VAR_DIR) / "bench"
    env = {"SECRET_KEY": settings.SECRET_KEY, "BENCH_CHANNEL_LAYER": args.layer}
    if args.max_batch:
        env["BENCH_MAX_BATCH"] = str(args.max_batch)
    with Stack(
        processes=args.processes,
        database_url=database_url,
        redis_url=redis_url,
        logdir=logdir,
        env=env,
        server=args.server,
    ) as stack:
        kefu = asyncio.run(kefu_phase(stack, cfg))
    api = api_phase(cfg, database_url, redis_url, logdir) if cfg["api"] else None
    text = report(m, raw, kefu, api, args, started)
    print(text)
    if args.write:
        write(Path(args.write), text)
    phases = [v for v in kefu.values() if isinstance(v, dict) and "ok" in v]
    ok = all(p["ok"] for p in phases)
    storm = kefu.get("storm")
    ok = ok and (
        storm is None
        or (storm["missed"] == 0 and storm["duplicated"] == 0 and storm["failed"] == 0)
    )
    print("loss accounting:", "OK" if ok else "MISMATCH")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
