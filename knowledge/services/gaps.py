"""The knowledge-gap log: questions the bot could not answer, dismissed or resolved by an FAQ
entry."""

from __future__ import annotations

from kefu.errors import NotFound

from ..models import Faq, UnansweredQuestion


def unanswered_question_record(
    *, merchant_id: int, text: str, confidence: float, conversation_id: int | None = None
) -> UnansweredQuestion | None:
    """Log a question the bot could not answer (the knowledge-gap report reads these)."""
    text = " ".join((text or "").split())[:500]
    if not text:
        return None
    return UnansweredQuestion.objects.create(
        merchant_id=merchant_id,
        conversation_id=conversation_id,
        text=text,
        confidence=max(0.0, min(1.0, float(confidence))),
    )


def gap_dismiss(*, merchant_id: int, question_ids) -> int:
    return UnansweredQuestion.objects.filter(
        merchant_id=merchant_id, pk__in=list(question_ids), dismissed=False, resolved_faq=None
    ).update(dismissed=True)


def gap_resolve(*, merchant_id: int, question_ids, faq_id: int) -> int:
    """Mark questions as answered by an FAQ entry (created from their group)."""
    if not Faq.objects.filter(merchant_id=merchant_id, pk=faq_id).exists():
        raise NotFound()
    return UnansweredQuestion.objects.filter(
        merchant_id=merchant_id, pk__in=list(question_ids), resolved_faq=None
    ).update(resolved_faq_id=faq_id)
