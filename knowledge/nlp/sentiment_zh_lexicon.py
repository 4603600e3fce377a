"""A small hand-written Chinese opinion lexicon for chat messages.

The shipped model learnt from product reviews; chat differs (short, addressed to the shop:
"给你们好评", "我要投诉"). The lexicon gives such messages a reading of their own, and decides
whether a message carries an opinion at all: plain questions ("请问什么时候发货") have no
lexicon hit and stay neutral. Weights -3..3; longest match wins; a negator right before a word
("不", "没", "没有", "别") flips and halves it; a degree adverb before it strengthens it."""

from __future__ import annotations

import math
import re

_WORDS = {
    3: "太棒了 非常满意 非常好 超级好 完美 五星好评 强烈推荐 太感谢 非常感谢 特别好 一流",
    2: "好评 满意 喜欢 感谢 谢谢 不错 很好 挺好 真好 棒 赞 给力 靠谱 专业 耐心 热情 周到 贴心 "
    "漂亮 划算 值得 推荐 开心 高兴 放心 实惠 超值 好用 好吃 舒服 方便 点赞 辛苦了 优秀 快速 及时 "
    "解决了 厉害",
    1: "还行 可以的 不贵 满足 顺利 清楚 行吧",
}
_NEG_WORDS = {
    3: "垃圾 骗子 骗人 诈骗 欺诈 气死 恶心 差评 投诉 滚 妈的 他妈 傻逼 废物 黑心 无良 坑人 太差 "
    "什么破 破服务 一星 上当 受骗 假货 霸王条款 崩溃 忍无可忍 无耻 骗钱",
    2: "差 烂 坑 骗 失望 生气 愤怒 后悔 糟糕 讨厌 难用 不行 不好 不满 不满意 不喜欢 敷衍 忽悠 "
    "欺骗 离谱 过分 可恶 无语 郁闷 受不了 凭什么 再也不 不值 太贵 太慢 慢死 坏了 破了 脏 难吃 "
    "不新鲜 质量差 态度差 不负责 没人管 没人理 不回复 搞什么 什么鬼 赔偿 吐槽 晕 烦",
    1: "慢 贵 麻烦 着急 急死 到底 怎么还没 还没到 还没发货 不能用 错了 少了 失败",
}
LEXICON: dict[str, float] = {}
for _w, _words in _WORDS.items():
    LEXICON.update({x: float(_w) for x in _words.split()})
for _w, _words in _NEG_WORDS.items():
    LEXICON.update({x: -float(_w) for x in _words.split()})

_PATTERN = re.compile("|".join(sorted(map(re.escape, LEXICON), key=len, reverse=True)))
_NEGATORS = ("没有", "不是", "不", "没", "别", "无", "非")
_DEGREE = {
    "太": 1.3,
    "很": 1.2,
    "非常": 1.5,
    "特别": 1.4,
    "超": 1.3,
    "极其": 1.6,
    "真": 1.2,
    "十分": 1.4,
    "最": 1.4,
    "有点": 0.7,
    "有些": 0.7,
}


def score(text: str) -> tuple[float, int]:
    """(-1..1 score, number of lexicon hits)."""
    total, hits = 0.0, 0
    for m in _PATTERN.finditer(text):
        v = LEXICON[m.group()]
        before = text[max(0, m.start() - 2) : m.start()]
        # Words that already carry their own negation ("不好", "不满") are listed whole.
        if not m.group().startswith(("不", "没", "无")) and before.endswith(_NEGATORS):
            v = -0.5 * v
        else:
            for d, f in _DEGREE.items():
                if before.endswith(d):
                    v *= f
                    break
        total += v
        hits += 1
    return math.tanh(total / 3), hits
