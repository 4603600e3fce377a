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
from merchants.models import Membership, Merchant
from merchants.services import membership_add

DEMO_KEY = "demo-widget-key"


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
