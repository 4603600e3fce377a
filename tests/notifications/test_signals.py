"""How conversations reaches notifications without importing it: its signals, sent after the
commit, each connected once (AppConfig.ready); and the task names that outlive the move."""

from __future__ import annotations

import pytest

from conversations import services, signals
from notifications import services as notify
from notifications import tasks
from tests import factories


@pytest.fixture
def heard():
    """What attention_needed delivers, beside the real receiver."""
    calls = []

    def listener(sender, signal, **kwargs):
        calls.append(kwargs)

    signals.attention_needed.connect(listener, dispatch_uid="test.heard")
    yield calls
    signals.attention_needed.disconnect(dispatch_uid="test.heard")


@pytest.fixture
def queued_reply_emails(monkeypatch):
    """Reply-email tasks the receiver queues (recorded, not sent to the broker)."""
    queued = []
    monkeypatch.setattr(tasks.visitor_reply_email, "apply_async", lambda **kw: queued.append(kw))
    return queued


def test_each_receiver_is_connected_once():
    for signal, uid in (
        (signals.attention_needed, "notifications.attention_needed"),
        (signals.visitor_reply_posted, "notifications.visitor_reply_posted"),
    ):
        assert [key for (key, _sender), *_rest in signal.receivers if key == uid] == [uid]


def test_offline_message_raises_attention_only_after_the_commit(
    acme, heard, monkeypatch, django_capture_on_commit_callbacks
):
    raised = []
    monkeypatch.setattr(notify, "notify_agents", lambda **kw: raised.append(kw))
    visitor = factories.visitor(acme)
    with django_capture_on_commit_callbacks() as callbacks:
        message, created = services.offline_message_create(
            merchant_id=acme.pk,
            visitor_id=visitor.pk,
            name="张三",
            email="z@example.com",
            body="请回电",
        )
        assert created and heard == [] and raised == []  # nothing before the commit
    for callback in callbacks:
        callback()
    expected = {
        "merchant_id": acme.pk,
        "conversation_id": message.conversation_id,
        "reason": "offline",
        "user_ids": None,
    }
    assert heard == [expected]
    assert raised == [expected]  # the receiver hands it to notify_agents as it came


def test_a_visible_reply_schedules_the_visitor_email_after_the_commit(
    acme, bob, settings, queued_reply_emails, django_capture_on_commit_callbacks
):
    settings.VISITOR_REPLY_EMAIL_DELAY = 120
    visitor = factories.visitor(acme, email="v@example.com")
    m = factories.visitor_message(visitor)
    with django_capture_on_commit_callbacks() as callbacks:
        factories.agent_message(bob, m.conversation_id, "在的")
        factories.agent_message(bob, m.conversation_id, "internal", private=True)
        assert queued_reply_emails == []
    for callback in callbacks:
        callback()
    assert queued_reply_emails == [
        {
            "kwargs": {"merchant_id": acme.pk, "conversation_id": m.conversation_id},
            "countdown": 120,
        }
    ]  # one: the private note is not a reply the visitor sees


def test_no_reply_email_without_an_address_or_with_the_delay_off(
    acme, bob, settings, queued_reply_emails, django_capture_on_commit_callbacks
):
    anonymous = factories.visitor_message(factories.visitor(acme))
    with django_capture_on_commit_callbacks(execute=True):
        factories.agent_message(bob, anonymous.conversation_id, "hello")
    settings.VISITOR_REPLY_EMAIL_DELAY = 0
    known = factories.visitor_message(factories.visitor(acme, email="v@example.com"))
    with django_capture_on_commit_callbacks(execute=True):
        factories.agent_message(bob, known.conversation_id, "hello")
    assert queued_reply_emails == []


def test_moved_tasks_keep_their_names_and_beat_runs_the_sweep():
    from kefu.celery import app

    app.loader.import_default_modules()
    # Names from before the notifications app: messages already queued under them still run.
    for task, name in (
        (tasks.escalate, "conversations.notify.escalate"),
        (tasks.escalate_unanswered, "conversations.notify.escalate_unanswered"),
        (tasks.visitor_reply_email, "conversations.tasks.visitor_reply_email"),
    ):
        assert task.name == name and app.tasks[name].run == task.run
    sweep = app.conf.beat_schedule["notify-unanswered"]
    assert sweep["task"] == "conversations.notify.escalate_unanswered" and sweep["schedule"] == 30.0
    for name in (
        "knowledge.tasks.kb_train_task",
        "knowledge.tasks.kb_import_task",
        "knowledge.tasks.kb_validity_sweep",
    ):
        assert name in app.tasks
