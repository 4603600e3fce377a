"""Writes to the knowledge base.

Every write is scoped by merchant, validated here (the admin and the API show these errors as
field errors), and bumps `Merchant.kb_version` in the same transaction with an F() update, so two
admins saving at once never lose a bump. After the commit the write schedules a debounced
training run (knowledge.tasks.kb_train_task); answering never trains.
"""

from __future__ import annotations

import datetime
import logging
import re
import time

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from kefu.errors import KefuError, NotFound
from merchants.models import Merchant

from . import selectors
from .models import BotModel, Category, DictionaryWord, Faq, Intent, Synonym, UnansweredQuestion
from .nlp import engine as nlp_engine
from .richtext import sanitize_html
from .textutil import split_lines, split_list

log = logging.getLogger(__name__)

# Models kept per merchant: the newest, and the previous one for processes still serving it.
BOT_MODELS_KEPT = 2
MAX_LINES = 500  # similar questions, synonyms per row
MAX_EXAMPLES = 5000  # example phrases per intent (public datasets have a few hundred)
MAX_SLOTS = 10
SLOT_KEYS = {"name", "prompt", "pattern", "reprompt"}
SLOT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,49}$")
# A group containing + * or {n,} followed by + * or {n,}: the classic catastrophic backtracking.
NESTED_QUANTIFIER = re.compile(r"\((?:[^()\\]|\\.)*(?:[+*]|\{\d*,\d*\})(?:[^()\\]|\\.)*\)(?:[+*]|\{\d*,\d*\})")


# --- Version bump and training schedule ---------------------------------------------------------


def kb_changed(*, merchant_id: int) -> int:
    """Bump the merchant's KB version (call inside the writing transaction) and schedule
    training after the commit. Returns the new version."""
    # F() update: concurrent writers each add one; the row lock it takes also orders them, so
    # the value read back below is this transaction's own.
    Merchant.objects.filter(pk=merchant_id).update(kb_version=F("kb_version") + 1)
    version = Merchant.objects.filter(pk=merchant_id).values_list("kb_version", flat=True).get()
    transaction.on_commit(lambda: kb_train_schedule(merchant_id=merchant_id, kb_version=version))
    return version


def _changed_key(merchant_id: int) -> str:
    return f"kb:changed:{merchant_id}"


def kb_train_schedule(*, merchant_id: int, kb_version: int | None) -> None:
    from .tasks import kb_train_task

    try:
        # When the last change was committed: lets a run tell "a newer change is still inside
        # its debounce window" from "a newer change's own run was lost" (kb_train_if_due).
        cache.set(_changed_key(merchant_id), time.time(),
                  timeout=settings.KB_TRAIN_DEBOUNCE_SECONDS + 3600)
        kb_train_task.apply_async(
            kwargs={"merchant_id": merchant_id, "kb_version": kb_version},
            countdown=settings.KB_TRAIN_DEBOUNCE_SECONDS,
        )
    except Exception:  # noqa: BLE001 - the write is committed (this runs after the commit):
        # no 500 for it; the next change schedules again.
        log.exception("could not schedule KB training for merchant %s", merchant_id)


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
            field, _("At most %(n)d characters (it has %(m)d).") % {"n": max_length, "m": len(value)}
        )
    return value


def _lines(value, field: str, item_max: int, *, required: bool = False,
           max_lines: int = MAX_LINES) -> list[str]:
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
        def bad(message):
            return _invalid("slots", _("Slot %(n)d: %(message)s") % {"n": number, "message": message})

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
                raise bad(_("%(key)s must be text of at most %(n)d characters.") % {"key": key, "n": limit})
            out[key] = text.strip()
        if "pattern" in out:
            try:
                re.compile(out["pattern"])
            except re.error as exc:
                raise bad(_("pattern is not a valid regular expression: %(error)s") % {"error": exc})
            # The bot matches visitor text against it and Python's re has no timeout: refuse a
            # repeated group that itself repeats, e.g. (a+)+, which can take exponential time.
            if NESTED_QUANTIFIER.search(out["pattern"]):
                raise bad(_("pattern repeats a group that repeats itself (like (a+)+); "
                            "it could take very long to match."))
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


