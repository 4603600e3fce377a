"""notifications.services: who hears of a conversation in the workspace, who is escalated to by
SMS / email, the re-check when the escalation fires, idempotency, and the unanswered sweep."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.core import mail
from django.utils import timezone

from conversations.models import Conversation
from merchants.models import Membership, Team
from notifications import services as notify
from notifications import tasks
from notifications.models import Notification
from tests import factories
from tests.conversations.realtime_helpers import (
    agent_sock,
    fresh_realtime,  # noqa: F401 (autouse)
    quiet_all,
    run,
)
from tests.notifications.conftest import prefer, waiting_conversation
from tests.wsclient import session_cookie

XSS_NAME = '<img src=x onerror="alert(1)">张三'


def notifications(frames: list[dict]) -> list[dict]:
    return [f for f in frames if f["type"] == "notification"]


def escalations(callbacks) -> list[dict]:
    """The escalate tasks notify_agents queued after commit (captured, not sent)."""
    return [
        {"kwargs": cb.keywords["kwargs"], "countdown": cb.keywords["countdown"]}
        for cb in callbacks
        if getattr(cb, "func", None) == tasks.escalate.apply_async
    ]


# --- In the workspace -------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_in_app_frame_reaches_only_the_right_agents_sockets(
    acme, alice, bob, charlie, channel_layer_kind
):
    dave = factories.member(acme, "dave", display_name="Dave")
    Membership.objects.filter(pk=dave.pk).update(is_away=True)
    conversation = waiting_conversation(acme, name=XSS_NAME, body="订单 <b>123</b> 在哪？")
    cookies = {m.user.username: session_cookie(m.user) for m in (alice, bob, dave, charlie)}
    notify_agents = sync_to_async(notify.notify_agents)

    async def scenario():
        socks = {
            "alice": await agent_sock(acme.pk, cookies["alice"], "alice"),
            "bob": await agent_sock(acme.pk, cookies["bob"], "bob"),
            "bob2": await agent_sock(acme.pk, cookies["bob"], "bob2"),  # a second tab
            "dave": await agent_sock(acme.pk, cookies["dave"], "dave"),
            "charlie": await agent_sock(charlie.merchant_id, cookies["charlie"], "charlie"),
        }
        await quiet_all(*socks.values())

        # Everyone on duty: online and not away, of this merchant only.
        await notify_agents(merchant_id=acme.pk, conversation_id=conversation.pk, reason="new")
        got = {k: notifications(v) for k, v in (await quiet_all(*socks.values())).items()}
        assert {k for k, v in got.items() if v} == {"alice", "bob", "bob2"}
        assert all(len(v) <= 1 for v in got.values())
        frame = got["bob"][0]
        assert frame["reason"] == "new" and frame["conversation_id"] == conversation.pk
        # The visitor's text is carried as plain text, unaltered: clients render it as text.
        assert XSS_NAME in frame["title"] and frame["body"] == "订单 <b>123</b> 在哪？"

        # Raised again for the same state: nothing new.
        await notify_agents(merchant_id=acme.pk, conversation_id=conversation.pk, reason="new")
        assert not any(notifications(v) for v in (await quiet_all(*socks.values())).values())

        # Named agents: only those of this merchant (away or not); an outsider's id is ignored.
        await notify_agents(
            merchant_id=acme.pk,
            conversation_id=conversation.pk,
            reason="unanswered",
            user_ids=[dave.user_id, charlie.user_id],
        )
        got = {k: notifications(v) for k, v in (await quiet_all(*socks.values())).items()}
        assert {k for k, v in got.items() if v} == {"dave"}
        assert got["dave"][0]["reason"] == "unanswered"

        # Another merchant cannot raise anything about this conversation.
        await notify_agents(
            merchant_id=charlie.merchant_id,
            conversation_id=conversation.pk,
            reason="queued",
            user_ids=[charlie.user_id],
        )
        assert not any(notifications(v) for v in (await quiet_all(*socks.values())).values())
        for sock in socks.values():
            await sock.close()

    run(scenario())
    in_app = Notification.objects.filter(channel="in_app", user__isnull=False)
    assert sorted(in_app.values_list("user__username", "reason")) == [
        ("alice", "new"),
        ("bob", "new"),
        ("dave", "unanswered"),
    ]
    assert not Notification.objects.filter(merchant=charlie.merchant).exists()


def test_audience_rules(acme, alice, bob, charlie):
    carol = factories.member(acme, "carol")
    gone = factories.member(acme, "gone")
    Membership.objects.filter(pk=gone.pk).update(is_active=False)
    conversation = waiting_conversation(acme)

    def users(conv, user_ids=None):
        return sorted(m.user.username for m in notify.audience(conv, user_ids))

    assert users(conversation) == ["alice", "bob", "carol"]
    assert users(conversation, [bob.user_id, charlie.user_id, gone.user_id]) == ["bob"]
    sales = Team.objects.create(merchant=acme, name="Sales")
    bob.teams.add(sales)
    conversation.team = sales
    assert users(conversation) == ["bob"]
    empty = Team.objects.create(merchant=acme, name="Empty")
    gone.teams.add(empty)
    conversation.team = empty
    # A team with nobody active in it must not leave the visitor unnoticed.
    assert users(conversation) == ["alice", "bob", "carol"]
    conversation.assignee_id = carol.user_id
    assert users(conversation) == ["carol"]


# --- Escalation -------------------------------------------------------------------------------


def test_escalation_is_scheduled_after_the_delay_and_sends_once(
    acme, alice, bob, aliyun, django_capture_on_commit_callbacks
):
    acme.escalation_delay_seconds = 90
    acme.save()
    prefer(bob, sms="13800138000", email="bob@example.com")
    prefer(alice, sms="13900139000")
    carol = prefer(factories.member(acme, "carol"), email="carol@example.com")
    Membership.objects.filter(pk=carol.pk).update(is_active=False)
    conversation = waiting_conversation(acme, name="李四", queued=True)

    with django_capture_on_commit_callbacks() as callbacks:
        notify.notify_agents(merchant_id=acme.pk, conversation_id=conversation.pk, reason="queued")
    (task,) = escalations(callbacks)
    assert task["countdown"] == 90
    kwargs = task["kwargs"]
    assert kwargs["reason"] == "queued" and kwargs["reference"] == notify.reference_for(
        conversation, "queued"
    )

    # The task fires twice (redelivery, a duplicate): one SMS per phone, one email.
    assert tasks.escalate(**kwargs) == 3
    assert tasks.escalate(**kwargs) == 0
    assert sorted(r["PhoneNumbers"] for r in aliyun.accepted) == ["13800138000", "13900139000"]
    assert aliyun.accepted[0]["TemplateParam"].count("李四") == 1
    assert [m.to for m in mail.outbox] == [["bob@example.com"]]
    rows = Notification.objects.exclude(channel="in_app")
    assert sorted(rows.values_list("user__username", "channel", "sent", "error")) == [
        ("alice", "sms", True, ""),
        ("bob", "email", True, ""),
        ("bob", "sms", True, ""),
    ]


def test_nothing_is_sent_when_the_conversation_was_answered_in_time(acme, bob, aliyun):
    prefer(bob, sms="13800138000", email="bob@example.com")
    conversation = waiting_conversation(acme)
    reference = notify.reference_for(conversation, "new")
    factories.agent_message(bob, conversation.pk, "您好，马上为您查询")
    assert (
        tasks.escalate(
            merchant_id=acme.pk, conversation_id=conversation.pk, reason="new", reference=reference
        )
        == 0
    )
    assert aliyun.requests == [] and mail.outbox == []
    assert not Notification.objects.exclude(channel="in_app").exists()


def test_recheck_rules(acme, alice, bob, aliyun):
    prefer(bob, sms="13800138000")
    prefer(alice, sms="13900139000")

    def fire(conversation, reason, reference, user_ids=None):
        return notify.escalation_send(
            merchant_id=acme.pk,
            conversation_id=conversation.pk,
            reason=reason,
            reference=reference,
            user_ids=user_ids,
        )

    # Left the queue (claimed) before the delay: not sent.
    queued = waiting_conversation(acme, queued=True)
    ref = notify.reference_for(queued, "queued")
    Conversation.objects.filter(pk=queued.pk).update(assignee=bob.user, queued_at=None)
    assert fire(queued, "queued", ref) == 0

    # Moved from bob to alice after an acceptance timeout: bob's escalation stays silent,
    # alice's goes out, once.
    moved = waiting_conversation(acme, assignee=alice.user)
    ref = notify.reference_for(moved, "new")
    assert fire(moved, "new", ref, [bob.user_id]) == 0
    assert fire(moved, "new", ref, [alice.user_id]) == 1
    # Still unanswered later: the unanswered reminder for the same wait sends no second SMS.
    assert fire(moved, "unanswered", ref) == 0
    assert [r["PhoneNumbers"] for r in aliyun.accepted] == ["13900139000"]

    # A new wait (answered, then the visitor wrote again) is a new reference: sent again.
    later = timezone.now() + timedelta(minutes=5)
    Conversation.objects.filter(pk=moved.pk).update(awaiting_reply_since=later)
    moved.refresh_from_db()
    assert fire(moved, "unanswered", notify.reference_for(moved, "unanswered")) == 1
    assert len(aliyun.accepted) == 2

    # The bot took it over, or it was resolved: not sent. Another merchant's id: not found.
    for change in ({"bot_active": True}, {"status": Conversation.Status.RESOLVED}):
        conversation = waiting_conversation(acme, **change)
        assert fire(conversation, "new", notify.reference_for(conversation, "new")) == 0
    conversation = waiting_conversation(acme)
    ref = notify.reference_for(conversation, "new")
    assert (
        notify.escalation_send(
            merchant_id=acme.pk + 1000, conversation_id=conversation.pk, reason="new", reference=ref
        )
        == 0
    )
    assert len(aliyun.accepted) == 2


def test_failures_are_recorded_and_not_retried(acme, bob, alice, aliyun, settings):
    prefer(bob, sms="13800138000", email="bob@example.com")
    prefer(alice, sms="13900139000")
    conversation = waiting_conversation(acme)
    ref = notify.reference_for(conversation, "new")
    aliyun.mode = "business_error"
    assert (
        notify.escalation_send(
            merchant_id=acme.pk,
            conversation_id=conversation.pk,
            reason="new",
            reference=ref,
            user_ids=[bob.user_id],
        )
        == 1
    )
    sms_row = Notification.objects.get(channel="sms", user=bob.user)
    assert sms_row.sent is False
    assert "isv.BUSINESS_LIMIT_CONTROL" in sms_row.error and "RequestId" in sms_row.error
    assert Notification.objects.get(channel="email", user=bob.user).sent is True
    # At most once: a second firing does not call the provider again.
    before = len(aliyun.requests)
    aliyun.mode = "ok"
    assert (
        notify.escalation_send(
            merchant_id=acme.pk,
            conversation_id=conversation.pk,
            reason="new",
            reference=ref,
            user_ids=[bob.user_id],
        )
        == 0
    )
    assert len(aliyun.requests) == before

    # A wrong secret: the provider's refusal is recorded.
    settings.SMS_ACCESS_KEY_SECRET = "not-the-secret"
    assert (
        notify.escalation_send(
            merchant_id=acme.pk,
            conversation_id=conversation.pk,
            reason="new",
            reference=ref,
            user_ids=[alice.user_id],
        )
        == 0
    )
    assert "SignatureDoesNotMatch" in Notification.objects.get(channel="sms", user=alice.user).error


def test_escalation_email_escapes_the_visitor_text(acme, bob, settings):
    settings.PUBLIC_URL = "https://kefu.example.com"
    prefer(bob, email="bob@example.com")
    conversation = waiting_conversation(
        acme,
        name="Eve\nBcc: x@evil.example <script>alert(1)</script>",
        body='<img src=x onerror="alert(2)"> 急！',
    )
    assert (
        notify.escalation_send(
            merchant_id=acme.pk,
            conversation_id=conversation.pk,
            reason="new",
            reference=notify.reference_for(conversation, "new"),
        )
        == 1
    )
    (email,) = mail.outbox
    assert "\n" not in email.subject and "Acme 商城" in email.subject
    assert email.to == ["bob@example.com"]
    assert '<img src=x onerror="alert(2)"> 急！' in email.body  # plain text part: as written
    assert f"https://kefu.example.com/workspace/{acme.pk}/#c{conversation.pk}" in email.body
    html = email.alternatives[0][0]
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;" in html and "&lt;img src=x" in html


def test_console_backend_by_default(acme, bob, settings, caplog):
    settings.SMS_BACKEND = "console"
    prefer(bob, sms="13800138000")
    conversation = waiting_conversation(acme, name="王五")
    with caplog.at_level("INFO", logger="notifications.sms"):
        assert (
            notify.escalation_send(
                merchant_id=acme.pk,
                conversation_id=conversation.pk,
                reason="offline",
                reference=notify.reference_for(conversation, "offline"),
            )
            == 1
        )
    assert "13800138000" in caplog.text and "王五" in caplog.text


# --- Unanswered sweep -------------------------------------------------------------------------


def test_unanswered_sweep_raises_each_wait_once(
    acme, other, alice, bob, charlie, django_capture_on_commit_callbacks
):
    acme.escalation_delay_seconds = 120
    acme.save()
    other.escalation_delay_seconds = 600
    other.save()
    prefer(bob, sms="13800138000")
    prefer(charlie, email="charlie@example.com")
    due = waiting_conversation(acme, waited=200)
    assigned = waiting_conversation(acme, waited=200, assignee=bob.user)
    young = waiting_conversation(acme, waited=60)  # not long enough yet
    waiting_conversation(acme, waited=300, queued=True)  # chased as "queued" instead
    waiting_conversation(acme, waited=300, bot_active=True)  # the bot is answering
    waiting_conversation(acme, waited=300, status=Conversation.Status.RESOLVED)
    waiting_conversation(acme, waited=3 * 86400)  # abandoned long ago
    waiting_conversation(other, waited=300)  # other's delay is 10 minutes
    other_due = waiting_conversation(other, waited=700)

    with django_capture_on_commit_callbacks() as callbacks:
        assert notify.unanswered_sweep() == 3
    raised = Notification.objects.filter(user__isnull=True, reason="unanswered")
    assert sorted(raised.values_list("conversation_id", flat=True)) == sorted(
        [due.pk, assigned.pk, other_due.pk]
    )
    tasks = {t["kwargs"]["conversation_id"]: t for t in escalations(callbacks)}
    # Escalation only where someone in the audience wants it: bob (assigned to him, and
    # everyone for `due`), charlie (other's merchant).
    assert set(tasks) == {due.pk, assigned.pk, other_due.pk}
    assert tasks[other_due.pk]["countdown"] == 600

    # The next beat finds nothing new.
    assert notify.unanswered_sweep() == 0
    # The visitor of `due` got an answer and wrote again later: a new wait, raised again.
    marker = raised.get(conversation=due)
    new_wait = marker.created_at + timedelta(seconds=5)
    Conversation.objects.filter(pk=due.pk).update(awaiting_reply_since=new_wait)
    Conversation.objects.filter(pk=young.pk).update(status=Conversation.Status.RESOLVED)
    assert notify.unanswered_sweep(now=new_wait + timedelta(seconds=60)) == 0
    assert notify.unanswered_sweep(now=new_wait + timedelta(seconds=121)) == 1
    assert raised.filter(conversation=due).count() == 2


# --- Back office ------------------------------------------------------------------------------


def test_back_office_lists_each_merchants_notifications_read_only(
    client, acme, other, alice, bob, charlie, aliyun
):
    from django.urls import reverse

    prefer(bob, sms="13800138000")
    prefer(charlie, sms="13900139000")
    aliyun.mode = "business_error"
    mine = waiting_conversation(acme)
    theirs = waiting_conversation(other)
    for conversation in (mine, theirs):
        notify.escalation_send(
            merchant_id=conversation.merchant_id,
            conversation_id=conversation.pk,
            reason="new",
            reference=notify.reference_for(conversation, "new"),
        )
    url = reverse("admin:notifications_notification_changelist")
    client.force_login(alice.user)
    response = client.get(url)
    assert response.status_code == 200
    rows = list(response.context["cl"].result_list)
    assert [(r.conversation_id, r.channel, r.sent) for r in rows] == [(mine.pk, "sms", False)]
    assert "isv.BUSINESS_LIMIT_CONTROL" in response.content.decode()
    detail = reverse("admin:notifications_notification_change", args=[rows[0].pk])
    assert client.get(detail).status_code == 200
    assert client.post(detail, {}).status_code == 403  # read-only
    other_row = Notification.objects.get(conversation=theirs)
    # Another merchant's row: absent (the admin's "does not exist" redirect), never shown.
    response = client.get(reverse("admin:notifications_notification_change", args=[other_row.pk]))
    assert response.status_code == 302
    client.force_login(bob.user)
    assert client.get(url).status_code in (302, 403)
