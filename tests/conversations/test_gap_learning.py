"""An agent's reply in a conversation the bot handed over queues the "learn from agents" check
(knowledge.services.gap_suggest_from_reply) after the commit; other replies do not."""

import pytest
from django.utils import timezone

from conversations.models import Conversation
from knowledge import services as kb_services
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def queued(monkeypatch):
    calls = []
    monkeypatch.setattr(kb_services, "gap_suggest_schedule", lambda **kw: calls.append(kw))
    return calls


def test_a_reply_after_the_hand_over_is_checked(acme, bob, queued):
    message = factories.visitor_message(factories.visitor(acme), "钱怎么要回来")
    conversation_id = message.conversation_id
    factories.agent_message(bob, conversation_id, "before the hand-over: not checked")
    assert queued == []
    Conversation.objects.filter(pk=conversation_id).update(handed_over_at=timezone.now())
    factories.agent_message(bob, conversation_id, "内部备注", private=True)
    assert queued == []
    factories.agent_message(bob, conversation_id, "请在订单页申请退款")
    assert queued == [
        {"merchant_id": acme.pk, "conversation_id": conversation_id, "text": "请在订单页申请退款"}
    ]