def category_clean(*, merchant_id: int, values: dict, pk: int | None = None, db: bool = True) -> dict:
    name = _text(values.get("name"), "name", 100, required=True)
    _unique(Category.objects.filter(merchant_id=merchant_id, name=name), pk, "name",
            _("A category with this name already exists."), db=db)
    sort_order = values.get("sort_order", 0)
    if not isinstance(sort_order, int) or isinstance(sort_order, bool) or abs(sort_order) > 2**31 - 1:
        raise _invalid("sort_order", _("Must be a whole number."))
    return {"name": name, "sort_order": sort_order}


@transaction.atomic
def category_create(*, merchant_id: int, name: str, sort_order: int = 0) -> Category:
    values = category_clean(merchant_id=merchant_id, values={"name": name, "sort_order": sort_order})
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
    return _update(Category, CATEGORY_FIELDS, category_clean, merchant_id=merchant_id,
                   pk=category_id, changes=changes)


@transaction.atomic
def category_delete(*, merchant_id: int, category_id: int) -> None:
    # Its FAQs stay, without a category (SET_NULL); the snapshot carries category names.
    _scoped(Category, merchant_id, category_id).delete()
    kb_changed(merchant_id=merchant_id)


# --- FAQ ------------------------------------------------------------------------------------------

FAQ_FIELDS = (
    "category_id", "question", "similar_questions", "answer", "keywords", "is_enabled",
    "valid_from", "valid_until",
)


def faq_clean(*, merchant_id: int, values: dict, pk: int | None = None, db: bool = True) -> dict:
    question = _text(values.get("question"), "question", 500, required=True)
    _unique(Faq.objects.filter(merchant_id=merchant_id, question=question), pk, "question",
            _("An FAQ entry with this question already exists."), db=db)
    similar = [q for q in _lines(values.get("similar_questions"), "similar_questions", 500)
               if q != question]
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
    if db and category_id is not None and not Category.objects.filter(
        merchant_id=merchant_id, pk=category_id
    ).exists():
        raise _invalid("category", _("Choose one of your categories."))
    valid_from = _datetime(values.get("valid_from"), "valid_from")
    valid_until = _datetime(values.get("valid_until"), "valid_until")
    if valid_from and valid_until and valid_until <= valid_from:
        raise _invalid("valid_until", _("Must be later than “valid from”."))
    return {
        "category_id": category_id, "question": question, "similar_questions": "\n".join(similar),
        "answer": answer, "keywords": keywords_text,
        "is_enabled": _bool(values.get("is_enabled", True), "is_enabled"),
        "valid_from": valid_from, "valid_until": valid_until,
    }


@transaction.atomic
def faq_create(*, merchant_id: int, question: str, answer: str, **fields) -> Faq:
    unknown = set(fields) - set(FAQ_FIELDS)
    if unknown:
        raise TypeError(f"unknown fields: {sorted(unknown)}")
    values = faq_clean(merchant_id=merchant_id, values={**fields, "question": question, "answer": answer})
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


# --- Intents --------------------------------------------------------------------------------------

INTENT_FIELDS = ("name", "examples", "answer", "action", "slots", "is_enabled")


def intent_clean(*, merchant_id: int, values: dict, pk: int | None = None, db: bool = True) -> dict:
    name = _text(values.get("name"), "name", 100, required=True)
    _unique(Intent.objects.filter(merchant_id=merchant_id, name=name), pk, "name",
            _("An intent with this name already exists."), db=db)
    examples = _lines(values.get("examples"), "examples", 500, required=True, max_lines=MAX_EXAMPLES)
    answer_raw = values.get("answer") or ""
    if not isinstance(answer_raw, str) or len(answer_raw) > 20000:
        raise _invalid("answer", _("At most %(n)d characters.") % {"n": 20000})
    action = values.get("action") or Intent.Action.ANSWER
    if action not in Intent.Action.values:
        raise _invalid("action", _("One of: %(choices)s.") % {"choices": ", ".join(Intent.Action.values)})
    return {
        "name": name, "examples": "\n".join(examples), "answer": sanitize_html(answer_raw),
        "action": action, "slots": slots_clean(values.get("slots")),
        "is_enabled": _bool(values.get("is_enabled", True), "is_enabled"),
    }


@transaction.atomic
def intent_create(*, merchant_id: int, name: str, examples, **fields) -> Intent:
    unknown = set(fields) - set(INTENT_FIELDS)
    if unknown:
        raise TypeError(f"unknown fields: {sorted(unknown)}")
    values = intent_clean(merchant_id=merchant_id, values={**fields, "name": name, "examples": examples})
    intent = Intent.objects.create(merchant_id=merchant_id, **values)
    kb_changed(merchant_id=merchant_id)
    return intent


