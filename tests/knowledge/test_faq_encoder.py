"""The FAQ sentence encoder (knowledge/nlp/faq_encoder.py) and what it does for FAQ answers
(issue 17): paraphrases that share no words with a hand-written bilingual knowledge base are
answered, unrelated questions are not, weights that are not the pinned ones are refused, a model
trained with the encoder still answers in a process without it, and each knowledge base learns
from its own entries where to answer directly."""

import numpy as np
import pytest

from knowledge import dialogue
from knowledge.nlp import engine as nlp
from knowledge.nlp import faq_encoder
from knowledge.nlp.engine import Engine, FaqDoc, KbSnapshot, train

FAQS = [
    FaqDoc(1, "怎么还款", ["信用卡怎么还"]),
    FaqDoc(2, "转账多久到账", ["转账什么时候到"]),
    FaqDoc(3, "怎么修改登录密码"),
    FaqDoc(4, "How do I cancel my subscription?"),
    FaqDoc(5, "Where can I download my invoice?"),
    FaqDoc(6, "营业时间是几点到几点"),
    FaqDoc(7, "可以用支付宝付款吗"),
    FaqDoc(8, "What is your refund policy?"),
]
# Rephrased so that few or no words are shared with the entry (还钱 / 还款, 到帐 / 到账).
PARAPHRASES = [
    ("如何还钱", 1),
    ("钱转过去几时能到帐", 2),
    ("I want to stop my subscription", 4),
    ("where can I get a copy of my bill", 5),
    ("支付宝能付吗", 7),
]
UNRELATED = ["今天天气怎么样", "what's the capital of France", "推荐一部电影"]


@pytest.fixture
def restore_config(settings):
    yield
    faq_encoder.configure(
        enabled=settings.KB_FAQ_ENCODER, directory=settings.KB_FAQ_ENCODER_DIR, threads=1
    )


@pytest.fixture(scope="module")
def engine():
    assert faq_encoder.get() is not None, faq_encoder.unavailable_reason()
    return Engine.load(train(KbSnapshot(faqs=FAQS)))


def decide(engine, text):
    return dialogue.decide(dialogue.read(engine, text)[0])


def test_the_answer_point_is_the_bots():
    assert nlp.ANSWER_AT == dialogue.ANSWER_THRESHOLD


def test_vectors_put_a_chinese_paraphrase_near_and_another_topic_far():
    enc = faq_encoder.get()
    a, para, other, empty = enc.encode(["怎么还款", "如何还钱", "今天天气怎么样", "  "])
    assert np.isclose(np.linalg.norm(a), 1.0, atol=1e-5)
    assert a @ para > a @ other + 0.3
    assert not empty.any()


@pytest.mark.parametrize("text, faq_id", PARAPHRASES)
def test_a_paraphrase_is_answered_directly(engine, text, faq_id):
    decision = decide(engine, text)
    assert decision.action == "answer", decision
    assert decision.candidates[0].id == faq_id


@pytest.mark.parametrize("text", UNRELATED)
def test_an_unrelated_question_is_not_answered(engine, text):
    assert decide(engine, text).action == "unknown"


def test_without_the_encoder_those_paraphrases_are_not_answered(restore_config):
    # What the encoder adds: the lexical engine alone answers none of them directly.
    faq_encoder.configure(enabled=False)
    lexical = Engine.load(train(KbSnapshot(faqs=FAQS)))
    assert lexical.faq_vec is None
    answered = [t for t, _ in PARAPHRASES if decide(lexical, t).action == "answer"]
    assert answered == []


def _copy_files(tmp_path, **replace):
    source = faq_encoder.default_dir()
    for name in ("weights.npz", "sp.model"):
        if name in replace:
            (tmp_path / name).write_bytes(replace[name])
        else:
            (tmp_path / name).symlink_to(source / name)
    return tmp_path


