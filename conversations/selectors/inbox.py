"""The inbox: a merchant's conversations, the views and their counts, message search, one
conversation (docs/desk.md, "Views and search"; docs/search.md)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Prefetch, Q, QuerySet

from kefu.errors import NotFound

from .. import search
from ..models import Conversation, Label, Message, Visitor
from .queue import ACTIVE

# A conversation's labels as ids only (ConversationOut.label_ids).
LABEL_IDS = Prefetch("labels", queryset=Label.objects.only("id"))


def conversation_list(
    *,
    merchant_id: int,
    status: str | None = None,
    view: str | None = None,
    user_id: int | None = None,
    team_id: int | None = None,
    terms: list[str] | None = None,
    label_id: int | None = None,
) -> QuerySet[Conversation]:
    """The inbox: a view (INBOX_VIEWS), a team, search terms (search.parse_query), each
    optional and combined. Filters live in inbox_filter so a new one (a label) is one line
    there and one field in serializers.ConversationFilterSerializer."""
    # Labels prefetched: one query for the whole page (ConversationOut.label_ids). `label_id`
    # must be one of the merchant's labels (services.labels_resolve checks it).
    qs = (
        Conversation.objects.filter(merchant_id=merchant_id)
        .select_related("visitor")
        .prefetch_related(LABEL_IDS)
    )
    qs = inbox_filter(
        qs,
        merchant_id=merchant_id,
        status=status,
        view=view,
        user_id=user_id,
        team_id=team_id,
        label_id=label_id,
    )
    if terms:
        qs = qs.filter(conversation_search_q(merchant_id=merchant_id, terms=terms))
    return qs.order_by("-last_message_at", "-id")


# --- Inbox views, counts and search (docs/desk.md, "Views and search") -------------------------

# Open and not snoozed: what an agent works on now.
_AWAKE = Q(status__in=("open", "pending"), snoozed_at__isnull=True)
# view -> the conversations it shows; "mine" also needs the agent (user_id).
INBOX_VIEWS = {
    "mine": lambda user_id: _AWAKE & Q(assignee_id=user_id),
    "unassigned": lambda user_id: _AWAKE & Q(assignee__isnull=True, queued_at__isnull=True),
    "queued": lambda user_id: _AWAKE & Q(assignee__isnull=True, queued_at__isnull=False),
    "open": lambda user_id: _AWAKE,
    "snoozed": lambda user_id: Q(status__in=("open", "pending"), snoozed_at__isnull=False),
    "resolved": lambda user_id: Q(status__in=("resolved", "closed")),
}


def inbox_filter(
    qs: QuerySet[Conversation],
    *,
    merchant_id: int,
    status: str | None = None,
    view: str | None = None,
    user_id: int | None = None,
    team_id: int | None = None,
    label_id: int | None = None,
) -> QuerySet[Conversation]:
    """Narrow conversations of `merchant_id` (qs is already scoped to it) by the inbox
    filters. A team of another merchant matches nothing: team ids are compared on rows of this
    merchant only."""
    if status:
        qs = qs.filter(status=status)
    if view:
        qs = qs.filter(INBOX_VIEWS[view](user_id))
    if team_id is not None:
        qs = qs.filter(team_id=team_id)
    if label_id is not None:
        qs = qs.filter(labels=label_id)
    return qs


def inbox_counts(*, merchant_id: int, user_id: int | None) -> dict:
    """How many conversations each view holds, and the open ones per team and per label: three
    queries. (The "resolved" count is left out: it only grows, and counting it scans the
    merchant's whole history.)"""
    counted = {
        name: Count("id", filter=make(user_id))
        for name, make in INBOX_VIEWS.items()
        if name != "resolved" and (name != "mine" or user_id is not None)
    }
    base = Conversation.objects.filter(merchant_id=merchant_id, status__in=ACTIVE)
    totals = base.aggregate(**counted)
    teams = dict(
        base.filter(snoozed_at__isnull=True, team__isnull=False)
        .values("team_id")
        .annotate(n=Count("id"))
        .values_list("team_id", "n")
    )
    # The open ones per label (the workspace's label views, views.js): one more query.
    labels = dict(
        base.filter(snoozed_at__isnull=True, labels__isnull=False)
        .values("labels")
        .annotate(n=Count("id"))
        .values_list("labels", "n")
    )
    return {
        **totals,
        "teams": {str(k): v for k, v in teams.items()},
        "labels": {str(k): v for k, v in labels.items()},
    }


def conversation_search_q(*, merchant_id: int, terms: list[str]) -> Q:
    """Conversations whose visitor's name, email, phone or identity id holds every term, or
    that hold a message with every term (among the newest search.CONVERSATION_HITS such
    visitors and messages). Reads the visitors and the message hits (search.message_ids)."""
    who = Q()
    for term in terms:
        who &= (
            Q(name__icontains=term)
            | Q(email__icontains=term)
            | Q(phone__icontains=term)
            | Q(external_id__icontains=term)
        )
    # Read first, not as a subquery: inside an OR it would be evaluated for every row.
    visitors = list(
        Visitor.objects.filter(who, merchant_id=merchant_id)
        .order_by("-pk")
        .values_list("pk", flat=True)[: search.CONVERSATION_HITS]
    )
    hits = search.message_ids(
        merchant_id=merchant_id, terms=terms, before_id=None, limit=search.CONVERSATION_HITS
    )
    return Q(visitor_id__in=visitors) | Q(
        pk__in=Message.objects.filter(merchant_id=merchant_id, pk__in=hits.ids).values(
            "conversation_id"
        )
    )


@dataclass
class MessageHit:
    message: Message
    highlights: list[tuple[int, int]]


def message_search(
    *, merchant_id: int, terms: list[str], before_id: int | None, limit: int
) -> tuple[list[MessageHit], int | None]:
    """The merchant's messages holding every term, newest first, with the ranges to mark; and
    the `before_id` of the next page (None: no more). Queries: the newest messages, the index
    when those neither fill the page nor are the whole history, then the page of messages with
    their conversation and visitor."""
    hits = search.message_ids(
        merchant_id=merchant_id, terms=terms, before_id=before_id, limit=limit
    )
    rows = {
        m.pk: m
        for m in Message.objects.filter(merchant_id=merchant_id, pk__in=hits.ids).select_related(
            "conversation__visitor"
        )
    }
    found = []
    for pk in hits.ids:
        message = rows.get(pk)
        # The index row may be stale (Mroonga keeps rolled-back rows): the body decides.
        if message is not None and search.matches(message.body, terms):
            found.append(MessageHit(message, search.highlights(message.body, terms)))
    return found, hits.ids[-1] if hits.more and hits.ids else None


def conversation_get(
    *, merchant_id: int, conversation_id: int, with_labels: bool = False
) -> Conversation:
    qs = Conversation.objects.select_related("visitor")
    if with_labels:
        qs = qs.prefetch_related(LABEL_IDS)
    try:
        return qs.get(merchant_id=merchant_id, pk=conversation_id)
    except (Conversation.DoesNotExist, ValueError, TypeError):
        raise NotFound("Conversation not found.") from None


def conversation_ids_existing(*, merchant_id: int, conversation_ids: list[int]) -> set[int]:
    """The subset of `conversation_ids` that belong to the merchant."""
    return set(
        Conversation.objects.filter(merchant_id=merchant_id, pk__in=conversation_ids).values_list(
            "id", flat=True
        )
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
