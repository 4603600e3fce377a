"""The visitor's satisfaction rating of a resolved conversation (the widget's `conversation.rate`
frame and the e-mailed survey link both end here).

One rating per resolution: rating twice gets `already_rated`; a conversation that is reopened
and resolved again may be rated again, and the newest rating is the conversation's (each one is
its own `conversation.rated` event, so reports can still count them all). docs/widget.md.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from kefu.errors import KefuError
from kefu.text import surrogate_in
from merchants.models import Merchant

from .. import events, protocol, realtime, selectors, timeline
from ..models import Conversation
from .store import conversation_lock

COMMENT_MAX_LENGTH = 1000
# A three-step survey (满意 / 一般 / 不满意) is stored on the 1-5 scale.
THREE_STEP_VALUES = (5, 3, 1)


def rating_values(scale: str) -> tuple[int, ...]:
    """The ratings a merchant's scale allows (none when it is off)."""
    if scale == Merchant.RatingScale.STARS:
        return (1, 2, 3, 4, 5)
    if scale == Merchant.RatingScale.THREE:
        return THREE_STEP_VALUES
    return ()


@realtime.publishing
def conversation_rate(
    *, merchant_id: int, visitor_id: int, conversation_id: int, rating, comment: str = ""
) -> Conversation:
    """Store the visitor's rating and comment, record `conversation.rated` in the same
    transaction; agents get `conversation.updated` and the visitor's tabs `conversation.state`
    after the commit. Refusals change nothing."""
    scale = Merchant.objects.filter(pk=merchant_id).values_list("rating_scale", flat=True).first()
    allowed = rating_values(scale or Merchant.RatingScale.OFF)
    if not allowed:
        raise KefuError(protocol.ErrorCode.RATING_OFF, "This merchant does not ask for ratings.")
    if isinstance(rating, bool) or not isinstance(rating, int) or rating not in allowed:
        raise KefuError(
            protocol.ErrorCode.INVALID_FRAME,
            "The rating is not one of " + ", ".join(map(str, allowed)) + ".",
            field="rating",
        )
    if not isinstance(comment, str):
        raise KefuError(
            protocol.ErrorCode.INVALID_FRAME, "The comment must be text.", field="comment"
        )
    comment = comment.strip()
    if len(comment) > COMMENT_MAX_LENGTH:
        raise KefuError(
            protocol.ErrorCode.INVALID_FRAME,
            f"The comment is longer than {COMMENT_MAX_LENGTH} characters.",
            field="comment",
        )
    if surrogate_in(comment):
        raise KefuError(
            protocol.ErrorCode.INVALID_FRAME, "The comment is not valid text.", field="comment"
        )
    with transaction.atomic():
        conversation = conversation_lock(merchant_id=merchant_id, conversation_id=conversation_id)
        if conversation.visitor_id != visitor_id:
            # Another visitor's conversation does not exist, as far as this one can tell.
            raise KefuError(protocol.ErrorCode.NOT_FOUND, "Conversation not found.")
        if conversation.status != Conversation.Status.RESOLVED:
            raise KefuError(
                protocol.ErrorCode.NOT_RESOLVED, "Only a resolved conversation can be rated."
            )
        if conversation.rated_since_resolved:
            raise KefuError(
                protocol.ErrorCode.ALREADY_RATED, "You have already rated this conversation."
            )
        conversation.rating = rating
        conversation.rating_comment = comment
        conversation.rated_at = timezone.now()
        conversation.save(update_fields=["rating", "rating_comment", "rated_at"])
        events.record_event(
            events.Kind.RATED,
            merchant_id=merchant_id,
            conversation=conversation,
            # Figures only, never the visitor's text (docs/architecture.md, "Domain events").
            data={
                "rating": rating,
                "scale": scale,
                "has_comment": bool(comment),
                "agent_id": conversation.assignee_id,
            },
            at=conversation.rated_at,
        )
        timeline.conversation_changed(conversation, queue_moved=False)
        timeline.visitor_state_publish(conversation)
    return conversation


def conversation_rate_current(
    *, merchant_id: int, visitor_id: int, rating, comment: str = ""
) -> Conversation:
    """The widget's path: rate the visitor's current (newest, not closed) conversation."""
    conversation = selectors.conversation_current_for_visitor(
        merchant_id=merchant_id, visitor_id=visitor_id
    )
    if conversation is None:
        raise KefuError(protocol.ErrorCode.NOT_FOUND, "There is no conversation to rate.")
    return conversation_rate(
        merchant_id=merchant_id,
        visitor_id=visitor_id,
        conversation_id=conversation.pk,
        rating=rating,
        comment=comment,
    )
