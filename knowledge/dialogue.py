"""The bot's conversation rules as plain functions (no database): reading a visitor's words for a
hand-over request, a picked choice, a follow-up or a slot value, reading a question with the
engine, and choosing between answering, asking to clarify and giving up. conversations.bot
applies them to a conversation; `manage.py kb_eval faq` measures them.

Thresholds are on the engine's confidence, an estimated probability that the candidate is right
(knowledge.nlp.engine calibrates it). Tuned on small hand-made shop FAQs: an exact or close
phrasing reads above 0.9, a rephrasing 0.6-0.9, two FAQs sharing a keyword ("积分" -> how to use
points / how to earn points) land within a few points of each other.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Answer outright at or above this confidence (unless the runner-up is within MARGIN).
ANSWER_THRESHOLD = 0.6
# Candidates below this are never offered; a best candidate below it is "not understood".
CLARIFY_MIN = 0.3
# Top two closer than this: ask which one is meant.
MARGIN = 0.1
MAX_CHOICES = 3
# Consecutive "not understood" answers before a person takes over.
LOW_CONFIDENCE_LIMIT = 2
# Wrong answers to one slot question before a person takes over.
SLOT_MAX_TRIES = 3
# A message this short (after removing filler) may be a follow-up of the previous topic.
FOLLOW_UP_MAX_CHARS = 16
# Visitor text longer than this is not matched against slot patterns (merchant-written regular
# expressions: bounded input keeps a careless pattern from running long).
SLOT_TEXT_MAX = 200

# --- Asking for a person ------------------------------------------------------------------------

_HANDOVER_EXACT = {
    "人工",
    "客服",
    "真人",
    "转人工",
    "人工客服",
    "human",
    "agent",
    "operator",
    "person",
    "real person",
    "live agent",
    "representative",
    "a human",
    "an agent",
}
_HANDOVER_ZH = (
    "转人工",
    "人工客服",
    "人工服务",
    "人工坐席",
    "找人工",
    "要人工",
    "接人工",
    "转接人工",
    "真人客服",
    "找客服",
    "联系客服",
    "客服人员",
)
_HANDOVER_EN = re.compile(
    r"\b(talk|speak|chat|connect me)\s+(to|with)\s+(a|an|the|some)?\s*"
    r"(human|person|agent|someone|real person|representative|operator)\b"
    r"|\breal (person|human)\b|\blive agent\b|\bhuman agent\b|\bcustomer service rep"
)
_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)


def normalize(text: str) -> str:
    """Width-folded, lower case, punctuation and spaces collapsed to one space, trimmed."""
    text = unicodedata.normalize("NFKC", text or "").casefold()
    return _PUNCT.sub(" ", text).strip()


def asks_for_human(text: str) -> bool:
    norm = normalize(text)
    if norm in _HANDOVER_EXACT or norm.replace(" ", "") in _HANDOVER_EXACT:
        return True
    compact = norm.replace(" ", "")
    # "人工" alone, not inside "人工智能" (a visitor asking about AI products).
    if any(p in compact for p in _HANDOVER_ZH):
        return True
    return bool(_HANDOVER_EN.search(norm))


# --- Language of the visitor ---------------------------------------------------------------------

_HAN = re.compile(r"[\u3400-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]")


def language_of(text: str, default: str) -> str:
    """The language to answer in: Chinese when the visitor writes Han characters, English when
    they write Latin letters only, else the site default."""
    if _HAN.search(text or ""):
        return "zh-hans"
    if _LATIN.search(text or ""):
        return "en"
    return default


# --- Choices ------------------------------------------------------------------------------------

_ORDINALS = {
    "第一个": 1,
    "第一": 1,
    "第二个": 2,
    "第二": 2,
    "第三个": 3,
    "第三": 3,
    "first": 1,
    "second": 2,
    "third": 3,
    "一": 1,
    "二": 2,
    "三": 3,
}


def pick_choice(text: str, choices: list[dict]) -> dict | None:
    """The offered choice the visitor's reply names: its label, or its number ("1", "２",
    "第二个")."""
    norm = normalize(text)
    if not norm:
        return None
    for choice in choices:
        if normalize(choice["label"]) == norm:
            return choice
    number = int(norm) if norm.isdigit() and len(norm) < 3 else _ORDINALS.get(norm.replace(" ", ""))
    if number and 1 <= number <= len(choices):
        return choices[number - 1]
    return None


# --- Follow-ups ---------------------------------------------------------------------------------

_LEAD = re.compile(r"^(那么|那|还有|另外|然后|请问|那请问|and|so|what about|how about)\s*", re.I)
_TRAIL = re.compile(r"[\s?？!！。.,，~～]*(呢|吗|嘛|啊|呀|吧)?[\s?？!！。.,，~～]*$")


def follow_up_core(text: str) -> str | None:
    """The content of a short follow-up ("那运费呢?" -> "运费", "what about shipping?" ->
    "shipping"); None when the message is too long to lean on the previous topic."""
    core = _TRAIL.sub("", _LEAD.sub("", (text or "").strip())).strip()
    if not core or len(core) > FOLLOW_UP_MAX_CHARS:
        return None
    return core


# --- Reading a question ------------------------------------------------------------------------


def read(engine, text: str, topic: dict | None = None) -> tuple[list, bool]:
    """The engine's candidates for a visitor's message, best first, and whether they were read in
    context. A short follow-up is read alone and together with the previous topic ({kind, id,
    label}: "那运费呢?" after a returns answer reads as "怎么退货 运费"); the reading whose best
    candidate is more confident wins. In context the previous topic itself is left out: a
    follow-up asks about something next to it. The bot's turn and `kb_eval faq` both read
    questions here, so what is measured is what visitors get."""
    plain = engine.answer(text, k=MAX_CHOICES + 1)
    core = follow_up_core(text) if topic else None
    if core:
        combined = engine.answer(f"{topic['label']} {core}", k=MAX_CHOICES + 2)
        combined = [c for c in combined if (c.kind, c.id) != (topic["kind"], topic["id"])]
        if combined and (not plain or combined[0].confidence > plain[0].confidence):
            return combined, True
    return plain, False


# --- Choosing what to do ------------------------------------------------------------------------


@dataclass
class Decision:
    action: str  # "answer" | "clarify" | "unknown"
    candidates: list  # answer: [the one]; clarify: the choices; unknown: [best or nothing]
    confidence: float


def decide(candidates: list) -> Decision:
    """candidates: best first, each with .confidence (knowledge.nlp.engine.Candidate)."""
    if not candidates or candidates[0].confidence < CLARIFY_MIN:
        best = candidates[0].confidence if candidates else 0.0
        return Decision("unknown", candidates[:1], best)
    top = candidates[0]
    if top.confidence >= ANSWER_THRESHOLD:
        close = [c for c in candidates[:MAX_CHOICES] if top.confidence - c.confidence < MARGIN]
        if len(close) == 1:
            return Decision("answer", [top], top.confidence)
        return Decision("clarify", close, top.confidence)
    # Unsure: offer what could be meant rather than guessing.
    offered = [c for c in candidates[:MAX_CHOICES] if c.confidence >= CLARIFY_MIN]
    return Decision("clarify", offered, top.confidence)


# --- Slots --------------------------------------------------------------------------------------


def slot_value(text: str, pattern: str | None) -> str | None:
    """The slot's value in the visitor's reply, or None when it does not fit. The whole reply
    must match the pattern; failing that, a match inside a sentence counts ("订单号是
    1234567890"), the pattern's ^/$ anchors dropped."""
    text = (text or "").strip()
    if not text or len(text) > SLOT_TEXT_MAX:
        return None
    if not pattern:
        return text
    text = unicodedata.normalize("NFKC", text)
    try:
        if re.fullmatch(pattern, text):
            return text
        inner = re.sub(r"^\^|(?<!\\)\$$", "", pattern)
        found = re.search(inner, text)
    except re.error:
        return None
    return found.group(0) if found and found.group(0) else None


_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def fill(template: str, values: dict) -> str:
    """{name} placeholders replaced by slot values; unknown ones left as written."""
    return _PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), m.group(0))), template)