@transaction.atomic
def intent_update(*, merchant_id: int, intent_id: int, **changes) -> Intent:
    return _update(Intent, INTENT_FIELDS, intent_clean, merchant_id=merchant_id, pk=intent_id,
                   changes=changes)


@transaction.atomic
def intent_delete(*, merchant_id: int, intent_id: int) -> None:
    _scoped(Intent, merchant_id, intent_id).delete()
    kb_changed(merchant_id=merchant_id)


# --- Synonyms and dictionary ----------------------------------------------------------------------

SYNONYM_FIELDS = ("word", "synonyms")
DICTIONARY_FIELDS = ("word", "frequency")


def synonym_clean(*, merchant_id: int, values: dict, pk: int | None = None, db: bool = True) -> dict:
    word = _text(values.get("word"), "word", 100, required=True)
    _unique(Synonym.objects.filter(merchant_id=merchant_id, word=word), pk, "word",
            _("This word already has synonyms."), db=db)
    variants = split_list(values.get("synonyms"))
    if variants is None:
        raise _invalid("synonyms", _("Comma separated words, or a list of texts."))
    variants = [v for v in variants if v != word]
    if not variants:
        raise _invalid("synonyms", _("Give at least one synonym."))
    if any(len(v) > 100 for v in variants) or len(variants) > MAX_LINES:
        raise _invalid("synonyms", _("Each synonym at most %(n)d characters.") % {"n": 100})
    return {"word": word, "synonyms": ", ".join(variants)}


def dictionary_clean(*, merchant_id: int, values: dict, pk: int | None = None, db: bool = True) -> dict:
    word = _text(values.get("word"), "word", 100, required=True)
    if re.search(r"\s", word):
        raise _invalid("word", _("A dictionary word cannot contain spaces."))
    _unique(DictionaryWord.objects.filter(merchant_id=merchant_id, word=word), pk, "word",
            _("This word is already in the dictionary."), db=db)
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
    return _update(Synonym, SYNONYM_FIELDS, synonym_clean, merchant_id=merchant_id,
                   pk=synonym_id, changes=changes)


@transaction.atomic
def synonym_delete(*, merchant_id: int, synonym_id: int) -> None:
    _scoped(Synonym, merchant_id, synonym_id).delete()
    kb_changed(merchant_id=merchant_id)


@transaction.atomic
def dictionary_word_create(*, merchant_id: int, word: str, frequency: int | None = None) -> DictionaryWord:
    values = dictionary_clean(merchant_id=merchant_id, values={"word": word, "frequency": frequency})
    row = DictionaryWord.objects.create(merchant_id=merchant_id, **values)
    kb_changed(merchant_id=merchant_id)
    return row


@transaction.atomic
def dictionary_word_update(*, merchant_id: int, word_id: int, **changes) -> DictionaryWord:
    return _update(DictionaryWord, DICTIONARY_FIELDS, dictionary_clean, merchant_id=merchant_id,
                   pk=word_id, changes=changes)


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


# --- Knowledge gaps -------------------------------------------------------------------------------


