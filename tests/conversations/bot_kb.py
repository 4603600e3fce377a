"""For the bot tests (test_bot_*.py): a small shop knowledge base built through the services admins
use (knowledge.services), trained through the same trainer the worker runs (kb_train), and a
the `shop` fixture of tests/conversations/conftest.py builds it for a merchant whose bot answers
first. The modules import the autouse fixtures (fresh_engine_cache, fresh_realtime) so they apply
to them."""

import os
import secrets
from types import SimpleNamespace

import pytest

from knowledge import selectors as kb_selectors
from knowledge import services as kb_services
from knowledge import training as kb_training
from merchants.models import Merchant
from tests.conversations.realtime_helpers import fresh_realtime  # noqa: F401 (re-exported)

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

RETURNS = "收到商品7天内可在订单页申请退货。"
RETURN_SHIPPING = "质量问题退货的运费由我们承担，其他情况由买家承担。"
SHIPPING = "满99元包邮，否则运费10元。"
POINTS_USE = "积分可在结算时抵扣现金，100积分抵1元。"
POINTS_EARN = "每消费1元获得1积分，评价晒单另有奖励。"
INVOICE = "下单时选择开具发票，电子发票会发到您的邮箱。"
# Stored rich text with markup a visitor must only ever see as text.
RESET_HTML = (
    '<p>Click <a href="https://shop.example/reset">reset</a> <img src=x onerror=alert(1)>'
    " then follow the email. &lt;script&gt;alert(1)&lt;/script&gt;</p>"
)


@pytest.fixture(autouse=True)
def fresh_engine_cache():
    kb_selectors.engine_cache_clear()
    yield
    kb_selectors.engine_cache_clear()


def build_kb(merchant: Merchant) -> SimpleNamespace:
    m = merchant.pk
    faq = kb_services.faq_create
    kb = SimpleNamespace(
        returns=faq(
            merchant_id=m,
            question="怎么退货",
            answer=f"<p>{RETURNS}</p>",
            similar_questions="如何退货\n我想退货\n退货流程是什么",
        ),
        return_shipping=faq(
            merchant_id=m,
            question="退货运费谁承担",
            answer=RETURN_SHIPPING,
            similar_questions="退货的运费谁出\n退货要运费吗",
        ),
        shipping=faq(
            merchant_id=m,
            question="运费多少钱",
            answer=SHIPPING,
            similar_questions="邮费多少\n包邮吗\n运费怎么算",
        ),
        invoice=faq(
            merchant_id=m,
            question="怎么开发票",
            answer=INVOICE,
            similar_questions="能开发票吗\n发票怎么开",
        ),
        points_use=faq(
            merchant_id=m,
            question="会员积分怎么用",
            answer=POINTS_USE,
            similar_questions="积分能抵钱吗",
        ),
        points_earn=faq(
            merchant_id=m,
            question="会员积分怎么获得",
            answer=POINTS_EARN,
            similar_questions="怎么赚积分",
        ),
        reset=faq(
            merchant_id=m,
            question="How do I reset my password",
            answer=RESET_HTML,
            similar_questions="forgot password\nreset password\nI forgot my password",
        ),
        order_status=kb_services.intent_create(
            merchant_id=m,
            name="order_status",
            examples="我的订单到哪了\n查物流\n订单什么时候到\n查询订单状态\nwhere is my order",
            answer="订单{order_no}已发货，预计2天内送达。",
            slots=[
                {
                    "name": "order_no",
                    "prompt": "请提供您的订单号（10位数字）。",
                    "pattern": r"^\d{10}$",
                    "reprompt": "订单号是10位数字，请再发一次。",
                }
            ],
        ),
        cancel=kb_services.intent_create(
            merchant_id=m,
            name="cancel_order",
            examples="取消订单\n我不想要了帮我取消\n怎么取消订单\ncancel my order",
            answer="您可以在订单页点击“取消订单”。",
        ),
        wholesale=kb_services.intent_create(
            merchant_id=m,
            name="wholesale",
            action="handover",
            examples="批发怎么合作\n我想批发\n大量采购有优惠吗\nwholesale orders",
        ),
    )
    kb_training.kb_train(merchant_id=m)
    return kb


def new_client_msg_id() -> str:
    return secrets.token_hex(8)
