"""Writes to the knowledge base's entries: categories, FAQ entries, intents, synonyms and
dictionary words, the knowledge-gap log and answer counts.

Every write is scoped by merchant, validated here (the admin, the API and the importer show
these errors as field errors), and bumps the KB version in the same transaction
(knowledge.training.kb_changed), which schedules the retraining; answering never trains.
Training and the model lifecycle: knowledge.training; bulk import/export: knowledge.importers.
"""

from __future__ import annotations

import datetime
import logging
import re

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from kefu.errors import KefuError, NotFound

from ..models import (
    Category,
    DictionaryWord,
    Faq,
    FaqDuplicateDismissal,
    Intent,
    Synonym,
    UnansweredQuestion,
)
from ..richtext import sanitize_html
from ..textutil import split_lines, split_list
from ..training import kb_changed

log = logging.getLogger(__name__)

MAX_LINES = 500  # similar questions, synonyms per row
MAX_EXAMPLES = 5000  # example phrases per intent (public datasets have a few hundred)
MAX_SLOTS = 10
SLOT_KEYS = {"name", "prompt", "pattern", "reprompt"}
SLOT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,49}$")
# A group containing + * or {n,} followed by + * or {n,}: the classic catastrophic backtracking.
NESTED_QUANTIFIER = re.compile(
    r"\((?:[^()\\]|\\.)*(?:[+*]|\{\d*,\d*\})(?:[^()\\]|\\.)*\)(?:[+*]|\{\d*,\d*\})"
)


# --- Field cleaning -----------------------------------------------------------------------------


def _invalid(field: str, message: str) -> KefuError:
    return KefuError("invalid", message, field=field)


def _text(value, field: str, max_length: int, *, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise _invalid(field, _("Must be text."))
    value = value.strip()
    if required and not value:
        raise _invalid(field, _("This field is required."))
    if len(value) > max_length:
        raise _invalid(
            field,
            _("At most %(n)d characters (it has %(m)d).") % {"n": max_length, "m": len(value)},
        )
    return value


def _lines(
    value, field: str, item_max: int, *, required: bool = False, max_lines: int = MAX_LINES
) -> list[str]:
    items = split_lines(value)
    if items is None:
        raise _invalid(field, _("One per line, or a list of texts."))
    if required and not items:
        raise _invalid(field, _("Give at least one."))
    if len(items) > max_lines:
        raise _invalid(field, _("At most %(n)d lines.") % {"n": max_lines})
    for item in items:
        if len(item) > item_max:
            raise _invalid(field, _("Each line at most %(n)d characters.") % {"n": item_max})
    return items


def _bool(value, field: str) -> bool:
    if isinstance(value, bool):
        return value
    raise _invalid(field, _("Must be true or false."))


def _datetime(value, field: str) -> datetime.datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime.datetime):
        raise _invalid(field, _("Must be a date and time."))
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    return value


def _unique(queryset, exclude_pk, field: str, message: str, db: bool = True) -> None:
    """The name is free in this merchant. Importers pass db=False: they match a file's rows to
    existing ones by this key (update instead of error) and check repeats within the file."""
    if not db:
        return
    if exclude_pk is not None:
        queryset = queryset.exclude(pk=exclude_pk)
    if queryset.exists():
        raise _invalid(field, message)


def slots_clean(value) -> list[dict]:
    """Slots an intent asks for: [{"name", "prompt", "pattern"?, "reprompt"?}]. `pattern` is a
    Python regular expression the answer must match (checked with re.fullmatch by the bot)."""
    if value in (None, ""):
        return []
    if not isinstance(value, list):
        raise _invalid("slots", _("A list of slots."))
    if len(value) > MAX_SLOTS:
        raise _invalid("slots", _("At most %(n)d slots.") % {"n": MAX_SLOTS})
    cleaned, names = [], set()
    for number, slot in enumerate(value, 1):

        def bad(message, number=number):
            return _invalid(
                "slots", _("Slot %(n)d: %(message)s") % {"n": number, "message": message}
            )

        if not isinstance(slot, dict):
            raise bad(_("must be an object with name and prompt."))
        unknown = set(slot) - SLOT_KEYS
        if unknown:
            raise bad(_("unknown keys: %(keys)s.") % {"keys": ", ".join(sorted(map(str, unknown)))})
        name = slot.get("name")
        if not isinstance(name, str) or not SLOT_NAME.match(name):
            raise bad(_("name must be letters, digits or _ (not starting with a digit)."))
        if name in names:
            raise bad(_("the name %(name)s is used twice.") % {"name": name})
        names.add(name)
        out = {"name": name}
        for key, limit in (("prompt", 500), ("pattern", 300), ("reprompt", 500)):
            text = slot.get(key)
            if text is None or text == "":
                if key == "prompt":
                    raise bad(_("prompt is required."))
                continue
            if not isinstance(text, str) or len(text) > limit:
                raise bad(
                    _("%(key)s must be text of at most %(n)d characters.")
                    % {"key": key, "n": limit}
                )
            out[key] = text.strip()
        if "pattern" in out:
            try:
                re.compile(out["pattern"])
            except re.error as exc:
                raise bad(
                    _("pattern is not a valid regular expression: %(error)s") % {"error": exc}
                ) from None
            # The bot matches visitor text against it and Python's re has no timeout: refuse a
            # repeated group that itself repeats, e.g. (a+)+, which can take exponential time.
            if NESTED_QUANTIFIER.search(out["pattern"]):
                raise bad(
                    _(
                        "pattern repeats a group that repeats itself (like (a+)+); "
                        "it could take very long to match."
                    )
                )
        cleaned.append(out)
    return cleaned


