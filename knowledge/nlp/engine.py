"""The contract between the knowledge base (knowledge.services builds snapshots, stores and
loads models) and the NLP code (K1 implements train/Engine). Pure Python + numpy/scikit-learn:
no Django imports here, so it can be trained and evaluated outside a request."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FaqDoc:
    id: int
    question: str
    similar: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    category: str = ""


@dataclass
class IntentDoc:
    id: int
    name: str
    examples: list[str] = field(default_factory=list)


@dataclass
class KbSnapshot:
    faqs: list[FaqDoc] = field(default_factory=list)
    intents: list[IntentDoc] = field(default_factory=list)
    synonyms: dict[str, list[str]] = field(default_factory=dict)  # canonical -> variants
    dictionary: list[tuple[str, int | None]] = field(default_factory=list)  # (word, freq)


@dataclass
class Candidate:
    kind: str  # "faq" | "intent"
    id: int
    label: str  # the FAQ's standard question or the intent's name
    confidence: float  # 0..1, comparable across kinds


def train(snapshot: KbSnapshot) -> bytes:
    """Build a model for the snapshot; the bytes are stored in BotModel.data."""
    raise NotImplementedError


class Engine:
    @classmethod
    def load(cls, data: bytes) -> "Engine":
        raise NotImplementedError

    def answer(self, text: str, k: int = 3) -> list[Candidate]:
        """Best candidates first. Never trains; must stay fast (p99 <= 10 ms at 10k FAQs)."""
        raise NotImplementedError
