"""The merchant's vocabulary: synonyms and dictionary words (segmentation)."""

from __future__ import annotations

import re

from django.db import transaction
from django.utils.translation import gettext as _

from ..models import DictionaryWord, Synonym
from ..textutil import split_list
from ..training import kb_changed
from .common import MAX_LINES, check_unique, clean_text, invalid, row_update, scoped_row

SYNONYM_FIELDS = ("word", "synonyms")
DICTIONARY_FIELDS = ("word", "frequency")


def synonym_clean(
    *, merchant_id: int, values: dict, pk: int | None = None, db: bool = True
) -> dict:
    word = clean_text(values.get("word"), "word", 100, required=True)
    check_unique(
        Synonym.objects.filter(merchant_id=merchant_id, word=word),
        pk,
        "word",
        _("This word already has synonyms."),
        db=db,
    )
    variants = split_list(values.get("synonyms"))
    if variants is None:
        raise invalid("synonyms", _("Comma separated words, or a list of texts."))
    variants = [v for v in variants if v != word]
    if not variants:
        raise invalid("synonyms", _("Give at least one synonym."))
    if any(len(v) > 100 for v in variants) or len(variants) > MAX_LINES:
        raise invalid("synonyms", _("Each synonym at most %(n)d characters.") % {"n": 100})
    return {"word": word, "synonyms": ", ".join(variants)}


def dictionary_clean(
    *, merchant_id: int, values: dict, pk: int | None = None, db: bool = True
) -> dict:
    word = clean_text(values.get("word"), "word", 100, required=True)
    if re.search(r"\s", word):
        raise invalid("word", _("A dictionary word cannot contain spaces."))
    check_unique(
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
        raise invalid("frequency", _("A whole number from 1 to 999999999, or empty."))
    return {"word": word, "frequency": frequency}


@transaction.atomic
def synonym_create(*, merchant_id: int, word: str, synonyms) -> Synonym:
    values = synonym_clean(merchant_id=merchant_id, values={"word": word, "synonyms": synonyms})
    row = Synonym.objects.create(merchant_id=merchant_id, **values)
    kb_changed(merchant_id=merchant_id)
    return row


@transaction.atomic
def synonym_update(*, merchant_id: int, synonym_id: int, **changes) -> Synonym:
    return row_update(
        Synonym,
        SYNONYM_FIELDS,
        synonym_clean,
        merchant_id=merchant_id,
        pk=synonym_id,
        changes=changes,
    )


@transaction.atomic
def synonym_delete(*, merchant_id: int, synonym_id: int) -> None:
    scoped_row(Synonym, merchant_id, synonym_id).delete()
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
    return row_update(
        DictionaryWord,
        DICTIONARY_FIELDS,
        dictionary_clean,
        merchant_id=merchant_id,
        pk=word_id,
        changes=changes,
    )


@transaction.atomic
def dictionary_word_delete(*, merchant_id: int, word_id: int) -> None:
    scoped_row(DictionaryWord, merchant_id, word_id).delete()
    kb_changed(merchant_id=merchant_id)
