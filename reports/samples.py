"""Duration samples: whole seconds packed as sorted little-endian uint32 (4 bytes a value).
A year of 100,000 conversations is 400 kB per metric and dimension; numpy joins a range's days
and finds a nearest-rank quantile in about a millisecond."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

DTYPE = np.dtype("<u4")


def pack(values: Iterable[int]) -> bytes:
    return np.sort(np.fromiter(values, dtype=DTYPE)).tobytes()


def join(blobs: Iterable[bytes]) -> np.ndarray:
    parts = [np.frombuffer(bytes(b), dtype=DTYPE) for b in blobs if b]
    return np.concatenate(parts) if parts else np.empty(0, dtype=DTYPE)


def merge(blobs: Iterable[bytes]) -> bytes:
    """Packed samples of several groups as one packed, sorted group."""
    return np.sort(join(blobs)).tobytes()


def quantile(values: np.ndarray, q: float) -> int | None:
    """Nearest rank: the ceil(q * n)-th smallest value (1-based), so the median of an even
    count is the lower middle value. None when there is none."""
    n = len(values)
    if n == 0:
        return None
    rank = max(1, math.ceil(q * n))
    return int(np.partition(values, rank - 1)[rank - 1])
