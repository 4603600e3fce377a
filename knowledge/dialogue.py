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

from .nlp.tokenize import simplified

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
    """Width-folded, lower case, Simplified Chinese (謝謝 is 谢谢), punctuation and spaces
    collapsed to one space, trimmed."""
    text = simplified(unicodedata.normalize("NFKC", text or "").casefold())
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
_ZH_DIGITS = {
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
# "第2个", "第 二 条", "选3", "2号", "option 2", "number 2", "the 2nd one", "#2".
_NUMBERED = re.compile(
    r"^(?:我?(?:选|要|是)?(?:择)?)?第?\s*([0-9]{1,2}|[一二三四五六七八九])\s*(?:个|条|项|号|种|题)?"
    r"(?:吧|吗|呢|的|啊)?$"
    r"|^(?:(?:i (?:choose|pick|mean|want) )?(?:the )?(?:option|number|no|choice|#)\s*)([0-9]{1,2})$"
    r"|^(?:(?:i (?:choose|pick|mean|want) )?the )?([0-9]{1,2})(?:st|nd|rd|th)(?: one)?$"
)
_LAST = re.compile(
    r"^(?:最后(?:一|那)?(?:个|条|项)?|最后面的?|最下面的?|后面(?:那|的)?(?:个|条|项)?|"
    r"后一个|下面(?:那|的)(?:个|条)?|(?:the )?(?:last|latter|bottom)(?: one)?)(?:吧|的)?$"
)
_FIRST = re.compile(
    r"^(?:前面(?:那|的)?(?:个|条|项)?|前一个|最前面的?|上面(?:那|的)(?:个|条)?|"
    r"(?:the )?(?:former|top)(?: one)?)(?:吧|的)?$"
)
_MIDDLE = re.compile(r"^(?:中间(?:那|的)?(?:个|条|项)?|(?:the )?middle(?: one)?)(?:吧|的)?$")
_ENGLISH_ORDINALS = {"first": 1, "second": 2, "third": 3, "1st": 1, "2nd": 2, "3rd": 3}
# The visitor says none of the offered choices is what they meant.
_NONE_OF_THESE = re.compile(
    r"^(?:都不是|都不对|都没有|都不|全都不是|全不是|一个都不是|都不是的|没有我要的|没有我想要的|都不是我要的|"
    r"都不是我想问的|以上都不是|都不符合|none|none of (?:these|them|those|the above)|neither|"
    r"neither of (?:these|them|those)|not any of (?:these|them|those))(?:啊|呀|哦|吧|的)?$"
)
# Yes / no to a single offered choice ("Did you mean: X?").
_YES = {
    "是",
    "是的",
    "对",
    "对的",
    "对啊",
    "是啊",
    "嗯",
    "嗯嗯",
    "没错",
    "就是",
    "就是这个",
    "这个",
    "yes",
    "yeah",
    "yep",
    "right",
    "correct",
    "exactly",
    "y",
}
_NO = {"不是", "不对", "不是的", "不", "没有", "no", "nope", "not that", "wrong"}
# A reworded choice: share of the reply's character bigrams found in the label, and how far
# ahead of the next label it must be.
REWORD_MIN = 0.6
REWORD_MARGIN = 0.2


def _ordinal(norm: str, count: int) -> int | None:
    compact = norm.replace(" ", "")
    if norm.isdigit() and len(norm) < 3:
        return int(norm)
    if compact in _ORDINALS:
        return _ORDINALS[compact]
    m = _NUMBERED.match(compact) or _NUMBERED.match(norm)
    if m:
        raw = next(g for g in m.groups() if g)
        return int(raw) if raw.isdigit() else _ZH_DIGITS[raw]
    words = norm.split()
    if words and words[-1] == "one":
        words = words[:-1]
    if words and words[0] == "the":
        words = words[1:]
    if len(words) == 1 and words[0] in _ENGLISH_ORDINALS:
        return _ENGLISH_ORDINALS[words[0]]
    if _LAST.match(compact) or _LAST.match(norm):
        return count
    if _FIRST.match(compact) or _FIRST.match(norm):
        return 1
    if (_MIDDLE.match(compact) or _MIDDLE.match(norm)) and count == 3:
        return 2
    return None


def _bigrams(text: str) -> set[str]:
    compact = text.replace(" ", "")
    return {compact[i : i + 2] for i in range(len(compact) - 1)} or (
        {compact} if compact else set()
    )


def rejects_choices(text: str, choices: list[dict]) -> bool:
    """The reply says none of the offered choices is meant ("都不是", "none of these"; "不是" /
    "no" to a single "Did you mean ...?")."""
    norm = normalize(text)
    if _NONE_OF_THESE.match(norm.replace(" ", "")) or _NONE_OF_THESE.match(norm):
        return True
    return len(choices) == 1 and (norm in _NO or norm.replace(" ", "") in _NO)


def pick_choice(text: str, choices: list[dict]) -> dict | None:
    """The offered choice the visitor's reply names: its label, its number ("1", "２", "第二个",
    "第2个", "选3", "the 2nd"), its place ("最后一个", "后面那个", "the first one"), "是" / "yes"
    to a single choice, or a reworded label that shares most of one label's words and clearly
    fewer of the others' ("积分怎么获得" for "会员积分怎么获得")."""
    norm = normalize(text)
    if not norm:
        return None
    for choice in choices:
        if normalize(choice["label"]) == norm:
            return choice
    number = _ordinal(norm, len(choices))
    if number and 1 <= number <= len(choices):
        return choices[number - 1]
    if len(choices) == 1 and (norm in _YES or norm.replace(" ", "") in _YES):
        return choices[0]
    mine = _bigrams(norm)
    if len(mine) < 2:
        return None
    shares = sorted(
        (
            (len(mine & _bigrams(normalize(c["label"]))) / len(mine), i)
            for i, c in enumerate(choices)
        ),
        reverse=True,
    )
    best, i = shares[0]
    runner_up = shares[1][0] if len(shares) > 1 else 0.0
    if best >= REWORD_MIN and best - runner_up >= REWORD_MARGIN:
        return choices[i]
    return None


def pick_by_reading(candidates: list, choices: list[dict]) -> dict | None:
    """A reply reworded beyond shared words ("怎么把钱要回来" after offering "如何申请退款"):
    the choice the engine reads it as, when that is its best candidate at least CLARIFY_MIN."""
    if not candidates or candidates[0].confidence < CLARIFY_MIN:
        return None
    top = candidates[0]
    for choice in choices:
        if (choice.get("kind"), choice.get("id")) == (top.kind, top.id):
            return choice
    return None


# --- Small talk ---------------------------------------------------------------------------------

# Whole messages that are only a greeting, a check that someone is there, thanks or goodbye:
# answered politely by the bot itself, never read against the knowledge base and never a
# knowledge gap. Matched after normalize() with trailing particles and emoji-free punctuation
# removed; a greeting followed by a question ("你好，怎么退货") is a question.
_SMALL_TALK = {
    "greeting": {
        "你好",
        "您好",
        "你们好",
        "哈喽",
        "哈罗",
        "嗨",
        "hi",
        "hello",
        "hey",
        "hi there",
        "hello there",
        "早上好",
        "上午好",
        "中午好",
        "下午好",
        "晚上好",
        "早",
        "早安",
        "good morning",
        "good afternoon",
        "good evening",
        "你好呀",
        "您好呀",
        "hey there",
    },
    "presence": {
        "在吗",
        "在么",
        "在不在",
        "有人吗",
        "有人在吗",
        "客服在吗",
        "在线吗",
        "请问在吗",
        "你好在吗",
        "您好在吗",
        "在",
        "anyone there",
        "is anyone there",
        "are you there",
        "anybody there",
        "is anybody there",
        "hello anyone there",
    },
    "thanks": {
        "谢谢",
        "谢谢你",
        "谢谢您",
        "多谢",
        "感谢",
        "非常感谢",
        "谢啦",
        "谢了",
        "好的谢谢",
        "好的 谢谢",
        "ok谢谢",
        "好谢谢",
        "谢谢啦",
        "太感谢了",
        "thanks",
        "thank you",
        "thx",
        "ty",
        "thank you very much",
        "thanks a lot",
        "many thanks",
        "ok thanks",
        "ok thank you",
        "great thanks",
        "cheers",
    },
    "bye": {
        "再见",
        "拜拜",
        "88",
        "886",
        "bye",
        "goodbye",
        "bye bye",
        "see you",
        "好的再见",
        "谢谢再见",
        "谢谢 再见",
        "thanks bye",
        "回头见",
    },
}
_SMALL_TALK_TRAIL = re.compile(r"(呀|啊|哈|哦|喔|呢|啦|哇|~|！|!)+$")


def small_talk(text: str) -> str | None:
    """ "greeting" | "presence" | "thanks" | "bye" when the whole message is small talk."""
    norm = normalize(text)
    if not norm or len(norm) > 30:
        return None
    for candidate in (
        norm,
        norm.replace(" ", ""),
        _SMALL_TALK_TRAIL.sub("", norm.replace(" ", "")),
    ):
        for kind, phrases in _SMALL_TALK.items():
            if candidate in phrases:
                return kind
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
