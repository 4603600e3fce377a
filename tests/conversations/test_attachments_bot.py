"""A screenshot or a document without words, sent to the bot: the bot cannot read it, so it
hands the conversation to a person at once instead of answering an empty question."""

import pytest

from conversations import services
from conversations.models import Conversation, Message, RoutingEvent
from tests import factories
from tests.conversations.attachment_helpers import (
    attachment_storage,  # noqa: F401 (autouse fixture)
    png,
    upload,
)
from tests.conversations.bot_kb import fresh_engine_cache, fresh_realtime  # noqa: F401 (autouse)

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_image_without_words_goes_to_a_person(shop, bob):
    visitor = factories.visitor(shop, name="访客")
    attachment, _ = services.attachment_upload(
        merchant_id=shop.pk,
        uploader_key=f"visitor:{visitor.pk}",
        upload_id="shot",
        upload=upload(png(), "报错截图.png"),
        visitor_id=visitor.pk,
    )

    message, _ = services.message_send_by_visitor(
        merchant_id=shop.pk,
        visitor_id=visitor.pk,
        client_msg_id="c1",
        body="",
        attachment_id=attachment.pk,
    )

    conversation = Conversation.objects.get(pk=message.conversation_id)
    event = RoutingEvent.objects.get(conversation=conversation, kind=RoutingEvent.Kind.HANDOVER)
    assert "file" in event.reason or "文件" in event.reason
    assert not conversation.bot_active
    # The bot only says it is fetching a person; it did not try to answer an empty question.
    said = list(Message.objects.filter(conversation=conversation, sender_kind="bot"))
    assert len(said) == 1 and "confidence" not in said[0].meta, [m.body for m in said]
