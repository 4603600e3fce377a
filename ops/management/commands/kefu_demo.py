"""Create (or refresh) the demo merchant with an admin and an agent, and print how to use it.

Idempotent: running it again keeps the data and gives the demo logins new random passwords,
printed here (never fixed ones: a published password is everyone's password on a server that
was started with `make run` and left running). --admin-password / --agent-password choose them.
"""

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from conversations.models import CannedResponse
from conversations.services import CannedActor, canned_response_create
from knowledge import services as kb_services
from knowledge import training as kb_training
from knowledge.models import Faq
from merchants.models import Membership, Merchant
from merchants.services import membership_add

DEMO_KEY = "demo-widget-key"

# The demo's knowledge base, in Chinese and in English (the bot answers in the language the
# visitor writes): shipping, returns, invoices, opening hours. (question, similar, answer)
DEMO_FAQS = [
    (
        "多久发货",
        "什么时候发货\n几天能到\n快递多久到\n运费多少\n包邮吗",
        "工作日下午 4 点前付款的订单当天发货，一般 2-3 天送达；订单满 99 元包邮，不满收 8 元运费。",
    ),
    (
        "怎么退货",
        "如何退货\n我想退货\n可以退换吗\n退货流程\n七天无理由",
        "收货后 7 天内可无理由退货：在“我的订单”里点“申请退货”，按页面上的地址寄回即可。"
        "质量问题的退货运费由我们承担，退款 3 个工作日内原路退回。",
    ),
    (
        "怎么开发票",
        "能开发票吗\n发票怎么开\n要开专票\n电子发票",
        "下单时在“发票”一栏填写抬头和税号即可，电子发票会在发货后发到您的邮箱；"
        "需要增值税专用发票请联系人工客服。",
    ),
    (
        "营业时间",
        "你们几点上班\n客服什么时候在\n周末有人吗\n工作时间",
        "人工客服的服务时间是每天 9:00-21:00（节假日照常）；其他时间智能助手为您解答，"
        "也可以给我们留言。",
    ),
    (
        "When will my order ship",
        "How long does shipping take\nWhen will it arrive\nHow much is shipping\nIs shipping free",
        "Orders paid before 4 pm on a working day ship the same day and usually arrive in "
        "2-3 days. Shipping is free from 99 yuan, otherwise 8 yuan.",
    ),
    (
        "How do I return an item",
        "Can I return it\nReturn policy\nI want a refund\nHow do returns work",
        "You can return any item within 7 days of delivery: open My orders, choose Return, and "
        "send it to the address shown. We pay the postage for faulty items; refunds reach your "
        "original payment method within 3 working days.",
    ),
    (
        "How do I get an invoice",
        "Can I get an invoice\nI need a VAT invoice\nInvoice request",
        "Enter the invoice title and tax number in the Invoice field when you order; the "
        "e-invoice is emailed to you once the order ships. For a special VAT invoice, ask one "
        "of our agents.",
    ),
    (
        "What are your opening hours",
        "When are you open\nOpening hours\nAre you open on weekends\nWhen can I talk to someone",
        "Our agents are here every day from 9:00 to 21:00 (holidays included). At other times "
        "the assistant answers, and you can leave us a message.",
    ),
]


class Command(BaseCommand):
    help = "Create the demo merchant, its admin and agent, and print URLs and logins."

    def add_arguments(self, parser):
        parser.add_argument("--base-url", default=settings.PUBLIC_URL)
        parser.add_argument("--admin-password", default="", help="default: a new random one")
        parser.add_argument("--agent-password", default="", help="default: a new random one")

    @transaction.atomic
    def handle(self, *args, base_url, admin_password, agent_password, **options):
        base_url = base_url.rstrip("/")
        admin_password = admin_password or secrets.token_urlsafe(12)
        agent_password = agent_password or secrets.token_urlsafe(12)
        merchant, _ = Merchant.objects.get_or_create(
            widget_key=DEMO_KEY,
            defaults={
                "name": "演示商城 Demo Shop",
                "welcome_message": "您好！有什么可以帮您？ Hello! How can we help?",
            },
        )
        origins = set(merchant.origin_patterns()) | {
            base_url.lower(),
            "http://127.0.0.1:8000",
            "http://localhost:8000",
        }
        merchant.allowed_origins = "\n".join(sorted(origins))
        merchant.save()
        membership_add(
            merchant=merchant,
            username="admin",
            password=admin_password,
            role=Membership.Role.OWNER,
            display_name="管理员 Admin",
            is_staff=True,
        )
        membership_add(
            merchant=merchant,
            username="agent",
            password=agent_password,
            role=Membership.Role.AGENT,
            display_name="客服小王 Wang",
        )
        # Shared quick replies, through the service (it stores the pinyin "/tk" finds them by).
        for shortcut, title, text in [
            ("hello", "问候", "您好，我是{agent_name}，很高兴为您服务！"),
            ("thanks", "感谢等待", "感谢您的耐心等待。Thank you for waiting."),
            ("refund", "退款说明", "{visitor_name}您好，退款会在 3 个工作日内原路退回。"),
        ]:
            if not CannedResponse.objects.filter(merchant=merchant, shortcut=shortcut).exists():
                canned_response_create(
                    merchant_id=merchant.pk,
                    actor=CannedActor(user_id=None, is_manager=True),
                    shortcut=shortcut,
                    title=title,
                    text=text,
                    personal=False,
                )
        # The bot answers first, from a small bilingual knowledge base; "talk to a human" or a
        # question it cannot answer brings the agent in (small talk is built in).
        Merchant.objects.filter(pk=merchant.pk).update(
            bot_mode=Merchant.BotMode.BOT_FIRST, bot_name="小墨 Assistant"
        )
        for question, similar, answer in DEMO_FAQS:
            if not Faq.objects.filter(merchant=merchant, question=question).exists():
                kb_services.faq_create(
                    merchant_id=merchant.pk,
                    question=question,
                    answer=answer,
                    similar_questions=similar,
                )
        # Trained now (seconds), after the commit, so the bot answers on the first visit even
        # before the Celery worker has run the training the writes scheduled; a no-op when a
        # model for this knowledge-base version exists.
        merchant_id = merchant.pk
        transaction.on_commit(lambda: kb_training.kb_train(merchant_id=merchant_id))
        User = get_user_model()
        User.objects.filter(username="admin").update(is_staff=True)
        w = self.stdout.write
        w("")
        w(self.style.SUCCESS("Mozhongkefu demo is ready"))
        w(f"  Widget demo page : {base_url}/widget/demo/?key={DEMO_KEY}")
        w(f"  Agent workspace  : {base_url}/workspace/   login agent / {agent_password}")
        w(f"  Back office      : {base_url}/admin/       login admin / {admin_password}")
        w(f"  API docs         : {base_url}/api/docs/")
        w(
            f'  Embed snippet    : <script src="{base_url}/widget/loader.js" data-merchant="{DEMO_KEY}" async></script>'
        )
        w("  (new passwords on every run; the demo page is served while WIDGET_DEMO_PAGE is on)")
        w("")
