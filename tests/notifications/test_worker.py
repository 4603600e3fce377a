"""A real Celery worker (the configured broker: Redis with REDIS_URL, else the filesystem one)
runs the escalation after the merchant's delay, sends one SMS to the fake Aliyun endpoint and
one email even when the task is delivered twice, and stays silent for a conversation answered
in time."""

from __future__ import annotations

import email
import re
import time
from email import policy

import pytest

from notifications import services as notify
from notifications import tasks
from notifications.models import Notification
from tests import factories
from tests.notifications.conftest import KEY_ID, KEY_SECRET, prefer, waiting_conversation


@pytest.fixture
def sms_worker(tmp_path, aliyun, start_celery_worker):
    """A worker sending email to files under tmp_path/mail and SMS to the fake Aliyun."""
    mail_dir = tmp_path / "mail"
    worker = start_celery_worker(
        EMAIL_URL="filemail://",
        EMAIL_FILE_PATH=str(mail_dir),
        SMS_BACKEND="aliyun",
        SMS_ACCESS_KEY_ENV=KEY_ID,
        SMS_ACCESS_KEY_SECRET_ENV=KEY_SECRET,
        SMS_SIGN_NAME="墨众客服",
        SMS_TEMPLATE_CODE="SMS_0001",
        SMS_ENDPOINT=aliyun.url,
    )
    return mail_dir, worker


def test_worker_escalates_after_the_delay_once(acme, bob, aliyun, sms_worker):
    mail_dir, worker = sms_worker
    acme.escalation_delay_seconds = 3
    acme.save()
    prefer(bob, sms="13800138000", email="bob@example.com")
    waiting = waiting_conversation(acme, name="赵六", body="发货了吗")
    answered = waiting_conversation(acme, name="孙七")

    started = time.monotonic()
    for conversation in (waiting, answered):
        notify.notify_agents(merchant_id=acme.pk, conversation_id=conversation.pk, reason="new")
    # The same escalation delivered a second time (as a broker redelivery would).
    tasks.escalate.apply_async(
        kwargs={
            "merchant_id": acme.pk,
            "conversation_id": waiting.pk,
            "reason": "new",
            "reference": notify.reference_for(waiting, "new"),
            "user_ids": None,
        },
        countdown=3,
    )
    factories.agent_message(bob, answered.pk, "在的")

    time.sleep(1.5)
    assert aliyun.requests == [], "sent before the delay"
    worker.wait_for(lambda: aliyun.accepted and mail_dir.exists() and any(mail_dir.iterdir()), 40)
    assert time.monotonic() - started >= 2.9
    # All three task runs finished: the duplicate and the answered conversation sent nothing.
    done = re.compile(r"conversations\.notify\.escalate\[[^\]]+\] succeeded in")
    worker.wait_for(lambda: len(done.findall(worker.log())) >= 3, 40)

    (sms,) = aliyun.accepted
    assert sms["PhoneNumbers"] == "13800138000"
    assert (
        f'"conversation":"{waiting.pk}"' in sms["TemplateParam"] and "赵六" in sms["TemplateParam"]
    )
    (mail_file,) = list(mail_dir.iterdir())
    parsed = email.message_from_bytes(mail_file.read_bytes(), policy=policy.default)
    assert parsed["To"] == "bob@example.com"
    assert "发货了吗" in parsed.get_body(("plain",)).get_content()
    sent = Notification.objects.exclude(channel="in_app")
    assert sorted(sent.values_list("conversation_id", "channel", "sent")) == [
        (waiting.pk, "email", True),
        (waiting.pk, "sms", True),
    ]
