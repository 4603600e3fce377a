import pytest
from django.contrib.auth import get_user_model

from tests import factories


@pytest.fixture
def root(db):
    """The platform operator."""
    return get_user_model().objects.create_superuser("root", "root@example.com", "pw-root")


@pytest.fixture
def acme_data(acme, alice, bob):
    """A visitor with a conversation of two messages, a canned response and an API token."""
    visitor = factories.visitor(acme, name="张三", page_title="Acme shoes")
    first = factories.visitor_message(visitor, "我的订单在哪里？")
    factories.agent_message(bob, first.conversation_id, "马上帮您查")
    factories.canned(acme, "hello", "您好，请问有什么可以帮您？")
    factories.api_token(acme, "acme-crm")
    return {"visitor": visitor, "conversation": first.conversation}


@pytest.fixture
def other_data(other, charlie):
    visitor = factories.visitor(other, name="Outsider visitor", page_title="Other page")
    message = factories.visitor_message(visitor, "other merchant secret")
    factories.canned(other, "other", "Other text")
    factories.api_token(other, "other-crm")
    return {"visitor": visitor, "conversation": message.conversation, "message": message}
