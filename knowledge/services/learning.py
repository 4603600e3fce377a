"""Learning from agents' answers: an agent's reply that is an FAQ entry's answer suggests that
entry for the conversation's knowledge gaps; an admin accepts the suggestions in one click."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from ..models import Faq, UnansweredQuestion
from ..textutil import split_lines
from .common import MAX_LINES, reply_key
from .faqs import faq_update

log = logging.getLogger(__name__)


SUGGEST_TASK = "knowledge.tasks.gap_suggest_task"
# A reply counts as an FAQ's answer when one holds the other and the shorter is at least this
# share of the longer ("您好，" + the answer + "。祝您购物愉快" still counts; a one-line reply
# that merely appears inside a long answer does not).
REPLY_MATCH_MIN_SHARE = 0.6
REPLY_MATCH_MIN_CHARS = 6


def faq_for_reply(*, merchant_id: int, text: str) -> Faq | None:
    """The merchant's FAQ entry whose answer the agent's reply is (typed, or sent as a quick reply
    holding the same text), or None. The closest in length wins when several fit."""
    from ..richtext import html_to_text

    reply = reply_key(text)
    if len(reply) < REPLY_MATCH_MIN_CHARS:
        return None
    best, best_share = None, 0.0
    rows = Faq.objects.filter(Faq.valid_at(timezone.now()), merchant_id=merchant_id)
    for pk, answer in rows.values_list("pk", "answer").iterator(chunk_size=500):
        key = reply_key(html_to_text(answer))
        if len(key) < REPLY_MATCH_MIN_CHARS:
            continue
        short, long = (reply, key) if len(reply) <= len(key) else (key, reply)
        share = len(short) / len(long)
        if share >= REPLY_MATCH_MIN_SHARE and short in long and share > best_share:
            best, best_share = pk, share
    return Faq.objects.filter(pk=best).first() if best else None


def gap_suggest_from_reply(*, merchant_id: int, conversation_id: int, text: str) -> int:
    """An agent replied in a conversation the bot handed over: when the reply is an FAQ entry's
    answer, that entry is suggested for the conversation's open knowledge gaps (the visitor's
    wording becomes a similar question once an admin accepts it). Returns how many."""
    gaps = UnansweredQuestion.objects.filter(
        merchant_id=merchant_id,
        conversation_id=conversation_id,
        dismissed=False,
        resolved_faq=None,
        suggested_faq=None,
    )
    if not gaps.exists():
        return 0
    faq = faq_for_reply(merchant_id=merchant_id, text=text)
    if faq is None:
        return 0
    return gaps.update(suggested_faq=faq)


def gap_suggest_schedule(*, merchant_id: int, conversation_id: int, text: str) -> None:
    """Queue gap_suggest_from_reply (called after the agent's reply commits): reading the
    merchant's FAQ answers is no work for the socket process."""
    from celery import current_app

    try:
        current_app.tasks[SUGGEST_TASK].apply_async(
            kwargs={"merchant_id": merchant_id, "conversation_id": conversation_id, "text": text}
        )
    except Exception:
        # A lost suggestion costs nothing but a missed hint; never fail the agent's reply.
        log.exception("could not queue the FAQ suggestion for conversation %s", conversation_id)


@transaction.atomic
def gap_accept_suggestions(*, merchant_id: int, question_ids) -> int:
    """One click in the knowledge-gap view: each question's wording is added to the similar
    questions of the FAQ entry suggested for it (once; retraining follows) and the question is
    resolved by that entry. Returns how many questions were accepted."""
    rows = list(
        UnansweredQuestion.objects.select_for_update()
        .filter(
            merchant_id=merchant_id,
            pk__in=list(question_ids),
            dismissed=False,
            resolved_faq=None,
            suggested_faq__merchant_id=merchant_id,
        )
        .order_by("pk")
    )
    by_faq: dict[int, list[UnansweredQuestion]] = {}
    for row in rows:
        by_faq.setdefault(row.suggested_faq_id, []).append(row)
    for faq_id, questions in by_faq.items():
        faq = Faq.objects.select_for_update().get(merchant_id=merchant_id, pk=faq_id)
        have = split_lines(faq.similar_questions) or []
        seen = {reply_key(q) for q in [faq.question, *have]}
        added = []
        for q in questions:
            if reply_key(q.text) not in seen:
                seen.add(reply_key(q.text))
                added.append(q.text)
        added = added[: max(MAX_LINES - len(have), 0)]
        if added:
            faq_update(
                merchant_id=merchant_id,
                faq_id=faq_id,
                similar_questions="\n".join([*have, *added]),
            )
        UnansweredQuestion.objects.filter(pk__in=[q.pk for q in questions]).update(
            resolved_faq_id=faq_id
        )
    return len(rows)
