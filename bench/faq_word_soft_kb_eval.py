"""Research (issue 17): `kb_eval faq` with bench/faq_word_soft.py's near-synonym gain added to
the FAQ score, so the figures go through the product's import, trainer, calibration (the answer
point is learnt with the gain included), confidence curve and the bot's decision rule.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python -m bench.faq_word_soft_kb_eval \\
        --source w2v:/tmp/words.vector --lam 0.2 --kb KB.csv --test TEST.csv

Nothing in the product changes: in this process only, `Engine._query` remembers the text it
segmented and `Engine._faq_blend` (called by both `similarities` and `calibrate_faq`, after
`_query`) adds `lam x (soft overlap - exact-word overlap)` of that text to every FAQ. The gain
compares the text with each entry's standard question (the faq_zh splits have one phrasing per
entry, so the calibration's held-out side, which would need that phrasing left out, is empty).
Times include the research implementation of the gain (plain numpy over every entry's words).
"""

from __future__ import annotations

import argparse
import os

import numpy as np


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--source", required=True)
    p.add_argument("--lam", type=float, default=0.2)
    p.add_argument("--tau", type=float, default=0.5)
    p.add_argument("--syn-weight", type=float, default=0.8)
    p.add_argument("--kb", required=True)
    p.add_argument("--test", required=True)
    a = p.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kefu.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from bench.faq_word_soft import Soft, get_source
    from knowledge.nlp import engine as nlp

    source = get_source(a.source, a.tau, a.syn_weight)
    query, blend = nlp.Engine._query, nlp.Engine._faq_blend

    def _query(self, text):
        self._soft_text = text
        return query(self, text)

    def _faq_blend(self, sims, qvec, skip_doc=None):
        sims = blend(self, sims, qvec, skip_doc)
        if not hasattr(self, "_soft"):
            faq = self.run_owner[: self.n_faq_runs]
            self._soft_rows = faq
            self._soft = Soft(self, source, [self.owners[i].label for i in faq])
        text = self._soft_text
        gain = self._soft.score(text) - self._soft.score(text, exact_only=True)
        sims[self._soft_rows] += a.lam * gain.astype(np.float32)
        return sims

    nlp.Engine._query = _query
    nlp.Engine._faq_blend = _faq_blend
    call_command("kb_eval", "faq", "--kb", a.kb, "--test", a.test)


if __name__ == "__main__":
    main()
