"""Sentiment of a visitor message (Chinese and English), read on every visitor message.

Placeholder until the shipped model lands: `analyze` returns None (no sentiment stored)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sentiment:
    score: float  # -1 (very negative) .. 1 (very positive)
    label: str  # "positive" | "neutral" | "negative"

    @property
    def strongly_negative(self) -> bool:
        return self.score <= -0.6


def analyze(text: str) -> Sentiment | None:
    return None
