"""knowledge.dialogue.read: the engine's candidates for a message, alone or as a follow-up of
the previous topic (what the bot's turn and `kb_eval faq` both use)."""

from knowledge import dialogue
from knowledge.nlp.engine import Candidate


class FakeEngine:
    """Answers from a table of text -> candidates; records what it was asked."""

    def __init__(self, table):
        self.table, self.asked = table, []

    def answer(self, text, k=3):
        self.asked.append((text, k))
        return self.table.get(text, [])[:k]


RETURNS = Candidate("faq", 1, "怎么退货", 0.9)
SHIPPING = Candidate("faq", 2, "运费怎么算", 0.8)
WEAK = Candidate("faq", 3, "会员积分", 0.35)


def test_a_first_message_is_read_alone():
    engine = FakeEngine({"那运费呢?": [WEAK]})
    assert dialogue.read(engine, "那运费呢?") == ([WEAK], False)
    assert engine.asked == [("那运费呢?", dialogue.MAX_CHOICES + 1)]


def test_a_short_follow_up_is_read_with_the_topic_which_is_left_out():
    topic = {"kind": "faq", "id": 1, "label": "怎么退货"}
    engine = FakeEngine({"那运费呢?": [WEAK], "怎么退货 运费": [RETURNS, SHIPPING]})
    assert dialogue.read(engine, "那运费呢?", topic) == ([SHIPPING], True)


def test_the_more_confident_reading_wins():
    topic = {"kind": "faq", "id": 1, "label": "怎么退货"}
    strong = Candidate("faq", 4, "运费险", 0.95)
    engine = FakeEngine({"那运费呢?": [strong], "怎么退货 运费": [RETURNS, SHIPPING]})
    assert dialogue.read(engine, "那运费呢?", topic) == ([strong], False)
    # A long message is never a follow-up: the topic is not consulted.
    long_text = "我想问一下如果商品在运输途中损坏了运费由谁来承担"
    engine = FakeEngine({long_text: [WEAK]})
    assert dialogue.read(engine, long_text, topic) == ([WEAK], False)
    assert len(engine.asked) == 1
