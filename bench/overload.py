"""The suite's overload measurement alone (issue 12): closed-loop saturation, the quiet visitor
alone, then twice the saturation rate offered with the quiet visitor beside it, on the real
stack (bench/stack.py). Prints each phase's row, the quiet visitor's p99 unloaded / at 2x and
the load average. Meant for interleaved A/B runs on a loaded machine, where the full suite is
too long.

Usage: python bench/overload.py [--visitors 400] [--merchants 20] [--seconds 5]
       [--quiet-seconds 10] [--server daphne|uvicorn] [--load 100 [--load 500 ...]] [--half]
       [--env NAME=VALUE ...]
`--load` and `--half` add the suite's fixed-rate and half-load phases (after saturation).
DATABASE_URL / REDIS_URL as for bench/suite.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import loop_profile, suite  # noqa: E402
from bench.stack import Stack  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--visitors", type=int, default=400)
    parser.add_argument("--merchants", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--quiet-seconds", type=float, default=10)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--server", choices=("daphne", "uvicorn"), default="daphne")
    parser.add_argument("--load", type=int, action="append", default=[], help="msg/s offered")
    parser.add_argument("--half", action="store_true", help="half the saturation rate offered")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the servers")
    parser.add_argument(
        "--trace", action="store_true", help="split the latencies by stage (BENCH_TRACE=1)"
    )
    parser.add_argument("--dump", help="with --trace: the quiet visitor's stamps (JSON file)")
    args = parser.parse_args()
    database_url, redis_url = suite.require_services()
    suite.raise_fd_limit()
    suite.setup_django()
    from django.conf import settings

    cfg = dict(
        suite.QUICK,
        merchants=args.merchants,
        visitors=args.visitors,
        loads=args.load,
        load_seconds=args.seconds,
        sat_seconds=args.seconds,
        quiet_seconds=args.quiet_seconds,
    )
    env = {"SECRET_KEY": settings.SECRET_KEY, **dict(e.split("=", 1) for e in args.env)}
    if args.trace:
        env["BENCH_TRACE"] = "1"
    start = os.getloadavg()
    with Stack(
        processes=args.processes,
        database_url=database_url,
        redis_url=redis_url,
        logdir=Path(settings.VAR_DIR) / "bench",
        env=env,
        server=args.server,
    ) as stack:
        extra = [f"load{rate}" for rate in args.load] + (["half"] if args.half else [])
        only = {"saturation", "quiet", "double", *extra}
        out = asyncio.run(suite.kefu_phase(stack, cfg, only=only))
        for i in range(args.processes):
            gc = stack.stats(i)["gc"]
            print(f"gc process {i}: runs {gc['runs']}, pause ms {[round(x) for x in gc['ms']]}")
            print(f"  longest by generation {gc['max_ms']} ms; >= 20 ms: {gc['long'][-30:]}")
        if args.trace:
            trace = loop_profile.traces(stack)
            for name in ("quiet", "double", "double_quiet"):
                print(
                    f"== {name}", *loop_profile.breakdown(trace, out["recorders"][name]), sep="\n"
                )
            if args.dump:
                rows = {}
                for name in ("quiet", "double_quiet"):
                    rec = out["recorders"][name]
                    for cid, sent in rec.sent_at.items():
                        rows[cid] = dict(
                            trace.get(cid, {}),
                            sent=sent,
                            acked=rec.acked_at.get(cid),
                            delivered=rec.delivered_at.get(cid),
                        )
                rows["gc"] = [stack.stats(i)["gc"]["long"] for i in range(args.processes)]
                Path(args.dump).write_text(json.dumps(rows))
    for name in ("saturation", *extra, "quiet", "double", "double_quiet"):
        print(name, suite.fmt_row(out[name]), "ack p99", f"{out[name]['ack_p99']:.1f}")
    alone, loaded = out["quiet"], out["double_quiet"]
    print(
        f"{time.strftime('%H:%M:%S')} quiet visitor p99 unloaded / at 2x overload:"
        f" {alone['p99']:.1f} / {loaded['p99']:.1f} ms (p50 {alone['p50']:.1f} /"
        f" {loaded['p50']:.1f}); 2x p99 {out['double']['p99']:.0f} ms;"
        f" load average {start[0]:.1f} -> {os.getloadavg()[0]:.1f}; env {args.env};"
        f" {args.server}; server errors {len(out['server_errors'])}"
    )


if __name__ == "__main__":
    main()
