"""Writes to the knowledge base's entries: categories, FAQ entries, intents, synonyms and
dictionary words, the knowledge-gap log and answer counts.

Every write is scoped by merchant, validated here (the admin, the API and the importer show
these errors as field errors), and bumps the KB version in the same transaction
(knowledge.training.kb_changed), which schedules the retraining; answering never trains.
Training and the model lifecycle: knowledge.training; bulk import/export: knowledge.importers.

The writes are in modules by what they change (faqs: categories and FAQ entries; intents;
words: synonyms and the dictionary; duplicates; gaps: the knowledge-gap log; learning: gap
suggestions from agents' replies; common: the field cleaners and row helpers they share); this
package names every service, so callers write `services.faq_create(...)` whatever module holds
it."""

from .common import MAX_LINES, kb_rows_delete
from .duplicates import faq_duplicate_dismiss, faq_merge
from .faqs import (
    CATEGORY_FIELDS,
    FAQ_FIELDS,
    category_clean,
    category_create,
    category_delete,
    category_update,
    faq_clean,
    faq_create,
    faq_delete,
    faq_hit,
    faq_set_enabled,
    faq_update,
)
from .gaps import gap_dismiss, gap_resolve, unanswered_question_record
from .intents import (
    INTENT_FIELDS,
    MAX_EXAMPLES,
    MAX_SLOTS,
    NESTED_QUANTIFIER,
    SLOT_KEYS,
    SLOT_NAME,
    intent_clean,
    intent_create,
    intent_delete,
    intent_update,
    slots_clean,
)
from .learning import (
    REPLY_MATCH_MIN_CHARS,
    REPLY_MATCH_MIN_SHARE,
    SUGGEST_TASK,
    faq_for_reply,
    gap_accept_suggestions,
    gap_suggest_from_reply,
    gap_suggest_schedule,
)
from .words import (
    DICTIONARY_FIELDS,
    SYNONYM_FIELDS,
    dictionary_clean,
    dictionary_word_create,
    dictionary_word_delete,
    dictionary_word_update,
    synonym_clean,
    synonym_create,
    synonym_delete,
    synonym_update,
)

__all__ = [
    "category_clean",
    "category_create",
    "category_delete",
    "CATEGORY_FIELDS",
    "category_update",
    "dictionary_clean",
    "DICTIONARY_FIELDS",
    "dictionary_word_create",
    "dictionary_word_delete",
    "dictionary_word_update",
    "faq_clean",
    "faq_create",
    "faq_delete",
    "faq_duplicate_dismiss",
    "FAQ_FIELDS",
    "faq_for_reply",
    "faq_hit",
    "faq_merge",
    "faq_set_enabled",
    "faq_update",
    "gap_accept_suggestions",
    "gap_dismiss",
    "gap_resolve",
    "gap_suggest_from_reply",
    "gap_suggest_schedule",
    "intent_clean",
    "intent_create",
    "intent_delete",
    "INTENT_FIELDS",
    "intent_update",
    "kb_rows_delete",
    "MAX_EXAMPLES",
    "MAX_LINES",
    "MAX_SLOTS",
    "NESTED_QUANTIFIER",
    "REPLY_MATCH_MIN_CHARS",
    "REPLY_MATCH_MIN_SHARE",
    "SLOT_KEYS",
    "SLOT_NAME",
    "slots_clean",
    "SUGGEST_TASK",
    "synonym_clean",
    "synonym_create",
    "synonym_delete",
    "SYNONYM_FIELDS",
    "synonym_update",
    "unanswered_question_record",
]
