"""Where a persisted message's CPU and latency go in the server processes: the saturation and
100 msg/s phases of the suite (bench/suite.py) on the real stack, with, per phase,

- CPU per message of each daphne process's event loop (its main thread) and of its other
  threads (the database thread, the post-commit step's), from /proc thread times: other
  processes on the machine do not count in them;
- the latency of each message split along its path (bench/asgi_counted.py, BENCH_TRACE=1):
  sent by the client -> handed to the writer (JSON, validation) -> its batch enters the
  database thread (waiting for the previous batch) -> committed -> its events published ->
  received by the agent socket (Redis, the other process's loop) -> sent on it -> delivered;
- with --py-spy, a sampled profile of the first process during each phase (py-spy must be
  installed; not a requirement of the product), top functions of the main thread by own time
  and by time including callees.

Usage: python bench/loop_profile.py [--visitors 200] [--merchants 20] [--seconds 8]
       [--rate 100] [--py-spy] [--env NAME=VALUE ...]
DATABASE_URL / REDIS_URL as for bench/suite.py.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import suite  # noqa: E402
from bench.stack import Stack  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of the process's main thread ("loop") and of all its other threads."""
    out = {"loop": 0.0, "other": 0.0}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        cpu = (int(fields[11]) + int(fields[12])) / TICK
        out["loop" if int(task.name) == pid else "other"] += cpu
    return out


def pct(values, p):
    values = sorted(values)
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


STAGES = [
    ("client -> read by the server", "sent", "read"),
    ("read -> taken by the consumer", "read", "received"),
    ("consumer -> writer", "received", "queued"),
    ("writer -> database thread", "queued", "db_start"),
    ("database thread (batch)", "db_start", "db_end"),
    ("committed -> publish start", "db_end", "publish_start"),
    ("publish", "publish_start", "published"),
    ("published -> agent consumer", "published", "agent_received"),
    ("agent consumer -> sent", "agent_received", "agent_sent"),
    ("sent -> client", "agent_sent", "delivered"),
]


