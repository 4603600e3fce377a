"""Research: `kb_eval faq` with a sentence encoder blended into the FAQ similarity, so the
figures go through the product's import, trainer, confidence curve and the bot's decision rule
(knowledge.dialogue) exactly as they would if the blend shipped. Nothing in the product changes:
the engine's `similarities` is wrapped in this process only.

    OMP_NUM_THREADS=1 PYTHONPATH=DIR_WITH_THE_ENCODER_PACKAGE:. nice -n 19 .venv/bin/python \\
        -m bench.faq_encoder_kb_eval --encoder static:/tmp/table.npz --weight 0.7 \\
        --kb KB.csv --test TEST.csv

Each FAQ's vector is its standard question's (the engine keeps no other phrasing's text; the
faq_zh splits have one phrasing per entry). The similarity of an FAQ becomes
`weight x cosine + (1 - weight) x the lexical similarity`; intents are untouched.
"""

from __future__ import annotations

import argparse
import os

import numpy as np


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--encoder", required=True)
    p.add_argument("--weight", type=float, default=0.7)
    p.add_argument("--kb", required=True)
    p.add_argument("--test", required=True)
    a = p.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kefu.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from bench.faq_encoder_study import get_encoder
    from knowledge.nlp import engine as nlp

    encode = get_encoder(a.encoder)
    lexical = nlp.Engine.similarities

    def similarities(self, text):
        sims, toks, idx, val = lexical(self, text)
        if not hasattr(self, "_faq_vectors"):
            rows = np.flatnonzero(self.kinds)
            self._faq_rows = rows
            self._faq_vectors = np.asarray(
                encode([self.owners[i].label for i in rows]), dtype=np.float32
            )
        if len(self._faq_rows):
            v = np.asarray(encode([text]), dtype=np.float32)[0]
            cos = self._faq_vectors @ v
            sims = sims.copy()
            sims[self._faq_rows] = a.weight * cos + (1 - a.weight) * sims[self._faq_rows]
        return sims, toks, idx, val

    nlp.Engine.similarities = similarities
    call_command("kb_eval", "faq", "--kb", a.kb, "--test", a.test)


if __name__ == "__main__":
    main()
