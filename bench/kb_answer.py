"""Knowledge-base bot benchmark: training time, model size and answer latency at scale.

    .venv/bin/python -m bench.kb_answer [--faqs 10000] [--queries 2000] [--intents-csv PATH]

1. FAQ: a generated knowledge base of `--faqs` entries (Chinese and English questions built from
   products x topics x phrasings, each with two similar questions and keywords), trained with
   knowledge.nlp.engine.train; then `--queries` questions (paraphrases of random entries, and
   off-topic ones) answered one at a time with Engine.answer, as the bot does.
2. Intents: training time for a classifier on labelled examples (Banking77's 10,003 training
   questions, 77 intents, from `--intents-csv` or $KEFU_NLP_DATA/banking77/train.csv, else
   generated ones), and the
   answer latency with it (English: the sentence encoder runs on every question).

Pure engine code (no database): the figures are the NLP cost the bot pays per message. Run
it on an idle machine for publishable numbers; `os.getloadavg()` is printed with the results,
and every figure is given twice: wall clock, and CPU time of this process (`*_cpu`), which a
busy shared machine does not inflate (the code is single-threaded).

The held-out paraphrases share few or no words with their entry ("规格参数" for "尺寸是多少"), so
`paraphrase_top1` is a floor for lexical matching, not the accuracy on real visitor questions.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from knowledge.nlp.build_sentiment import DEFAULT_DATA  # $KEFU_NLP_DATA (docs/knowledge.md)
from knowledge.nlp.engine import Engine, FaqDoc, IntentDoc, KbSnapshot, train

DEFAULT_INTENTS = DEFAULT_DATA / "banking77" / "train.csv" if DEFAULT_DATA else None

ZH_PRODUCTS = [
    "手机",
    "耳机",
    "手环",
    "平板",
    "笔记本",
    "充电器",
    "数据线",
    "音箱",
    "键盘",
    "鼠标",
    "显示器",
    "路由器",
    "相机",
    "电饭煲",
    "空气炸锅",
    "吹风机",
    "电动牙刷",
    "洗衣机",
    "冰箱",
    "空调",
    "扫地机",
    "净水器",
    "台灯",
    "背包",
    "跑鞋",
    "外套",
    "牛仔裤",
    "茶叶",
    "咖啡机",
    "奶粉",
]
ZH_TOPICS = [
    ("怎么退货", ["能退吗", "退货流程"]),
    ("保修多久", ["质保期", "坏了能保修吗"]),
    ("运费多少", ["包邮吗", "邮费怎么算"]),
    ("什么时候发货", ["多久发货", "几天能发出"]),
    ("怎么开发票", ["能开发票吗", "发票怎么申请"]),
    ("有没有优惠", ["能便宜点吗", "有折扣吗"]),
    ("怎么安装", ["安装教程", "不会装怎么办"]),
    ("颜色有哪些", ["有几种颜色", "有黑色吗"]),
    ("尺寸是多少", ["多大尺寸", "规格参数"]),
    ("怎么换货", ["可以换一个吗", "换货流程"]),
    ("支持分期吗", ["可以分期付款吗", "花呗能用吗"]),
    ("是正品吗", ["有假货吗", "正品保证吗"]),
]
EN_PRODUCTS = [
    "phone",
    "headphones",
    "watch",
    "tablet",
    "laptop",
    "charger",
    "cable",
    "speaker",
    "keyboard",
    "mouse",
    "monitor",
    "router",
    "camera",
    "blender",
    "kettle",
    "vacuum",
    "heater",
    "fan",
    "lamp",
    "backpack",
    "jacket",
    "shoes",
    "desk",
    "chair",
    "printer",
]
EN_TOPICS = [
    ("how do I return the {p}", ["can I send the {p} back", "{p} return policy"]),
    ("what is the warranty on the {p}", ["is the {p} under guarantee", "{p} broke, is it covered"]),
    ("how much is shipping for the {p}", ["{p} delivery cost", "is shipping free for the {p}"]),
    ("when will the {p} ship", ["how long until the {p} is dispatched", "{p} shipping time"]),
    ("how do I set up the {p}", ["{p} installation guide", "{p} setup help"]),
    ("what colours does the {p} come in", ["{p} colour options", "is the {p} available in black"]),
    ("can I pay for the {p} in instalments", ["{p} monthly payments", "{p} financing"]),
]
OFF_TOPIC = [
    "今天天气怎么样",
    "你是机器人吗",
    "讲个笑话吧",
    "what's the capital of France",
    "who won the football match",
    "我想找你们老板聊聊合作",
]


def generate_faqs(n: int) -> tuple[list[FaqDoc], list[tuple[str, int]]]:
    """n FAQ entries and, for some, a paraphrase query with its expected FAQ id."""
    faqs, queries = [], []
    combos = [("zh", p, t) for p in ZH_PRODUCTS for t in ZH_TOPICS] + [
        ("en", p, t) for p in EN_PRODUCTS for t in EN_TOPICS
    ]
    i = 0
    while len(faqs) < n:
        lang, p, (q, similar) = combos[i % len(combos)]
        series = i // len(combos)  # beyond the base combos: model numbers make entries distinct
        name = p if series == 0 else (f"{p}{series}代" if lang == "zh" else f"{p} mk{series}")
        if lang == "zh":
            question, sims = name + q, [name + s for s in similar]
        else:
            question, sims = q.format(p=name), [s.format(p=name) for s in similar]
        faqs.append(FaqDoc(len(faqs) + 1, question, sims[:1], [name]))
        queries.append((sims[1], len(faqs)))  # held back: not in the KB, a paraphrase
        i += 1
    return faqs, queries


def pct(ts, q):
    return float(np.percentile(ts, q))


def bench_faqs(n: int, n_queries: int, rng: random.Random) -> dict:
    faqs, paraphrases = generate_faqs(n)
    t0, c0 = time.perf_counter(), time.process_time()
    data = train(
        KbSnapshot(faqs=faqs, synonyms={"退货": ["退掉", "退回"]}, dictionary=[("空气炸锅", None)])
    )
    train_s, train_cpu = time.perf_counter() - t0, time.process_time() - c0
    t0 = time.perf_counter()
    engine = Engine.load(data)
    load_s = time.perf_counter() - t0
    sample = rng.sample(paraphrases, min(n_queries, len(paraphrases)))
    queries = [(q, fid) for q, fid in sample] + [(q, None) for q in OFF_TOPIC * 10]
    engine.answer("预热 warm up")
    ts, cpu, hits = [], [], 0
    for q, fid in queries:
        t0, c0 = time.perf_counter(), time.thread_time()
        cands = engine.answer(q)
        ts.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.thread_time() - c0) * 1000)
        if fid is not None and cands and cands[0].kind == "faq" and cands[0].id == fid:
            hits += 1
    return {
        "faqs": n,
        "train_s": round(train_s, 2),
        "train_cpu_s": round(train_cpu, 2),
        "model_mb": round(len(data) / 1e6, 2),
        "load_s": round(load_s, 2),
        "queries": len(queries),
        "p50_ms": round(pct(ts, 50), 2),
        "p99_ms": round(pct(ts, 99), 2),
        "max_ms": round(max(ts), 2),
        "p50_cpu_ms": round(pct(cpu, 50), 2),
        "p99_cpu_ms": round(pct(cpu, 99), 2),
        "paraphrase_top1": round(hits / len(sample), 4),
    }


def bench_intents(path: Path | None, rng: random.Random) -> dict:
    groups: dict[str, list[str]] = defaultdict(list)
    if path is not None and path.exists():
        with open(path, encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                groups[row.get("label") or row["category"]].append(row["text"])
        source = str(path.name)
    else:
        for _k in range(10_000):
            p, (q, _) = rng.choice(EN_PRODUCTS), rng.choice(EN_TOPICS)
            groups[q].append(q.format(p=p) + rng.choice(["", " please", " thanks", "?"]))
        source = "generated"
    snap = KbSnapshot(
        intents=[IntentDoc(i, name, ex) for i, (name, ex) in enumerate(sorted(groups.items()))]
    )
    t0, c0 = time.perf_counter(), time.process_time()
    data = train(snap)
    train_s, train_cpu = time.perf_counter() - t0, time.process_time() - c0
    engine = Engine.load(data)
    # Latency only (these questions were trained on): with the sentence encoder a question
    # also runs it, on its own threads, so CPU is the whole process's time, not this thread's.
    every = [t for ex in groups.values() for t in ex]
    questions = rng.sample(every, min(1000, len(every)))
    engine.answer("warm up")
    ts, cpu = [], []
    for q in questions:
        t0, c0 = time.perf_counter(), time.process_time()
        engine.answer(q)
        ts.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    return {
        "source": source,
        "examples": sum(len(v) for v in groups.values()),
        "intents": len(groups),
        "encoder": engine.clf_dense is not None,
        "train_s": round(train_s, 2),
        "train_cpu_s": round(train_cpu, 2),
        "model_mb": round(len(data) / 1e6, 2),
        "p50_ms": round(pct(ts, 50), 2),
        "p99_ms": round(pct(ts, 99), 2),
        "p50_cpu_ms": round(pct(cpu, 50), 2),
        "p99_cpu_ms": round(pct(cpu, 99), 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--faqs", type=int, default=10_000)
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--intents-csv", type=Path, default=DEFAULT_INTENTS)
    args = ap.parse_args()
    rng = random.Random(0)
    print("cpus", os.cpu_count(), "load before", [round(x, 2) for x in os.getloadavg()], flush=True)
    print("faq", bench_faqs(args.faqs, args.queries, rng), flush=True)
    print("intents", bench_intents(args.intents_csv, rng), flush=True)
    print("load after", [round(x, 2) for x in os.getloadavg()])


if __name__ == "__main__":
    main()