def unanswered_question_record(
    *, merchant_id: int, text: str, confidence: float, conversation_id: int | None = None
) -> UnansweredQuestion | None:
    """Log a question the bot could not answer (the knowledge-gap report reads these)."""
    text = " ".join((text or "").split())[:500]
    if not text:
        return None
    return UnansweredQuestion.objects.create(
        merchant_id=merchant_id, conversation_id=conversation_id, text=text,
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


# --- Training -------------------------------------------------------------------------------------


def kb_train(*, merchant_id: int) -> BotModel:
    """Train a model for the merchant's current KB version, unless one exists. Slow (seconds):
    runs in the worker, outside any transaction."""
    # The version is read before the rows: if a write lands in between, the model is labelled
    # with the older version but holds newer rows, which is harmless (the newer version's own
    # run trains again). The other order could label old rows with the new version.
    version = Merchant.objects.filter(pk=merchant_id).values_list("kb_version", flat=True).get()
    existing = BotModel.objects.filter(merchant_id=merchant_id, kb_version=version).first()
    if existing is not None:
        return existing
    snapshot = selectors.kb_snapshot(merchant_id=merchant_id)
    started = time.perf_counter()
    data = nlp_engine.train(snapshot)
    metrics = {
        "train_seconds": round(time.perf_counter() - started, 3),
        "faqs": len(snapshot.faqs), "intents": len(snapshot.intents),
        "synonyms": len(snapshot.synonyms), "dictionary": len(snapshot.dictionary),
        "bytes": len(data),
    }
    try:
        with transaction.atomic():
            model = BotModel.objects.create(
                merchant_id=merchant_id, kb_version=version, data=data, metrics=metrics
            )
    except IntegrityError:
        # Two workers trained the same version at once (a retried task): keep the first.
        return BotModel.objects.get(merchant_id=merchant_id, kb_version=version)
    keep = list(
        BotModel.objects.filter(merchant_id=merchant_id).order_by("-kb_version")
        .values_list("pk", flat=True)[:BOT_MODELS_KEPT]
    )
    BotModel.objects.filter(merchant_id=merchant_id).exclude(pk__in=keep).delete()
    return model


def kb_model_stale(*, merchant_id: int) -> None:
    """The newest stored model cannot be loaded (format from an older release): a version bump
    makes the usual debounced training build a current one."""
    with transaction.atomic():
        kb_changed(merchant_id=merchant_id)


def kb_train_if_due(*, merchant_id: int, kb_version: int | None) -> BotModel | None:
    """What the debounced task does when it fires: nothing if a model for the current version
    exists, or if a newer change than the one that scheduled it is still inside its debounce
    window (that change's own run will train); otherwise train.

    The time of the last change is kept in the cache. Where the worker cannot see it (no Redis:
    each process has its own cache) a newer version alone means "its run will come"."""
    current = Merchant.objects.filter(pk=merchant_id).values_list("kb_version", flat=True).first()
    if current is None:
        return None  # merchant deleted
    if BotModel.objects.filter(merchant_id=merchant_id, kb_version=current).exists():
        return None
    if kb_version is not None and current > kb_version:
        changed_at = cache.get(_changed_key(merchant_id))
        if changed_at is None or time.time() - changed_at < settings.KB_TRAIN_DEBOUNCE_SECONDS:
            return None
        # The newer change is past its window and still untrained: its run was lost or is
        # stuck behind a backlog. Train now; that run will find the model and stop.
    return kb_train(merchant_id=merchant_id)


# --- Import ---------------------------------------------------------------------------------------


def _import_args(kind: str, fmt: str, mode: str) -> None:
    from . import importers

    for name, value, allowed in (("kind", kind, importers.KINDS), ("format", fmt, importers.FORMATS),
                                 ("mode", mode, importers.MODES)):
        if value not in allowed:
            raise _invalid(name, _("One of: %(choices)s.") % {"choices": ", ".join(allowed)})


def kb_import(*, merchant: Merchant, kind: str, fmt: str, file, mode: str = "upsert",
              progress=None, before_write=None):
    """Import a file of FAQ entries, intents, synonyms or dictionary words; see
    knowledge.importers. Returns an ImportResult: counts, or per-row errors and nothing
    written. `file`: bytes, a path or a binary file object."""
    from . import importers

    _import_args(kind, fmt, mode)
    try:
        data = importers.read_bytes(file)
    except importers.FileError as exc:
        result = importers.ImportResult()
        result.add_error(0, "file", str(exc))
        return result
    return importers.run_import(merchant=merchant, kind=kind, fmt=fmt, data=data, mode=mode,
                                progress=progress, before_write=before_write)


def kb_import_submit(*, merchant: Merchant, kind: str, fmt: str, file, mode: str = "upsert",
                     filename: str = ""):
    """What the admin and the API call: a file of up to KB_IMPORT_INLINE_MAX_ROWS rows is
    imported now (returns an ImportResult); a larger one becomes an ImportJob run by the worker,
    whose progress the caller shows (returns the job)."""
    from . import importers
    from .models import ImportJob

    _import_args(kind, fmt, mode)
    try:
        data = importers.read_bytes(file)
    except importers.FileError as exc:
        result = importers.ImportResult()
        result.add_error(0, "file", str(exc))
        return result
    if importers.count_rows(fmt, data) <= settings.KB_IMPORT_INLINE_MAX_ROWS:
        return importers.run_import(merchant=merchant, kind=kind, fmt=fmt, data=data, mode=mode)
    # Finished jobs keep only their result; a week of them is plenty for the progress pages.
    ImportJob.objects.filter(
        merchant_id=merchant.pk, created_at__lt=timezone.now() - datetime.timedelta(days=7)
    ).delete()
    with transaction.atomic():
        job = ImportJob.objects.create(
            merchant_id=merchant.pk, kind=kind, fmt=fmt, mode=mode, filename=filename[:255], data=data
        )
        transaction.on_commit(lambda: _queue_import(job.pk))
    return job


def _queue_import(job_id: int) -> None:
    from .models import ImportJob
    from .tasks import kb_import_task

    try:
        kb_import_task.apply_async(kwargs={"job_id": job_id})
    except Exception:  # noqa: BLE001 - shown as failed on the progress page, not a 500
        log.exception("could not queue KB import %s", job_id)
        ImportJob.objects.filter(pk=job_id).update(
            status=ImportJob.Status.FAILED, finished_at=timezone.now(),
            result={"created": 0, "updated": 0, "deleted": 0, "rows": 0, "error_count": 1,
                    "errors": [{"row": 0, "field": "file",
                                "message": _("The import could not be queued; try again.")}]},
        )


def kb_import_job_run(*, job_id: int):
    """Run a queued import job (the worker's side). Progress is written to the job row during
    validation, before the import's own transaction starts, so the progress page sees it."""
    from . import importers
    from .models import ImportJob

    # Claim it: a task delivered twice (acks_late after a worker restart) must not import twice.
    if not ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.QUEUED).update(
        status=ImportJob.Status.VALIDATING
    ):
        return None
    job = ImportJob.objects.select_related("merchant").get(pk=job_id)

    def progress(done: int, total: int) -> None:
        ImportJob.objects.filter(pk=job_id).update(done_rows=done, total_rows=total)

    def before_write() -> None:
        ImportJob.objects.filter(pk=job_id).update(status=ImportJob.Status.WRITING)

    try:
        result = importers.run_import(
            merchant=job.merchant, kind=job.kind, fmt=job.fmt, data=bytes(job.data), mode=job.mode,
            progress=progress, before_write=before_write,
        )
        outcome = result.as_dict()
        status = ImportJob.Status.DONE if result.ok else ImportJob.Status.FAILED
    except Exception:  # noqa: BLE001 - the page must say it failed rather than spin forever
        log.exception("KB import %s failed", job_id)
        outcome = {"created": 0, "updated": 0, "deleted": 0, "rows": 0, "error_count": 1,
                   "errors": [{"row": 0, "field": "file", "message": _("The import failed.")}]}
        status = ImportJob.Status.FAILED
    ImportJob.objects.filter(pk=job_id).update(
        status=status, result=outcome, data=b"", finished_at=timezone.now()
    )
    job.refresh_from_db()
    return job


