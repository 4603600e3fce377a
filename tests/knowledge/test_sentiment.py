import time

import pytest

from knowledge.sentiment import Sentiment, analyze

# Written for these tests (not corpus text).
ZH_POSITIVE = ["太好了，谢谢你们，服务很棒", "东西不错，物流也快，很满意", "客服很耐心，给你们好评"]
ZH_NEGATIVE = [
    "垃圾服务，气死我了，我要投诉！",
    "质量太差了，再也不买了",
    "你们这是什么破服务，骗子",
]
ZH_NEUTRAL = ["请问什么时候发货？", "运费多少钱", "我想退货", "订单号1234567890"]
EN_POSITIVE = ["Thank you so much, that was really helpful!", "Great service, I love it"]
EN_NEGATIVE = ["This is terrible, the worst service ever!!", "I am very disappointed and angry"]
EN_NEUTRAL = ["How do I reset my password?", "hello", "What is the shipping fee to Canada"]


@pytest.mark.parametrize("text", ZH_POSITIVE + EN_POSITIVE)
def test_positive(text):
    s = analyze(text)
    assert s.label == "positive" and s.score > 0.35


@pytest.mark.parametrize("text", ZH_NEGATIVE + EN_NEGATIVE)
def test_negative(text):
    s = analyze(text)
    assert s.label == "negative" and s.strongly_negative


@pytest.mark.parametrize("text", ZH_NEUTRAL + EN_NEUTRAL)
def test_plain_questions_are_neutral(text):
    # A plain question must not raise the conversation's priority.
    s = analyze(text)
    assert s.label == "neutral" and not s.strongly_negative


def test_english_negation_flips():
    assert analyze("good").score > 0
    assert analyze("not good at all").score < 0
    assert analyze("not bad").score > 0


def test_nothing_to_judge():
    assert analyze("") is None
    assert analyze("   ") is None
    assert analyze("!!! ???") is None


def test_fast_enough_for_every_message():
    analyze("预热")
    text = "你们的快递太慢了，等了一个星期还没到，客服也不回消息，我要投诉！" * 3
    # CPU time of this thread: the machine running the tests may be busy with other work.
    t0 = time.thread_time()
    for _ in range(200):
        analyze(text)
    assert (time.thread_time() - t0) / 200 < 0.001


def test_strongly_negative_threshold():
    assert Sentiment(-0.6, "negative").strongly_negative
    assert not Sentiment(-0.59, "negative").strongly_negative
