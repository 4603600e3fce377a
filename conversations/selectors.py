"""Reads. Every selector takes the merchant as a required keyword and returns rows of that
merchant only, with what the caller will touch already joined."""

from __future__ import annotations

from django.db.models import QuerySet

from kefu.errors import NotFound

from .models import CannedResponse, Conversation, Message, Visitor

HISTORY_PAGE = 200


def conversation_list(*, merchant_id: int, status: str | None = None) -> QuerySet[Conversation]:
    qs = Conversation.objects.filter(merchant_id=merchant_id).select_related("visitor")
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-last_message_at", "-id")


def conversation_get(*, merchant_id: int, conversation_id: int) -> Conversation:
    try:
        return Conversation.objects.select_related("visitor").get(
            merchant_id=merchant_id, pk=conversation_id
        )
    except (Conversation.DoesNotExist, ValueError, TypeError):
        raise NotFound("Conversation not found.") from None


def conversation_ids_existing(*, merchant_id: int, conversation_ids: list[int]) -> set[int]:
    """The subset of `conversation_ids` that belong to the merchant."""
    return set(
        Conversation.objects.filter(merchant_id=merchant_id, pk__in=conversation_ids)
        .values_list("id", flat=True)
    )


def conversation_current_for_visitor(*, merchant_id: int, visitor_id: int) -> Conversation | None:
    """The visitor's newest conversation that is not closed, with its visitor (one query)."""
    return (
        Conversation.objects.filter(merchant_id=merchant_id, visitor_id=visitor_id)
        .exclude(status=Conversation.Status.CLOSED)
        .select_related("visitor")
        .order_by("-id")
        .first()
    )


def message_list(
    *, merchant_id: int, conversation_id: int, include_private: bool = True
) -> QuerySet[Message]:
    qs = Message.objects.filter(merchant_id=merchant_id, conversation_id=conversation_id)
    if not include_private:
        qs = qs.filter(is_private=False)
    return qs.order_by("seq")


def message_history_after(
    *, merchant_id: int, conversation_id: int, after_seq: int, include_private: bool,
    limit: int = HISTORY_PAGE,
) -> tuple[list[Message], bool]:
    """Messages with seq > after_seq, oldest first, at most `limit`; and whether more follow."""
    rows = list(
        message_list(
            merchant_id=merchant_id, conversation_id=conversation_id,
            include_private=include_private,
        ).filter(seq__gt=after_seq)[: limit + 1]
    )
    return rows[:limit], len(rows) > limit


def visitor_list(*, merchant_id: int) -> QuerySet[Visitor]:
    return Visitor.objects.filter(merchant_id=merchant_id).order_by("-last_seen_at", "-id")


def visitor_get(*, merchant_id: int, visitor_id: int) -> Visitor:
    try:
        return Visitor.objects.get(merchant_id=merchant_id, pk=visitor_id)
    except (Visitor.DoesNotExist, ValueError, TypeError):
        raise NotFound("Visitor not found.") from None


def canned_response_list(*, merchant_id: int) -> QuerySet[CannedResponse]:
    return CannedResponse.objects.filter(merchant_id=merchant_id).order_by("shortcut")


def routing_event_list(*, merchant_id: int, conversation_id: int) -> QuerySet:
    """A conversation's routing decisions, oldest first (the `routing_timeline` index)."""
    from .models import RoutingEvent

    return RoutingEvent.objects.filter(
        merchant_id=merchant_id, conversation_id=conversation_id
    ).order_by("id")


# --- Availability (widget bootstrap, offline form) --------------------------------------------


def merchant_agents_online(*, merchant_id: int) -> bool:
    """Whether any agent of the merchant is online and not away, whatever their load (a full
    agent still answers from the queue). One query plus one presence round trip."""
    from merchants.models import Membership

    from . import presence

    user_ids = list(
        Membership.objects.filter(
            merchant_id=merchant_id, is_active=True, is_away=False, user__is_active=True
        ).values_list("user_id", flat=True)
    )
    if not user_ids:
        return False
    return any(presence.agents_connected_sync(merchant_id, user_ids).values())


def merchant_availability(*, merchant) -> dict:
    """What the widget tells a visitor before they write: within business hours, anybody online,
    whether to offer the leave-a-message form, when the merchant opens next, and the teams to
    choose from. Shape of the bootstrap's `availability`."""
    from merchants import hours
    from merchants.models import Team

    is_open = hours.is_open(merchant)
    agents_online = merchant_agents_online(merchant_id=merchant.pk)
    opening = None if is_open else hours.next_opening(merchant)
    teams = Team.objects.filter(merchant=merchant, is_active=True).order_by("name", "id")
    return {
        "open": is_open,
        "agents_online": agents_online,
        "offline_form": merchant.offline_form_enabled and not (is_open and agents_online),
        "next_opening": opening.isoformat() if opening else None,
        "teams": [{"id": t.pk, "name": t.name} for t in teams.only("id", "name")],
    }
