"""The bot's reading rules (knowledge.dialogue), without a database."""

from types import SimpleNamespace

import pytest

from knowledge import dialogue


@pytest.mark.parametrize(
    "text",
    [
        "转人工",
        "轉人工",
        "人工",
        "人工客服！",
        "我要找人工",
        "请帮我转接人工客服",
        "真人",
        "客服",
        "human",
        "Agent",
        "I want to talk to a human",
        "can I speak with a real person?",
        "connect me to an agent please",
        "live agent",
    ],
)
def test_asking_for_a_person(text):
    assert dialogue.asks_for_human(text)


@pytest.mark.parametrize(
    "text",
    [
        "人工智能产品怎么退货",
        "怎么退货",
        "the agent said it ships today",
        "human resources address",
        "客服电话是多少",
    ],
)
def test_not_asking_for_a_person(text):
    assert not dialogue.asks_for_human(text)


CHOICES = [{"label": "会员积分怎么用"}, {"label": "会员积分怎么获得"}, {"label": "Reset password"}]


@pytest.mark.parametrize(
    "text, index",
    [
        ("1", 0),
        ("２", 1),
        (" 3 ", 2),
        ("第二个", 1),
        ("第二個", 1),
        ("會員積分怎麼獲得？", 1),
        ("会员积分怎么获得", 1),
        ("会员积分怎么获得？", 1),
        ("reset PASSWORD", 2),
        ("4", None),
        ("0", None),
        ("积分", None),
        ("", None),
    ],
)
def test_picking_a_choice(text, index):
    picked = dialogue.pick_choice(text, CHOICES)
    assert picked is (CHOICES[index] if index is not None else None)


@pytest.mark.parametrize(
    "text, core",
    [
        ("那运费呢?", "运费"),
        ("那么运费呢？", "运费"),
        ("还有发票吗", "发票"),
        ("what about shipping?", "shipping"),
        ("运费", "运费"),
        ("请问你们的退货政策具体是怎么样规定的呢，我买的东西有问题", None),
        ("呢？", None),
    ],
)
def test_follow_up_core(text, core):
    assert dialogue.follow_up_core(text) == core


@pytest.mark.parametrize(
    "text, pattern, value",
    [
        ("1234567890", r"^\d{10}$", "1234567890"),
        ("订单号是 1234567890 谢谢", r"^\d{10}$", "1234567890"),
        ("１２３４５６７８９０", r"^\d{10}$", "1234567890"),  # full-width digits from a Chinese IME
        ("12345", r"^\d{10}$", None),
        ("不记得了", r"^\d{10}$", None),
        ("张三", None, "张三"),
        ("x" * 300, None, None),
    ],
)
def test_slot_values(text, pattern, value):
    assert dialogue.slot_value(text, pattern) == value


def test_fill_keeps_unknown_placeholders():
    assert (
        dialogue.fill("订单{order_no}，{other}", {"order_no": "<b>1</b>"})
        == "订单<b>1</b>，{other}"
    )


def c(confidence):
    return SimpleNamespace(confidence=confidence)


def test_decisions():
    assert dialogue.decide([]).action == "unknown"
    assert dialogue.decide([c(0.2), c(0.1)]).action == "unknown"
    answer = dialogue.decide([c(0.95), c(0.5)])
    assert answer.action == "answer" and answer.candidates[0].confidence == 0.95
    close = dialogue.decide([c(0.88), c(0.84), c(0.3)])
    assert close.action == "clarify" and [x.confidence for x in close.candidates] == [0.88, 0.84]
    unsure = dialogue.decide([c(0.45), c(0.31), c(0.1)])
    assert unsure.action == "clarify" and len(unsure.candidates) == 2


def test_language_of():
    assert dialogue.language_of("怎么退货", "en") == "zh-hans"
    assert dialogue.language_of("where is my order", "zh-hans") == "en"
    assert dialogue.language_of("1234567890", "zh-hans") == "zh-hans"


@pytest.mark.parametrize(
    "text, index",
    [
        ("第2个", 1),
        ("第 3 个", 2),
        ("选2", 1),
        ("我要第三个", 2),
        ("最后一个", 2),
        ("后面那个", 2),
        ("前面那个", 0),
        ("中间那个", 1),
        ("the last one", 2),
        ("the 2nd", 1),
        ("option 3", 2),
        ("the first one", 0),
        ("积分怎么获得", 1),  # reworded: most of one label, clearly less of the others
        ("password reset", 2),
        ("第四个", None),
        ("两个", None),
        ("都不是", None),
        ("退货", None),
    ],
)
def test_picking_a_choice_by_place_or_in_other_words(text, index):
    picked = dialogue.pick_choice(text, CHOICES)
    assert picked is (CHOICES[index] if index is not None else None)


def test_the_last_and_later_choice_follow_the_number_offered():
    two = CHOICES[:2]
    assert dialogue.pick_choice("最后一个", two) is two[1]
    assert dialogue.pick_choice("后面那个", two) is two[1]
    assert dialogue.pick_choice("中间那个", two) is None


@pytest.mark.parametrize(
    "text, rejects",
    [
        ("都不是", True),
        ("都不是啊", True),
        ("以上都不是", True),
        ("None of these", True),
        ("neither", True),
        ("不是", False),  # with several choices "不是" alone says nothing about which
        ("第二个", False),
        ("都不是，我要问发票", False),  # a new question, read as one
    ],
)
def test_rejecting_the_choices(text, rejects):
    assert dialogue.rejects_choices(text, CHOICES) is rejects


def test_yes_and_no_to_a_single_choice():
    one = CHOICES[:1]
    assert dialogue.pick_choice("是的", one) is one[0]
    assert dialogue.pick_choice("yes", one) is one[0]
    assert dialogue.pick_choice("是的", CHOICES) is None
    assert dialogue.rejects_choices("不是", one) and dialogue.rejects_choices("no", one)


def test_a_choice_by_what_the_engine_reads():
    from knowledge.nlp.engine import Candidate

    offered = [
        {"label": "如何申请退款", "kind": "faq", "id": 7, "confidence": 0.5},
        {"label": "怎么退货", "kind": "faq", "id": 8, "confidence": 0.4},
    ]
    read = [Candidate("faq", 7, "如何申请退款", 0.45), Candidate("faq", 8, "怎么退货", 0.2)]
    assert dialogue.pick_by_reading(read, offered) is offered[0]
    # Not confident enough, or the best reading is something not offered: no pick.
    assert dialogue.pick_by_reading([Candidate("faq", 7, "x", 0.1)], offered) is None
    assert dialogue.pick_by_reading([Candidate("faq", 9, "x", 0.9)], offered) is None


@pytest.mark.parametrize(
    "text, kind",
    [
        ("你好", "greeting"),
        ("您好！", "greeting"),
        ("Hello", "greeting"),
        ("在吗？", "presence"),
        ("有人吗", "presence"),
        ("谢谢", "thanks"),
        ("Thanks!", "thanks"),
        ("thank you", "thanks"),
        ("再见", "bye"),
        ("bye", "bye"),
        # Traditional characters read as their Simplified form (knowledge.nlp.tokenize.simplified).
        ("謝謝", "thanks"),
        ("再見", "bye"),
        ("你好，怎么退货", None),
        ("谢谢你们，东西收到了但是坏了", None),
        ("hello I want a refund", None),
        ("人工", None),
    ],
)
def test_small_talk(text, kind):
    assert dialogue.small_talk(text) == kind
