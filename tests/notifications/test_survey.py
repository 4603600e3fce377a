"""The e-mailed rating survey (notifications/survey.py, widget/survey.py): queued when a chat is
resolved, mailed only while still wanted (rating on, resolved, not rated, an e-mail address,
the visitor gone), a signed link that expires, and the page rates through the same rules."""

from __future__ import annotations

import re

import pytest
from django.core import mail, signing

from conversations import presence, services
from conversations.models import Conversation, ConversationEvent
from merchants.models import Merchant
from notifications import survey, tasks
from tests import factories


@pytest.fixture
def queued(monkeypatch):
    calls = []
    monkeypatch.setattr(tasks.survey_email, "apply_async", lambda **kw: calls.append(kw))
    return calls


def resolved(merchant, member, email="v@example.com"):
    visitor = factories.visitor(merchant)
    visitor.email = email
    visitor.save(update_fields=["email"])
    first = factories.visitor_message(visitor, "你好")
    services.conversation_claim(
        merchant_id=merchant.pk, conversation_id=first.conversation_id, user_id=member.user_id
    )
    services.conversation_set_status(
        merchant_id=merchant.pk,
        conversation_id=first.conversation_id,
        actor_user_id=member.user_id,
        status="resolved",
    )
    return Conversation.objects.get(pk=first.conversation_id)


def link_of(message) -> str:
    return re.search(r"(/widget/rate/[^/\s]+/)", message.body).group(1)


def test_resolving_queues_the_survey(acme, bob, queued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        conversation = resolved(acme, bob)
    assert [q["kwargs"] for q in queued] == [
        {"merchant_id": acme.pk, "conversation_id": conversation.pk}
    ]


def test_mailed_only_while_wanted(acme, bob, queued, monkeypatch):
    conversation = resolved(acme, bob)
    assert survey.survey_email_send(merchant_id=acme.pk, conversation_id=conversation.pk)
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["v@example.com"]
    # Still in the widget: asked there instead.
    monkeypatch.setattr(presence, "visitors_online", lambda m, ids: dict.fromkeys(ids, True))
    assert not survey.survey_email_send(merchant_id=acme.pk, conversation_id=conversation.pk)
    monkeypatch.undo()
    no_email = resolved(acme, bob, email="")
    assert not survey.survey_email_send(merchant_id=acme.pk, conversation_id=no_email.pk)
    services.conversation_rate(
        merchant_id=acme.pk,
        visitor_id=conversation.visitor_id,
        conversation_id=conversation.pk,
        rating=5,
    )
    assert not survey.survey_email_send(merchant_id=acme.pk, conversation_id=conversation.pk)
    Merchant.objects.filter(pk=acme.pk).update(rating_scale="off")
    fresh = resolved(acme, bob)
    assert not survey.survey_email_send(merchant_id=acme.pk, conversation_id=fresh.pk)
    assert len(mail.outbox) == 1


def test_the_link_rates_once_and_comments_stay_text(client, acme, bob, queued):
    conversation = resolved(acme, bob)
    survey.survey_email_send(merchant_id=acme.pk, conversation_id=conversation.pk)
    link = link_of(mail.outbox[0])
    page = client.get(link)
    assert page.status_code == 200
    assert b'name="rating" value="4"' in page.content
    bad = client.post(link, {"rating": "9"})
    assert bad.status_code == 400
    missing = client.post(link, {"comment": "x"})
    assert missing.status_code == 400
    assert Conversation.objects.get(pk=conversation.pk).rating is None
    done = client.post(link, {"rating": "4", "comment": "<script>alert(1)</script>"})
    assert done.status_code == 200
    conversation.refresh_from_db()
    assert (conversation.rating, conversation.rating_comment) == (4, "<script>alert(1)</script>")
    assert ConversationEvent.objects.filter(kind=ConversationEvent.Kind.RATED).count() == 1
    again = client.post(link, {"rating": "1"})
    assert again.status_code == 200
    conversation.refresh_from_db()
    assert conversation.rating == 4


def test_tampered_expired_and_foreign_links(client, acme, bob, other, queued, monkeypatch):
    conversation = resolved(acme, bob)
    token = survey.survey_token(conversation)
    assert client.get(f"/widget/rate/{token[:-2]}xx/").status_code == 400
    forged = signing.dumps({"m": acme.pk, "c": conversation.pk, "v": 1}, salt="other")
    assert client.get(f"/widget/rate/{forged}/").status_code == 400
    # Our signature, but the ids do not belong together: nothing found.
    mixed = signing.dumps(
        {"m": other.pk, "c": conversation.pk, "v": conversation.visitor_id},
        salt=survey.SALT,
        compress=True,
    )
    assert client.post(f"/widget/rate/{mixed}/", {"rating": "5"}).status_code == 404
    monkeypatch.setattr(survey, "LINK_MAX_AGE", -1)
    assert client.post(f"/widget/rate/{token}/", {"rating": "5"}).status_code == 410
    conversation.refresh_from_db()
    assert conversation.rating is None


@pytest.mark.parametrize(
    ("browser", "subject", "line"),
    [
        ("en-US", "How did Acme do?", "How did we do?"),
        ("zh-CN", "您对Acme的服务满意吗？", "链接"),
        ("", "您对Acme的服务满意吗？", "链接"),  # unknown: the site language (zh-hans here)
    ],
)
def test_the_survey_is_in_the_visitors_language(
    acme, bob, queued, settings, browser, subject, line
):
    """The widget speaks the browser's language (Visitor.language); so does its survey mail,
    whatever the server's default is."""
    settings.LANGUAGE_CODE = "zh-hans"
    conversation = resolved(acme, bob)
    conversation.visitor.language = browser
    conversation.visitor.save(update_fields=["language"])
    acme.name = "Acme"
    acme.save(update_fields=["name"])
    assert survey.survey_email_send(merchant_id=acme.pk, conversation_id=conversation.pk)
    sent = mail.outbox[-1]
    assert sent.subject == subject
    assert line in sent.body
    assert ("How did" in sent.body) == browser.startswith("en")


def test_an_english_visitor_gets_english_on_a_chinese_default_and_back(acme, bob, queued, settings):
    settings.LANGUAGE_CODE = "en"
    conversation = resolved(acme, bob)
    conversation.visitor.language = "zh-Hans-CN"
    conversation.visitor.save(update_fields=["language"])
    survey.survey_email_send(merchant_id=acme.pk, conversation_id=conversation.pk)
    assert "满意" in mail.outbox[-1].subject
