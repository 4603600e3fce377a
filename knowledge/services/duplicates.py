"""Duplicate FAQ entries (the duplicate-entries page): merge one entry into another, or
mark a pair as not duplicates."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from kefu.errors import NotFound

from ..models import Faq, FaqDuplicateDismissal, UnansweredQuestion
from ..textutil import split_lines
from ..training import kb_changed
from .common import MAX_LINES, reply_key, scoped_row


def _faq_pair(merchant_id: int, first, second) -> tuple[Faq, Faq]:
    """Two different entries of this merchant, locked in id order (two admins merging the same
    pair cannot deadlock); NotFound for a foreign, missing or repeated id."""
    ids = (first, second)
    if first == second or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise NotFound()
    rows = {pk: scoped_row(Faq, merchant_id, pk) for pk in sorted(ids)}
    return rows[first], rows[second]


@transaction.atomic
def faq_merge(*, merchant_id: int, keep_id: int, merge_id: int) -> Faq:
    """Merge entry `merge_id` into `keep_id` (the duplicate-entries page): the merged entry's
    standard and similar questions become similar questions of the kept one (once each, within
    MAX_LINES) and the merged entry is disabled, not deleted, so its answer stays readable and
    can be re-enabled. One KB change: the retrained model answers those wordings with the kept
    entry, and calibration now holds them out as labelled similar questions."""
    keep, merged = _faq_pair(merchant_id, keep_id, merge_id)
    have = split_lines(keep.similar_questions) or []
    seen = {reply_key(q) for q in [keep.question, *have]}
    added = []
    for q in [merged.question, *(split_lines(merged.similar_questions) or [])]:
        if reply_key(q) not in seen:
            seen.add(reply_key(q))
            added.append(q)
    added = added[: max(MAX_LINES - len(have), 0)]
    now = timezone.now()
    if added:
        keep.similar_questions = "\n".join([*have, *added])
        keep.save(update_fields=["similar_questions", "updated_at"])
    if merged.is_enabled:
        merged.is_enabled = False
        merged.updated_at = now
        merged.save(update_fields=["is_enabled", "updated_at"])
    # Open knowledge gaps suggested for the merged entry now point at the kept one.
    UnansweredQuestion.objects.filter(
        merchant_id=merchant_id, suggested_faq_id=merged.pk, resolved_faq=None
    ).update(suggested_faq_id=keep.pk)
    kb_changed(merchant_id=merchant_id)
    return keep


@transaction.atomic
def faq_duplicate_dismiss(*, merchant_id: int, faq_ids) -> FaqDuplicateDismissal:
    """Mark two entries "not duplicates": the pair is not suggested again. Not a KB change."""
    first, second = faq_ids
    a, b = _faq_pair(merchant_id, first, second)
    low, high = sorted((a.pk, b.pk))
    row, _created = FaqDuplicateDismissal.objects.get_or_create(
        faq_low_id=low, faq_high_id=high, defaults={"merchant_id": merchant_id}
    )
    return row
