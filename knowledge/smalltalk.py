"""Built-in small talk for the bot: a greeting, "are you there?", thanks and goodbye, when that
is the whole message ("你好", "在吗", "谢谢", "hello"). Answered politely in the visitor's
language and never logged as a knowledge gap: no knowledge base needs an entry for "hello".
A message that says more ("你好，我想退货") is a question and goes to the knowledge base.
"""

from __future__ import annotations

import unicodedata

from django.utils.translation import gettext_noop

REPLIES = {
    "greeting": gettext_noop("Hello! How can I help you today?"),
    "presence": gettext_noop("Yes, I am here. What can I do for you?"),
    "thanks": gettext_noop("You are welcome! Is there anything else I can help with?"),
    "goodbye": gettext_noop("Goodbye, and have a nice day!"),
}

_PHRASES = {
    "greeting": (
        "你好", "您好", "你好呀", "你好啊", "您好呀", "嗨", "哈喽", "哈啰", "早", "早上好",
        "上午好", "中午好", "下午好", "晚上好", "大家好", "hi", "hello", "hey", "hiya",
        "hello there", "hi there", "hey there", "good morning", "good afternoon", "good evening",
    ),
    "presence": (
        "在吗", "在么", "在不在", "在嘛", "有人吗", "有人在吗", "有人么", "亲在吗", "在吗亲",
        "客服在吗", "你好在吗", "您好在吗", "你好 在吗", "您好 在吗", "anyone there",
        "is anyone there", "are you there", "anybody there", "hello anyone there",
    ),
    "thanks": (
        "谢谢", "谢谢你", "谢谢您", "谢谢啦", "谢啦", "多谢", "感谢", "非常感谢", "十分感谢",
        "好的谢谢", "好的 谢谢", "好的谢谢你", "thanks", "thank you", "thanks a lot",
        "thank you very much", "thank you so much", "thx", "ty", "many thanks", "ok thanks",
        "ok thank you",
    ),
    "goodbye": ("再见", "拜拜", "拜", "88", "bye", "goodbye", "bye bye", "see you"),
}  # fmt: skip


def _norm(text: str) -> str:
    """Width-folded, lower case, punctuation and emoji as spaces, runs of spaces as one (so
    "Hello!!", "ＨＥＬＬＯ" and "你好，在吗？" match their phrase)."""
    text = unicodedata.normalize("NFKC", text or "").lower()
    text = "".join(ch if ch.isalnum() or ch.isspace() else " " for ch in text)
    return " ".join(text.split())


_KIND_BY_PHRASE = {_norm(p): kind for kind, phrases in _PHRASES.items() for p in phrases}


def kind_of(text: str) -> str | None:
    """ "greeting", "presence", "thanks" or "goodbye" when the whole message is small talk."""
    norm = _norm(text)
    if not norm or len(norm) > 40:
        return None
    return _KIND_BY_PHRASE.get(norm) or _KIND_BY_PHRASE.get(norm.replace(" ", ""))