@pytest.mark.parametrize("name", ["weights.npz", "sp.model"])
def test_files_with_a_wrong_sha256_are_refused(tmp_path, name, restore_config):
    # Same size and format would not help: only the pinned bytes are accepted.
    altered = bytearray((faq_encoder.default_dir() / name).read_bytes())
    altered[len(altered) // 2] ^= 1
    folder = _copy_files(tmp_path, **{name: bytes(altered)})
    with pytest.raises(faq_encoder.EncoderUnavailable, match="sha256"):
        faq_encoder.FaqEncoder(folder)
    # The process then runs without it: trained models hold no vectors, answers are lexical.
    faq_encoder.configure(directory=str(folder))
    assert faq_encoder.get() is None and "sha256" in faq_encoder.unavailable_reason()
    model = Engine.load(train(KbSnapshot(faqs=FAQS)))
    assert model.faq_vec is None
    assert model.answer("怎么修改登录密码")[0].id == 3


def test_the_pinned_files_from_another_folder_are_accepted(tmp_path, restore_config):
    folder = _copy_files(tmp_path)
    faq_encoder.configure(directory=str(folder))
    assert faq_encoder.get() is not None


def test_a_model_with_vectors_answers_in_a_process_without_the_encoder(restore_config):
    data = train(KbSnapshot(faqs=FAQS))
    faq_encoder.configure(enabled=False)
    model = Engine.load(data)
    assert model.faq_vec is None
    # The curve calibrated for blended scores does not apply to lexical ones: the default does.
    assert model.faq_answer_sim == pytest.approx(nlp._default_answer_sim(False))
    assert decide(model, "怎么还款").candidates[0].id == 1


# --- Calibration on the knowledge base's own entries --------------------------------------------

PRODUCTS = ["手机", "耳机", "手表", "平板", "音箱", "键盘", "鼠标", "相机", "冰箱", "空调"]
TOPICS = [
    ("{p}怎么退货", ["{p}可以退吗"]),
    ("{p}保修多久", ["{p}的保修期是多长"]),
    ("{p}什么时候发货", ["{p}几天能发出"]),
]


def _catalogue():
    faqs, n = [], 0
    for p in PRODUCTS:
        for question, similar in TOPICS:
            n += 1
            faqs.append(FaqDoc(n, question.format(p=p), [s.format(p=p) for s in similar]))
    return faqs


def test_a_small_knowledge_base_keeps_the_default_answer_point(engine):
    assert len(FAQS) < nlp.CAL_MIN
    assert engine.faq_answer_sim == pytest.approx(nlp.DEFAULT_ANSWER_SIM)
    assert "too few" in engine.faq_calibration_text()


def test_near_duplicate_entries_raise_the_answer_point():
    # Thirty entries that differ only by product: a question about one product scores high
    # against its neighbours, so answering directly must wait for a higher similarity.
    model = Engine.load(train(KbSnapshot(faqs=_catalogue())))
    curve = model.faq_curve
    assert curve[4] == 30 and curve[5] == 60  # no-entry and held-out questions measured
    assert model.faq_answer_sim > nlp.DEFAULT_ANSWER_SIM + 0.1
    assert model.faq_answer_sim <= nlp.ANSWER_SIM_MAX
    # An entry's own wording is still answered; a product it does not have is not.
    assert decide(model, "耳机怎么退货").candidates[0].id == 4
    assert decide(model, "耳机怎么退货").action == "answer"
    assert decide(model, "电视怎么退货").action != "answer"


def test_big_knowledge_bases_store_projected_vectors_within_budget(monkeypatch):
    # The budget scaled down so that 60 phrasings count as "big": each keeps FAQ_MIN_DIMS
    # dimensions as int8, and answers are still right.
    monkeypatch.setattr(nlp, "FAQ_VEC_BUDGET", 60 * 8)
    monkeypatch.setattr(nlp, "FAQ_MIN_DIMS", 8)
    model = Engine.load(train(KbSnapshot(faqs=_catalogue())))
    assert model.faq_vec.shape == (60, 8) and model.faq_basis.shape == (faq_encoder.DIM, 8)
    assert decide(model, "耳机怎么退货").candidates[0].id == 4


def test_small_knowledge_bases_keep_every_dimension(engine):
    assert engine.faq_vec.shape[1] == faq_encoder.DIM and engine.faq_basis is None