# --- Validity dates -----------------------------------------------------------------------------

VALIDITY_WINDOW = datetime.timedelta(hours=1)


def kb_validity_sweep(*, now: datetime.datetime | None = None) -> list[int]:
    """Retrain merchants whose FAQ entries started or stopped being valid since their newest
    model was trained (run every minute by beat). Nothing else changes the KB at that moment, so
    without this an entry dated for tomorrow would stay unknown to the bot until the next edit.
    An expired entry is also refused at answer time (selectors.faq_answerable). Returns the
    merchants bumped."""
    from django.db.models import Max, Q

    now = now or timezone.now()
    since = now - VALIDITY_WINDOW
    boundaries: dict[int, datetime.datetime] = {}
    for merchant_id, valid_from, valid_until in Faq.objects.filter(is_enabled=True).filter(
        Q(valid_from__gt=since, valid_from__lte=now) | Q(valid_until__gt=since, valid_until__lte=now)
    ).values_list("merchant_id", "valid_from", "valid_until"):
        for moment in (valid_from, valid_until):
            if moment is not None and since < moment <= now:
                boundaries[merchant_id] = max(moment, boundaries.get(merchant_id, moment))
    if not boundaries:
        return []
    trained = dict(
        BotModel.objects.filter(merchant_id__in=boundaries).values("merchant_id")
        .annotate(at=Max("created_at")).values_list("merchant_id", "at")
    )
    bumped = []
    for merchant_id, moment in sorted(boundaries.items()):
        if trained.get(merchant_id) is None or trained[merchant_id] < moment:
            with transaction.atomic():
                kb_changed(merchant_id=merchant_id)
            bumped.append(merchant_id)
    return bumped


def faq_hit(*, merchant_id: int, faq_id: int) -> None:
    """Count an answer given with this entry (the bot calls it). Not a KB change: no version
    bump, no retraining."""
    Faq.objects.filter(merchant_id=merchant_id, pk=faq_id).update(hits=F("hits") + 1)
