"""Categories and FAQ entries: validation, create, update, delete, enabling in bulk, and the
answer count the bot keeps (not a KB change)."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from ..models import Category, Faq
from ..richtext import sanitize_html
from ..textutil import split_list
from ..training import kb_changed
from .common import (
    check_unique,
    clean_bool,
    clean_datetime,
    clean_lines,
    clean_text,
    invalid,
    row_update,
    scoped_row,
)

# --- Categories ---------------------------------------------------------------------------------

CATEGORY_FIELDS = ("name", "sort_order")


def category_clean(
    *, merchant_id: int, values: dict, pk: int | None = None, db: bool = True
) -> dict:
    name = clean_text(values.get("name"), "name", 100, required=True)
    check_unique(
        Category.objects.filter(merchant_id=merchant_id, name=name),
        pk,
        "name",
        _("A category with this name already exists."),
        db=db,
    )
    sort_order = values.get("sort_order", 0)
    if (
        not isinstance(sort_order, int)
        or isinstance(sort_order, bool)
        or abs(sort_order) > 2**31 - 1
    ):
        raise invalid("sort_order", _("Must be a whole number."))
    return {"name": name, "sort_order": sort_order}


@transaction.atomic
def category_create(*, merchant_id: int, name: str, sort_order: int = 0) -> Category:
    values = category_clean(
        merchant_id=merchant_id, values={"name": name, "sort_order": sort_order}
    )
    category = Category.objects.create(merchant_id=merchant_id, **values)
    kb_changed(merchant_id=merchant_id)
    return category


@transaction.atomic
def category_update(*, merchant_id: int, category_id: int, **changes) -> Category:
    return row_update(
        Category,
        CATEGORY_FIELDS,
        category_clean,
        merchant_id=merchant_id,
        pk=category_id,
        changes=changes,
    )


@transaction.atomic
def category_delete(*, merchant_id: int, category_id: int) -> None:
    # Its FAQs stay, without a category (SET_NULL); the snapshot carries category names.
    scoped_row(Category, merchant_id, category_id).delete()
    kb_changed(merchant_id=merchant_id)


# --- FAQ ------------------------------------------------------------------------------------------

FAQ_FIELDS = (
    "category_id",
    "question",
    "similar_questions",
    "answer",
    "keywords",
    "is_enabled",
    "valid_from",
    "valid_until",
)


def faq_clean(*, merchant_id: int, values: dict, pk: int | None = None, db: bool = True) -> dict:
    question = clean_text(values.get("question"), "question", 500, required=True)
    check_unique(
        Faq.objects.filter(merchant_id=merchant_id, question=question),
        pk,
        "question",
        _("An FAQ entry with this question already exists."),
        db=db,
    )
    similar = [
        q
        for q in clean_lines(values.get("similar_questions"), "similar_questions", 500)
        if q != question
    ]
    keywords = split_list(values.get("keywords"))
    if keywords is None:
        raise invalid("keywords", _("Comma separated words, or a list of texts."))
    keywords_text = ", ".join(keywords)
    if len(keywords_text) > 500:
        raise invalid("keywords", _("At most %(n)d characters.") % {"n": 500})
    answer_raw = values.get("answer")
    if not isinstance(answer_raw, str) or not answer_raw.strip():
        raise invalid("answer", _("This field is required."))
    if len(answer_raw) > 20000:
        raise invalid("answer", _("At most %(n)d characters.") % {"n": 20000})
    answer = sanitize_html(answer_raw)
    if not answer:
        raise invalid("answer", _("Nothing is left of the answer after removing unsafe markup."))
    category_id = values.get("category_id")
    if (
        db
        and category_id is not None
        and not Category.objects.filter(merchant_id=merchant_id, pk=category_id).exists()
    ):
        raise invalid("category", _("Choose one of your categories."))
    valid_from = clean_datetime(values.get("valid_from"), "valid_from")
    valid_until = clean_datetime(values.get("valid_until"), "valid_until")
    if valid_from and valid_until and valid_until <= valid_from:
        raise invalid("valid_until", _("Must be later than “valid from”."))
    return {
        "category_id": category_id,
        "question": question,
        "similar_questions": "\n".join(similar),
        "answer": answer,
        "keywords": keywords_text,
        "is_enabled": clean_bool(values.get("is_enabled", True), "is_enabled"),
        "valid_from": valid_from,
        "valid_until": valid_until,
    }


@transaction.atomic
def faq_create(*, merchant_id: int, question: str, answer: str, **fields) -> Faq:
    unknown = set(fields) - set(FAQ_FIELDS)
    if unknown:
        raise TypeError(f"unknown fields: {sorted(unknown)}")
    values = faq_clean(
        merchant_id=merchant_id, values={**fields, "question": question, "answer": answer}
    )
    faq = Faq.objects.create(merchant_id=merchant_id, **values)
    kb_changed(merchant_id=merchant_id)
    return faq


@transaction.atomic
def faq_update(*, merchant_id: int, faq_id: int, **changes) -> Faq:
    return row_update(
        Faq, FAQ_FIELDS, faq_clean, merchant_id=merchant_id, pk=faq_id, changes=changes
    )


@transaction.atomic
def faq_delete(*, merchant_id: int, faq_id: int) -> None:
    scoped_row(Faq, merchant_id, faq_id).delete()
    kb_changed(merchant_id=merchant_id)


@transaction.atomic
def faq_set_enabled(*, merchant_id: int, faq_ids, enabled: bool) -> int:
    changed = (
        Faq.objects.filter(merchant_id=merchant_id, pk__in=list(faq_ids))
        .exclude(is_enabled=enabled)
        .update(is_enabled=enabled, updated_at=timezone.now())
    )
    if changed:
        kb_changed(merchant_id=merchant_id)
    return changed


def faq_hit(*, merchant_id: int, faq_id: int) -> None:
    """Count an answer given with this entry (the bot calls it). Not a KB change: no version
    bump, no retraining."""
    Faq.objects.filter(merchant_id=merchant_id, pk=faq_id).update(hits=F("hits") + 1)