def _scoped(model, merchant_id: int, pk, *, lock: bool = True):
    if not isinstance(pk, int) or isinstance(pk, bool):
        raise NotFound()
    qs = model.objects.filter(merchant_id=merchant_id, pk=pk)
    obj = (qs.select_for_update() if lock else qs).first()
    if obj is None:
        raise NotFound()
    return obj


# --- Categories ---------------------------------------------------------------------------------

CATEGORY_FIELDS = ("name", "sort_order")


def category_clean(
    *, merchant_id: int, values: dict, pk: int | None = None, db: bool = True
) -> dict:
    name = _text(values.get("name"), "name", 100, required=True)
    _unique(
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
        raise _invalid("sort_order", _("Must be a whole number."))
    return {"name": name, "sort_order": sort_order}


@transaction.atomic
def category_create(*, merchant_id: int, name: str, sort_order: int = 0) -> Category:
    values = category_clean(
        merchant_id=merchant_id, values={"name": name, "sort_order": sort_order}
    )
    category = Category.objects.create(merchant_id=merchant_id, **values)
    kb_changed(merchant_id=merchant_id)
    return category


def _update(model, fields, clean, *, merchant_id: int, pk: int, changes: dict):
    unknown = set(changes) - set(fields)
    if unknown:
        raise TypeError(f"unknown fields: {sorted(unknown)}")
    obj = _scoped(model, merchant_id, pk)
    merged = {name: getattr(obj, name) for name in fields} | changes
    values = clean(merchant_id=merchant_id, values=merged, pk=obj.pk)
    for name, value in values.items():
        setattr(obj, name, value)
    # Only the edited fields: a concurrent F() update of `hits` must not be overwritten.
    fields = list(values) + (["updated_at"] if hasattr(obj, "updated_at") else [])
    obj.save(update_fields=fields)
    kb_changed(merchant_id=merchant_id)
    return obj


@transaction.atomic
def category_update(*, merchant_id: int, category_id: int, **changes) -> Category:
    return _update(
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
    _scoped(Category, merchant_id, category_id).delete()
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
    question = _text(values.get("question"), "question", 500, required=True)
    _unique(
        Faq.objects.filter(merchant_id=merchant_id, question=question),
        pk,
        "question",
        _("An FAQ entry with this question already exists."),
        db=db,
    )
    similar = [
        q
        for q in _lines(values.get("similar_questions"), "similar_questions", 500)
        if q != question
    ]
    keywords = split_list(values.get("keywords"))
    if keywords is None:
        raise _invalid("keywords", _("Comma separated words, or a list of texts."))
    keywords_text = ", ".join(keywords)
    if len(keywords_text) > 500:
        raise _invalid("keywords", _("At most %(n)d characters.") % {"n": 500})
    answer_raw = values.get("answer")
    if not isinstance(answer_raw, str) or not answer_raw.strip():
        raise _invalid("answer", _("This field is required."))
    if len(answer_raw) > 20000:
        raise _invalid("answer", _("At most %(n)d characters.") % {"n": 20000})
    answer = sanitize_html(answer_raw)
    if not answer:
        raise _invalid("answer", _("Nothing is left of the answer after removing unsafe markup."))
    category_id = values.get("category_id")
    if (
        db
        and category_id is not None
        and not Category.objects.filter(merchant_id=merchant_id, pk=category_id).exists()
    ):
        raise _invalid("category", _("Choose one of your categories."))
    valid_from = _datetime(values.get("valid_from"), "valid_from")
    valid_until = _datetime(values.get("valid_until"), "valid_until")
    if valid_from and valid_until and valid_until <= valid_from:
        raise _invalid("valid_until", _("Must be later than “valid from”."))
    return {
        "category_id": category_id,
        "question": question,
        "similar_questions": "\n".join(similar),
        "answer": answer,
        "keywords": keywords_text,
        "is_enabled": _bool(values.get("is_enabled", True), "is_enabled"),
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
    return _update(Faq, FAQ_FIELDS, faq_clean, merchant_id=merchant_id, pk=faq_id, changes=changes)


@transaction.atomic
def faq_delete(*, merchant_id: int, faq_id: int) -> None:
    _scoped(Faq, merchant_id, faq_id).delete()
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


# --- Duplicate entries ----------------------------------------------------------------------------


def _faq_pair(merchant_id: int, first, second) -> tuple[Faq, Faq]:
    """Two different entries of this merchant, locked in id order (two admins merging the same
    pair cannot deadlock); NotFound for a foreign, missing or repeated id."""
    ids = (first, second)
    if first == second or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise NotFound()
    rows = {pk: _scoped(Faq, merchant_id, pk) for pk in sorted(ids)}
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
    seen = {_reply_key(q) for q in [keep.question, *have]}
    added = []
    for q in [merged.question, *(split_lines(merged.similar_questions) or [])]:
        if _reply_key(q) not in seen:
            seen.add(_reply_key(q))
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


# --- Intents --------------------------------------------------------------------------------------

INTENT_FIELDS = ("name", "examples", "answer", "action", "slots", "is_enabled")


def intent_clean(*, merchant_id: int, values: dict, pk: int | None = None, db: bool = True) -> dict:
    name = _text(values.get("name"), "name", 100, required=True)
    _unique(
        Intent.objects.filter(merchant_id=merchant_id, name=name),
        pk,
        "name",
        _("An intent with this name already exists."),
        db=db,
    )
    examples = _lines(
        values.get("examples"), "examples", 500, required=True, max_lines=MAX_EXAMPLES
    )
    answer_raw = values.get("answer") or ""
    if not isinstance(answer_raw, str) or len(answer_raw) > 20000:
        raise _invalid("answer", _("At most %(n)d characters.") % {"n": 20000})
    action = values.get("action") or Intent.Action.ANSWER
    if action not in Intent.Action.values:
        raise _invalid(
            "action", _("One of: %(choices)s.") % {"choices": ", ".join(Intent.Action.values)}
        )
    return {
        "name": name,
        "examples": "\n".join(examples),
        "answer": sanitize_html(answer_raw),
        "action": action,
        "slots": slots_clean(values.get("slots")),
        "is_enabled": _bool(values.get("is_enabled", True), "is_enabled"),
    }


@transaction.atomic
def intent_create(*, merchant_id: int, name: str, examples, **fields) -> Intent:
    unknown = set(fields) - set(INTENT_FIELDS)
    if unknown:
        raise TypeError(f"unknown fields: {sorted(unknown)}")
    values = intent_clean(
        merchant_id=merchant_id, values={**fields, "name": name, "examples": examples}
    )
    intent = Intent.objects.create(merchant_id=merchant_id, **values)
    kb_changed(merchant_id=merchant_id)
    return intent


@transaction.atomic
def intent_update(*, merchant_id: int, intent_id: int, **changes) -> Intent:
    return _update(
        Intent, INTENT_FIELDS, intent_clean, merchant_id=merchant_id, pk=intent_id, changes=changes
    )


@transaction.atomic
def intent_delete(*, merchant_id: int, intent_id: int) -> None:
    _scoped(Intent, merchant_id, intent_id).delete()
    kb_changed(merchant_id=merchant_id)


# --- Synonyms and dictionary ----------------------------------------------------------------------

SYNONYM_FIELDS = ("word", "synonyms")
DICTIONARY_FIELDS = ("word", "frequency")


def synonym_clean(
    *, merchant_id: int, values: dict, pk: int | None = None, db: bool = True
) -> dict:
    word = _text(values.get("word"), "word", 100, required=True)
    _unique(
        Synonym.objects.filter(merchant_id=merchant_id, word=word),
        pk,
        "word",
        _("This word already has synonyms."),
        db=db,
    )
    variants = split_list(values.get("synonyms"))
    if variants is None:
        raise _invalid("synonyms", _("Comma separated words, or a list of texts."))
    variants = [v for v in variants if v != word]
    if not variants:
        raise _invalid("synonyms", _("Give at least one synonym."))
    if any(len(v) > 100 for v in variants) or len(variants) > MAX_LINES:
        raise _invalid("synonyms", _("Each synonym at most %(n)d characters.") % {"n": 100})
    return {"word": word, "synonyms": ", ".join(variants)}


def dictionary_clean(
    *, merchant_id: int, values: dict, pk: int | None = None, db: bool = True
) -> dict:
    word = _text(values.get("word"), "word", 100, required=True)
    if re.search(r"\s", word):
        raise _invalid("word", _("A dictionary word cannot contain spaces."))
    _unique(
        DictionaryWord.objects.filter(merchant_id=merchant_id, word=word),
        pk,
        "word",
        _("This word is already in the dictionary."),
        db=db,
    )
    frequency = values.get("frequency")
    if frequency is not None and (
        not isinstance(frequency, int) or isinstance(frequency, bool) or not 0 < frequency < 10**9
    ):
        raise _invalid("frequency", _("A whole number from 1 to 999999999, or empty."))
    return {"word": word, "frequency": frequency}


@transaction.atomic
def synonym_create(*, merchant_id: int, word: str, synonyms) -> Synonym:
    values = synonym_clean(merchant_id=merchant_id, values={"word": word, "synonyms": synonyms})
    row = Synonym.objects.create(merchant_id=merchant_id, **values)
    kb_changed(merchant_id=merchant_id)
    return row


@transaction.atomic
def synonym_update(*, merchant_id: int, synonym_id: int, **changes) -> Synonym:
    return _update(
        Synonym,
        SYNONYM_FIELDS,
        synonym_clean,
        merchant_id=merchant_id,
        pk=synonym_id,
        changes=changes,
    )


@transaction.atomic
def synonym_delete(*, merchant_id: int, synonym_id: int) -> None:
    _scoped(Synonym, merchant_id, synonym_id).delete()
    kb_changed(merchant_id=merchant_id)


@transaction.atomic
def dictionary_word_create(
    *, merchant_id: int, word: str, frequency: int | None = None
) -> DictionaryWord:
    values = dictionary_clean(
        merchant_id=merchant_id, values={"word": word, "frequency": frequency}
    )
    row = DictionaryWord.objects.create(merchant_id=merchant_id, **values)
    kb_changed(merchant_id=merchant_id)
    return row


@transaction.atomic
def dictionary_word_update(*, merchant_id: int, word_id: int, **changes) -> DictionaryWord:
    return _update(
        DictionaryWord,
        DICTIONARY_FIELDS,
        dictionary_clean,
        merchant_id=merchant_id,
        pk=word_id,
        changes=changes,
    )


@transaction.atomic
def dictionary_word_delete(*, merchant_id: int, word_id: int) -> None:
    _scoped(DictionaryWord, merchant_id, word_id).delete()
    kb_changed(merchant_id=merchant_id)


@transaction.atomic
def kb_rows_delete(*, merchant_id: int, model, ids) -> int:
    """Bulk delete from the admin (its "delete selected" action), one version bump."""
    deleted, _detail = model.objects.filter(merchant_id=merchant_id, pk__in=list(ids)).delete()
    if deleted:
        kb_changed(merchant_id=merchant_id)
    return deleted


# --- Knowledge gaps and answer counts -------------------------------------------------------------------------------


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


# --- Learning from agents' answers ------------------------------------------------------------------

SUGGEST_TASK = "knowledge.tasks.gap_suggest_task"
# A reply counts as an FAQ's answer when one holds the other and the shorter is at least this
# share of the longer ("您好，" + the answer + "。祝您购物愉快" still counts; a one-line reply
# that merely appears inside a long answer does not).
REPLY_MATCH_MIN_SHARE = 0.6
REPLY_MATCH_MIN_CHARS = 6


def _reply_key(text: str) -> str:
    from ..dialogue import normalize

    return normalize(text).replace(" ", "")


def faq_for_reply(*, merchant_id: int, text: str) -> Faq | None:
    """The merchant's FAQ entry whose answer the agent's reply is (typed, or sent as a quick reply
    holding the same text), or None. The closest in length wins when several fit."""
    from ..richtext import html_to_text

    reply = _reply_key(text)
    if len(reply) < REPLY_MATCH_MIN_CHARS:
        return None
    best, best_share = None, 0.0
    rows = Faq.objects.filter(Faq.valid_at(timezone.now()), merchant_id=merchant_id)
    for pk, answer in rows.values_list("pk", "answer").iterator(chunk_size=500):
        key = _reply_key(html_to_text(answer))
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
        seen = {_reply_key(q) for q in [faq.question, *have]}
        added = []
        for q in questions:
            if _reply_key(q.text) not in seen:
                seen.add(_reply_key(q.text))
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


def faq_hit(*, merchant_id: int, faq_id: int) -> None:
    """Count an answer given with this entry (the bot calls it). Not a KB change: no version
    bump, no retraining."""
    Faq.objects.filter(merchant_id=merchant_id, pk=faq_id).update(hits=F("hits") + 1)
