"""bench/faq_word_soft.py, the word-vector and synonym study of issue 17: a near-synonym lifts
only the entry that holds it, related-but-different words of the Cilin do not count, and the
loader of the pickled vectors never runs what the file names."""

import os
import pickle
from types import SimpleNamespace

import numpy as np
import pytest

from bench import faq_word_soft
from knowledge.nlp.tokenize import Segmenter


@pytest.fixture
def cilin(tmp_path):
    path = tmp_path / "cilin.txt"
    # '=' lines are synonyms; '#' lines only related words, which must not count.
    path.write_text("Dj01A01= 手续费 费用\nDj01A02# 开户 销户\n", encoding="utf-8")
    return faq_word_soft.Synonyms(str(path), 0.8)


def test_only_synonym_lines_count(cilin):
    s = cilin.matrix(["费用", "开户"], ["手续费", "销户", "其他"])
    assert s.tolist() == [[pytest.approx(0.8), 0.0, 0.0], [0.0, 0.0, 0.0]]


def test_the_gain_lifts_the_entry_holding_the_synonym_and_no_other(cilin):
    seg = Segmenter()
    kb = ["手续费多少", "怎么开户"]
    assert seg.tokens("手续费多少") == ["手续费", "多少"]
    eng = SimpleNamespace(seg=seg, bm25_vocab={}, bm25_idf=np.zeros(0), bm25_oov_idf=2.0)
    soft = faq_word_soft.Soft(eng, cilin, kb)
    full = soft.score("费用多少")
    exact = soft.score("费用多少", exact_only=True)
    gain = full - exact
    assert gain[0] > 0.1
    assert gain[1] == 0.0
    # 多少 is shared exactly: the exact overlap sees it, the gain does not count it again.
    assert exact[0] > 0 and exact[1] == 0.0
    # A question with nothing to read scores nothing.
    assert not soft.score("？？").any()


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch should-not-exist",))


def test_the_vector_loader_refuses_code_in_the_pickle(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "words_tree_mini.m"
    path.write_bytes(pickle.dumps({"model": _Payload(), "words": ["a"]}))
    with pytest.raises(pickle.UnpicklingError, match="refused"):
        faq_word_soft.load_cnsyn(str(path), 0.5)
    assert not (tmp_path / "should-not-exist").exists()