def breakdown(trace: dict, rec) -> list[str]:
    """Per stage: p50 / p99 ms, and the stages of the slowest 1 % of deliveries (mean)."""
    rows = {}
    for cid, t_delivered in rec.delivered_at.items():
        stages = dict(trace.get(cid, {}))
        stages["sent"], stages["delivered"] = rec.sent_at[cid], t_delivered
        if all(k in stages for _, a, b in STAGES for k in (a, b)):
            rows[cid] = stages
    if not rows:
        return ["(no traced message)"]
    total = {c: s["delivered"] - s["sent"] for c, s in rows.items()}
    slow = sorted(total, key=total.get)[-max(1, len(total) // 100) :]
    lines = [f"traced {len(rows)} of {len(rec.delivered_at)} deliveries"]
    lines.append(f"{'stage':32} {'p50 ms':>8} {'p99 ms':>8} {'slowest 1% mean ms':>20}")
    for name, a, b in STAGES:
        values = [(s[b] - s[a]) * 1000 for s in rows.values()]
        slow_mean = sum((rows[c][b] - rows[c][a]) * 1000 for c in slow) / len(slow)
        lines.append(f"{name:32} {pct(values, 50):8.2f} {pct(values, 99):8.2f} {slow_mean:20.2f}")
    values = [v * 1000 for v in total.values()]
    slow_total = sum(total[c] for c in slow) * 1000 / len(slow)
    lines.append(f"{'total':32} {pct(values, 50):8.2f} {pct(values, 99):8.2f} {slow_total:20.2f}")
    return lines


def traces(stack: Stack) -> dict:
    """The servers' stamps by client_msg_id (BENCH_TRACE=1), taken: each call starts afresh."""
    merged = {}
    for base in stack.bases:
        with urllib.request.urlopen(f"{base}/__bench/trace", timeout=30) as r:
            for cid, stages in json.loads(r.read()).items():
                merged.setdefault(cid, {}).update(stages)
    return merged


def gc_report(after: list[dict], before: list[dict], started: float) -> list[str]:
    """Per process, the collector's runs and pause time by generation during the phase, and its
    pauses of 20 ms or more since the previous report (seconds from the phase's start)."""
    lines = []
    for i, (a, b) in enumerate(zip(after, before)):
        runs = [x - y for x, y in zip(a["runs"], b["runs"])]
        ms = [x - y for x, y in zip(a["ms"], b["ms"])]
        long = [
            f"{t - started:+.1f} s gen{g} {p} ms ({n} freed)"
            for t, g, p, n in a["long"][len(b["long"]) :]
        ]
        lines.append(
            f"gc process {i}: runs by generation {runs}, pause ms {[round(x) for x in ms]}; "
            f"pauses >= 20 ms: {', '.join(long) or 'none'}"
        )
    return lines


def spy_report(path: Path, top: int = 25) -> list[str]:
    """py-spy's raw (collapsed) stacks, one thread per root frame (--threads) -> the top
    functions of the event loop's thread (the one whose stacks run asyncio's _run_once)."""
    threads: dict[str, list[tuple[list[str], int]]] = collections.defaultdict(list)
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue  # a frame name with a line break in it (a module's docstring) split the line
        frames = stack.split(";")
        threads[frames[0]].append((frames[1:], int(count)))

    def name(frame: str) -> str:
        function, _, where = frame.partition(" (")
        return f"{function} ({where.split(':')[0].rsplit('/', 2)[-1]})" if where else function

    loop = [s for s in threads.values() if any("_run_once" in f for fs, _ in s for f in fs)]
    if not loop:
        return ["(py-spy: no event-loop thread found)"]
    own, incl = collections.Counter(), collections.Counter()
    total = 0
    for frames, n in loop[0]:
        total += n
        names = [name(f) for f in frames]
        if names:
            own[names[-1]] += n
        for each in set(names):
            incl[each] += n
    lines = [f"py-spy, event loop thread: {total} busy samples"]
    lines.append("-- own time")
    lines += [f"{100 * n / total:5.1f} %  {each}" for each, n in own.most_common(top)]
    lines.append("-- including callees")
    lines += [f"{100 * n / total:5.1f} %  {each}" for each, n in incl.most_common(top)]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--visitors", type=int, default=200)
    parser.add_argument("--merchants", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--rate", type=int, default=100)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--py-spy", action="store_true")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the servers")
    parser.add_argument("--out", default="/tmp/loop_profile")
    args = parser.parse_args()
    database_url, redis_url = suite.require_services()
    suite.raise_fd_limit()
    suite.setup_django()
    from django.conf import settings

    from bench import load

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    cfg = dict(
        suite.QUICK,
        merchants=args.merchants,
        visitors=args.visitors,
        loads=[args.rate],
        load_seconds=args.seconds,
        sat_seconds=args.seconds,
    )
    env = {"SECRET_KEY": settings.SECRET_KEY, "BENCH_TRACE": "1"}
    env.update(dict(e.split("=", 1) for e in args.env))
    print(time.strftime("%H:%M:%S"), "load average", os.getloadavg(), "env", args.env, flush=True)
    with Stack(
        processes=args.processes,
        database_url=database_url,
        redis_url=redis_url,
        logdir=Path(settings.VAR_DIR) / "bench",
        env=env,
    ) as stack:
        pids = [stack.stats(i)["pid"] for i in range(args.processes)]
        reports = []

        def wrap(name, runner):
            async def measured(rec, visitors, *a):
                traces(stack)  # drop what earlier phases left
                spy_proc = None
                if args.py_spy:
                    spy_proc = subprocess.Popen(
                        [
                            spy,
                            "record",
                            "--pid",
                            str(pids[0]),
                            "--rate",
                            "250",
                            "--threads",
                            "--nonblocking",
                            "--format",
                            "raw",
                            "-o",
                            str(out / f"{name}.txt"),
                            "--duration",
                            str(int(args.seconds) + 1),
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                before = [thread_cpu(p) for p in pids]
                gc_before = [stack.stats(i)["gc"] for i in range(len(pids))]
                started = time.perf_counter()
                load_before = os.getloadavg()[0]
                await runner(rec, visitors, *a)
                after = [thread_cpu(p) for p in pids]
                if spy_proc:
                    spy_proc.wait()
                n = max(1, len(rec.sent_at))
                loop_us = sum(a["loop"] - b["loop"] for a, b in zip(after, before)) / n * 1e6
                other_us = sum(a["other"] - b["other"] for a, b in zip(after, before)) / n * 1e6
                lines = [
                    f"== {name}: {len(rec.sent_at)} sent, load average {load_before:.1f} ->"
                    f" {os.getloadavg()[0]:.1f}",
                    f"server CPU per message: event loop {loop_us:.0f} us, other threads"
                    f" {other_us:.0f} us",
                ]
                lines += breakdown(traces(stack), rec)
                lines += gc_report(
                    [stack.stats(i)["gc"] for i in range(len(pids))], gc_before, started
                )
                if args.py_spy and (out / f"{name}.txt").exists():
                    lines += spy_report(out / f"{name}.txt")
                reports.append("\n".join(lines))
                print(reports[-1], flush=True)

            return measured

        load_closed, load_open = load.closed_loop, load.open_loop
        load.closed_loop = wrap("saturation", load_closed)
        load.open_loop = wrap(f"load{args.rate}", load_open)
        try:
            result = asyncio.run(
                suite.kefu_phase(stack, cfg, only={"saturation", f"load{args.rate}"})
            )
        finally:
            load.closed_loop, load.open_loop = load_closed, load_open
    for name in ("saturation", f"load{args.rate}"):
        row = result.get(name)
        if row:
            print(name, suite.fmt_row(row))
    (out / "report.txt").write_text("\n\n".join(reports))


if __name__ == "__main__":
    main()
