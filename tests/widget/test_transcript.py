"""The transcript by e-mail (POST /widget/api/transcript): only the visitor's own conversation,
never a private note, to the address given or the one we have, at most three an hour, clear
field errors; another merchant's token or origin gets nothing."""

from __future__ import annotations

import email
from email import policy
from smtplib import SMTPServerDisconnected

import pytest
from django.core import mail
from django.core.cache import cache
from django.core.mail import EmailMultiAlternatives
from kombu.exceptions import OperationalError

from conversations.tokens import visitor_token_issue
from kefu.celery import app as celery_app
from notifications import tasks
from tests import factories
from tests.widget.test_offline import ORIGIN, post


@pytest.fixture(autouse=True)
def eager():
    """The mail is a Celery task (notifications.transcript_email): run in this process, at
    once, as on a laptop without a worker; test_a_real_worker_mails_it runs a worker."""
    # Not task_eager_propagates: with it a retry raises instead of running again; a failure
    # still shows as a missing mail.
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = before


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()
    yield
    cache.clear()


def chat(acme, bob, email=""):
    visitor = factories.visitor(acme)
    if email:
        visitor.email = email
        visitor.save(update_fields=["email"])
    first = factories.visitor_message(visitor, "我的订单什么时候到？<script>x</script>")
    factories.agent_message(bob, first.conversation_id, "内部备注：这个客户是 VIP", private=True)
    factories.agent_message(bob, first.conversation_id, "今天下午发货")
    return visitor


def token(merchant, visitor):
    return visitor_token_issue(merchant_id=merchant.pk, visitor_id=visitor.pk)


def test_the_visitor_gets_their_own_transcript_without_private_notes(client, acme, bob):
    visitor = chat(acme, bob)
    other_visitor = chat(acme, bob)  # another chat of the same shop: never in this mail
    factories.visitor_message(other_visitor, "别人的问题")
    response = post(
        client, "transcript", acme, {"token": token(acme, visitor), "email": "v@example.com"}
    )
    assert response.status_code == 200, response.content
    assert "v@example.com" in response.json()["detail"]
    assert len(mail.outbox) == 1
    sent = mail.outbox[0]
    assert sent.to == ["v@example.com"]
    assert "我的订单什么时候到？<script>x</script>" in sent.body
    assert "今天下午发货" in sent.body
    assert "VIP" not in sent.body and "别人的问题" not in sent.body
    html = sent.alternatives[0][0]
    assert "VIP" not in html and "<script>x" not in html  # escaped in the HTML part
    assert "&lt;script&gt;x" in html


def test_the_address_we_have_is_used_and_one_is_required(client, acme, bob):
    known = chat(acme, bob, email="known@example.com")
    response = post(client, "transcript", acme, {"token": token(acme, known)})
    assert response.status_code == 200
    assert mail.outbox[-1].to == ["known@example.com"]
    anonymous = chat(acme, bob)
    response = post(client, "transcript", acme, {"token": token(acme, anonymous), "email": ""})
    assert response.status_code == 400
    assert "email" in response.json()["errors"]
    response = post(
        client, "transcript", acme, {"token": token(acme, anonymous), "email": "not-an-email"}
    )
    assert response.status_code == 400
    assert "email" in response.json()["errors"]
    assert len(mail.outbox) == 1


def test_bad_input_and_a_visitor_without_a_chat(client, acme, bob):
    for body in ["not json", [1], {"email": "a@example.com"}, {"token": "forged"}]:
        response = post(client, "transcript", acme, body)
        assert response.status_code == 400, body
    fresh = factories.visitor(acme)
    response = post(client, "transcript", acme, {"token": token(acme, fresh), "email": "a@b.cn"})
    assert response.status_code == 404
    assert not mail.outbox


