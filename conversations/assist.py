"""Agent assist: while an agent reads a conversation, the workspace asks for the knowledge base's
best answers to the visitor's last message and offers them for insertion into the reply.

GET /api/v1/conversations/{id}/suggestions/ (session + X-Kefu-Merchant, or an API token, like
the rest of /api/v1/). The same engine and confidence as the bot; nothing is written."""

from __future__ import annotations

from django.db.models import Q
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers
from rest_framework.response import Response

from knowledge import selectors as kb_selectors
from knowledge.models import Faq
from knowledge.richtext import html_to_text
from merchants.permissions import request_merchant_id

from . import selectors as conversation_selectors
from .models import Message

# Suggestions returned, best first, and the least confidence worth showing an agent (lower than
# the bot's own bar: a person judges before anything is sent).
SUGGESTIONS = 3
MIN_CONFIDENCE = 0.2


class SuggestionSerializer(serializers.Serializer):
    faq_id = serializers.IntegerField()
    question = serializers.CharField()
    answer = serializers.CharField(help_text="The FAQ answer as stored (sanitised rich text).")
    answer_text = serializers.CharField(help_text="The answer as plain text, for the composer.")
    confidence = serializers.FloatField(help_text="0..1, the bot's estimate that it is right.")


def suggestions_for(*, merchant_id: int, conversation_id: int) -> list[dict]:
    """Best FAQ answers for the conversation's last visitor message; [] before the first
    training or the first visitor message. NotFound for another merchant's conversation."""
    conversation = conversation_selectors.conversation_get(
        merchant_id=merchant_id, conversation_id=conversation_id
    )
    text = (
        Message.objects.filter(conversation=conversation, sender_kind=Message.SenderKind.VISITOR)
        .order_by("-seq")
        .values_list("body", flat=True)
        .first()
    )
    engine = kb_selectors.engine_for(merchant_id=merchant_id) if text else None
    if engine is None:
        return []
    ranked = [
        c
        for c in engine.answer(text, k=SUGGESTIONS * 2)
        if c.kind == "faq" and c.confidence >= MIN_CONFIDENCE
    ]
    if not ranked:
        return []
    now = timezone.now()
    # Only entries still answerable: the model may predate a disable or an expiry.
    faqs = (
        Faq.objects.filter(
            Q(valid_from__isnull=True) | Q(valid_from__lte=now),
            Q(valid_until__isnull=True) | Q(valid_until__gt=now),
            merchant_id=merchant_id,
            is_enabled=True,
            pk__in=[c.id for c in ranked],
        )
        .only("id", "question", "answer")
        .in_bulk()
    )
    out = []
    for c in ranked:
        faq = faqs.get(c.id)
        if faq is not None:
            out.append(
                {
                    "faq_id": faq.pk,
                    "question": faq.question,
                    "answer": faq.answer,
                    "answer_text": html_to_text(faq.answer),
                    "confidence": round(c.confidence, 3),
                }
            )
    return out[:SUGGESTIONS]


@extend_schema(
    tags=["conversations"],
    summary="Suggested knowledge-base answers for the last visitor message",
    responses={
        200: SuggestionSerializer(many=True),
        404: OpenApiResponse(description="No such conversation for this merchant."),
    },
)
class ConversationSuggestions(generics.GenericAPIView):
    serializer_class = SuggestionSerializer
    pagination_class = None

    def get(self, request, pk: int):
        items = suggestions_for(merchant_id=request_merchant_id(request), conversation_id=pk)
        return Response(SuggestionSerializer(items, many=True).data)
