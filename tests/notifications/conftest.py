from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from conversations.models import Conversation
from tests import factories
from tests.notifications.aliyun_fake import FakeAliyun

KEY_ID, KEY_SECRET = "LTAI-test-id", "test-secret/+*~ 密钥"


@pytest.fixture
def aliyun(settings):
    """The fake Dysmsapi endpoint, with the product configured to send SMS through it."""
    with FakeAliyun({KEY_ID: KEY_SECRET}) as fake:
        settings.SMS_BACKEND = "aliyun"
        settings.SMS_ACCESS_KEY_ID = KEY_ID
        settings.SMS_ACCESS_KEY_SECRET = KEY_SECRET
        settings.SMS_SIGN_NAME = "墨众客服"
        settings.SMS_TEMPLATE_CODE = "SMS_0001"
        settings.SMS_ENDPOINT = fake.url
        settings.SMS_REGION = "cn-hangzhou"
        settings.SMS_TIMEOUT = 2.0
        yield fake


def waiting_conversation(
    merchant,
    *,
    name="访客",
    body="在吗？",
    waited=0,
    team=None,
    assignee=None,
    queued=False,
    **fields,
) -> Conversation:
    """A conversation whose visitor has waited `waited` seconds for a reply. Built directly,
    not through message_send_by_visitor, so the router (conversations.routing) does not act on
    it: these tests drive notify_agents themselves, as the router does."""
    visitor = factories.visitor(merchant, name=name)
    since = timezone.now() - timedelta(seconds=waited)
    return Conversation.objects.create(
        merchant=merchant,
        visitor=visitor,
        team=team,
        assignee=assignee,
        awaiting_reply_since=since,
        queued_at=since if queued else None,
        last_message_preview=body,
        last_message_at=since,
        last_message_sender_kind="visitor",
        last_seq=1,
        unread_agent_count=1,
        **fields,
    )


def prefer(membership, *, sms: str | None = None, email: str | None = None):
    """Turn on SMS (to that phone) and/or email (to that address) escalation."""
    if sms:
        membership.phone, membership.notify_by_sms = sms, True
    if email:
        membership.notify_by_email = True
        membership.user.email = email
        membership.user.save(update_fields=["email"])
    membership.save(update_fields=["phone", "notify_by_sms", "notify_by_email"])
    return membership