def test_three_an_hour(client, acme, bob):
    visitor = chat(acme, bob)
    body = {"token": token(acme, visitor), "email": "v@example.com"}
    codes = [post(client, "transcript", acme, body).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    assert len(mail.outbox) == 3


def test_tenant_isolation(client, acme, bob, other, charlie):
    visitor = chat(acme, bob)
    # acme's visitor token on the other merchant's key: refused, nothing of acme's mailed.
    other.allowed_origins = ORIGIN
    other.save(update_fields=["allowed_origins"])
    response = post(
        client, "transcript", other, {"token": token(acme, visitor), "email": "x@example.com"}
    )
    assert response.status_code == 403
    # A foreign origin on acme's key: refused before anything is read.
    response = post(
        client,
        "transcript",
        acme,
        {"token": token(acme, visitor), "email": "x@example.com"},
        origin="https://evil.example",
    )
    assert response.status_code == 403
    assert not mail.outbox


def test_the_mail_is_in_the_widgets_language(client, acme, bob):
    visitor = chat(acme, bob)
    body = {"token": token(acme, visitor), "email": "v@example.com"}
    post(client, "transcript", acme, body, HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    post(client, "transcript", acme, body, HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9")
    english, chinese = mail.outbox
    assert english.subject.startswith("Your conversation with")
    assert "Your conversation with" not in chinese.subject


def test_a_failing_mail_server_is_tried_again(client, acme, bob, monkeypatch):
    """The task retries on SMTP and network errors (eager mode runs the retry at once)."""
    tries = []
    real_send = EmailMultiAlternatives.send

    def flaky(self, *args, **kwargs):
        tries.append(1)
        if len(tries) < 3:
            raise SMTPServerDisconnected("try again")
        return real_send(self, *args, **kwargs)

    monkeypatch.setattr(EmailMultiAlternatives, "send", flaky)
    visitor = chat(acme, bob)
    response = post(client, "transcript", acme, {"token": token(acme, visitor), "email": "v@e.cn"})
    assert response.status_code == 200
    assert len(tries) == 3 and len(mail.outbox) == 1


def test_the_request_does_not_wait_for_the_mail_and_a_down_broker_is_a_clear_503(
    client, acme, bob, monkeypatch
):
    queued = []
    monkeypatch.setattr(tasks.transcript_email, "apply_async", lambda **kw: queued.append(kw))
    visitor = chat(acme, bob)
    response = post(client, "transcript", acme, {"token": token(acme, visitor), "email": "v@e.cn"})
    assert response.status_code == 200
    assert not mail.outbox  # queued, not sent in the request
    assert queued[0]["kwargs"]["to"] == "v@e.cn"
    assert set(queued[0]["kwargs"]) == {"merchant_id", "conversation_id", "to", "language"}

    def down(**kw):
        raise OperationalError("broker unreachable")

    monkeypatch.setattr(tasks.transcript_email, "apply_async", down)
    response = post(client, "transcript", acme, {"token": token(acme, visitor), "email": "v@e.cn"})
    assert response.status_code == 503
    assert response.json()["code"] == "unavailable"


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_mails_it(client, acme, bob, tmp_path, start_celery_worker):
    """Through the broker the settings name (Redis with REDIS_URL, else the folder broker) to a
    worker process, which sends it."""
    celery_app.conf.task_always_eager = False
    mail_dir = tmp_path / "mail"
    worker = start_celery_worker(EMAIL_URL="filemail://", EMAIL_FILE_PATH=str(mail_dir))
    visitor = chat(acme, bob)
    response = post(
        client,
        "transcript",
        acme,
        {"token": token(acme, visitor), "email": "v@example.com"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 200
    assert not mail.outbox  # not sent by this process
    worker.wait_for(lambda: mail_dir.exists() and any(mail_dir.iterdir()), 60, "no mail")
    (sent,) = list(mail_dir.iterdir())
    parsed = email.message_from_bytes(sent.read_bytes(), policy=policy.default)
    assert parsed["To"] == "v@example.com"
    assert parsed["Subject"].startswith("Your conversation with")
    text = parsed.get_body(("plain",)).get_content()
    assert "今天下午发货" in text and "VIP" not in text
