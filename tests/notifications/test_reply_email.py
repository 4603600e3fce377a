"""Visitor reply emails: the service rules, and a real Celery worker honouring the countdown."""

import email
import time
from email import policy

from django.core import mail

from conversations import services
from conversations.models import Conversation
from notifications.services import visitor_reply_email_send
from tests import factories

XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=1</script>'


def test_unread_replies_are_emailed_once_as_escaped_html(acme, bob):
    visitor = factories.visitor(acme, email="v@example.com")
    m = factories.visitor_message(visitor, "where is my order?")
    factories.agent_message(bob, m.conversation_id, "on its way " + XSS)
    factories.agent_message(bob, m.conversation_id, "internal", private=True)

    sent = visitor_reply_email_send(merchant_id=acme.pk, conversation_id=m.conversation_id)
    assert sent == 1 and len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["v@example.com"]
    assert "on its way" in message.body and "internal" not in message.body
    html = message.alternatives[0][0]
    assert "&lt;script&gt;" in html and "<script>" not in html and "<img" not in html
    # Running again (a late or duplicate task) sends nothing new.
    assert visitor_reply_email_send(merchant_id=acme.pk, conversation_id=m.conversation_id) == 0
    assert len(mail.outbox) == 1


def test_read_replies_or_no_email_or_other_merchant_send_nothing(acme, other, bob):
    visitor = factories.visitor(acme, email="v@example.com")
    m = factories.visitor_message(visitor)
    factories.agent_message(bob, m.conversation_id, "hello")  # seq 3, after "Bob joined"
    services.conversation_mark_read_by_visitor(
        merchant_id=acme.pk, visitor_id=visitor.pk, conversation_id=None, seq=3
    )
    assert visitor_reply_email_send(merchant_id=acme.pk, conversation_id=m.conversation_id) == 0
    assert visitor_reply_email_send(merchant_id=other.pk, conversation_id=m.conversation_id) == 0
    anon = factories.visitor(acme)
    m2 = factories.visitor_message(anon)
    factories.agent_message(bob, m2.conversation_id, "hello")
    assert visitor_reply_email_send(merchant_id=acme.pk, conversation_id=m2.conversation_id) == 0
    assert mail.outbox == []


def test_real_worker_sends_after_the_countdown_not_before(
    acme, bob, settings, tmp_path, start_celery_worker
):
    mail_dir = tmp_path / "mail"
    worker = start_celery_worker(EMAIL_URL="filemail://", EMAIL_FILE_PATH=str(mail_dir))
    settings.VISITOR_REPLY_EMAIL_DELAY = 4
    visitor = factories.visitor(acme, email="buyer@example.com")
    m = factories.visitor_message(visitor, "在吗")
    started = time.monotonic()
    factories.agent_message(bob, m.conversation_id, "在的，请问有什么可以帮您？")
    time.sleep(2)
    assert not mail_dir.exists() or not any(mail_dir.iterdir()), "sent before the countdown"
    worker.wait_for(
        lambda: mail_dir.exists() and any(mail_dir.iterdir()),
        started + 40 - time.monotonic(),
        "no email from the worker",
    )
    elapsed = time.monotonic() - started
    assert elapsed >= 3.9
    files = list(mail_dir.iterdir())
    assert len(files) == 1
    parsed = email.message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert parsed["To"] == "buyer@example.com"
    assert "请问有什么可以帮您" in parsed.get_body(("plain",)).get_content()
    # seq 2 is the system line "Bob joined" (his reply claimed it); the reply is seq 3.
    assert Conversation.objects.get().visitor_emailed_seq == 3
