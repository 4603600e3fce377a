"""Training and the model lifecycle of a merchant's bot.

A KB write bumps `Merchant.kb_version` in its transaction (kb_changed: an F() update, so two
admins saving at once never lose a bump) and, after the commit, schedules a debounced training
run (knowledge.tasks.kb_train_task). The run trains from kb_snapshot unless a model for the
current version exists or a newer change will train; old models are pruned. A stored model that
no longer loads, and FAQ validity dates crossing, bump the version too. Answering never trains.
"""

from __future__ import annotations

import datetime
import logging
import time

from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from merchants.models import Merchant

from .models import BotModel, DictionaryWord, Faq, Intent, Synonym
from .nlp import duplicates
from .nlp import engine as nlp_engine
from .textutil import split_list

log = logging.getLogger(__name__)

# Models kept per merchant: the newest, and the previous one for processes still serving it.
BOT_MODELS_KEPT = 2
# Queued by name (knowledge/tasks.py imports this module, not the other way round).
TRAIN_TASK = "knowledge.tasks.kb_train_task"


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
    try:
        # When the last change was committed: lets a run tell "a newer change is still inside
        # its debounce window" from "a newer change's own run was lost" (kb_train_if_due).
        cache.set(
            _changed_key(merchant_id),
            time.time(),
            timeout=settings.KB_TRAIN_DEBOUNCE_SECONDS + 3600,
        )
        current_app.tasks[TRAIN_TASK].apply_async(
            kwargs={"merchant_id": merchant_id, "kb_version": kb_version},
            countdown=settings.KB_TRAIN_DEBOUNCE_SECONDS,
        )
    except Exception:
        # no 500 for it; the next change schedules again.
        log.exception("could not schedule KB training for merchant %s", merchant_id)


# --- Training input -------------------------------------------------------------------------------


def kb_snapshot(*, merchant_id: int) -> nlp_engine.KbSnapshot:
    """What the bot learns from: enabled FAQ entries inside their validity dates, enabled
    intents, synonyms and dictionary words."""
    faqs = [
        nlp_engine.FaqDoc(
            id=pk,
            question=question,
            similar=[s for s in similar.splitlines() if s.strip()],
            keywords=split_list(keywords) or [],
            category=category or "",
        )
        for pk, question, similar, keywords, category in Faq.objects.filter(
            Faq.valid_at(timezone.now()), merchant_id=merchant_id
        )
        .order_by("pk")
        .values_list("pk", "question", "similar_questions", "keywords", "category__name")
    ]
    intents = [
        nlp_engine.IntentDoc(
            id=pk, name=name, examples=[e for e in examples.splitlines() if e.strip()]
        )
        for pk, name, examples in Intent.objects.filter(merchant_id=merchant_id, is_enabled=True)
        .order_by("pk")
        .values_list("pk", "name", "examples")
    ]
    synonyms = {
        word: split_list(variants) or []
        for word, variants in Synonym.objects.filter(merchant_id=merchant_id)
        .order_by("word")
        .values_list("word", "synonyms")
    }
    dictionary = list(
        DictionaryWord.objects.filter(merchant_id=merchant_id)
        .order_by("word")
        .values_list("word", "frequency")
    )
    return nlp_engine.KbSnapshot(
        faqs=faqs, intents=intents, synonyms=synonyms, dictionary=dictionary
    )


# --- Training -------------------------------------------------------------------------------------


# Duplicate FAQ pairs listed with each model: the strongest DUPLICATES_KEPT, from the
# DUPLICATES_PER_ENTRY nearest other entries of each standard question.
DUPLICATES_KEPT = 2000
DUPLICATES_PER_ENTRY = 3


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
    snapshot = kb_snapshot(merchant_id=merchant_id)
    started = time.perf_counter()
    data = nlp_engine.train(snapshot)
    metrics = {
        "train_seconds": round(time.perf_counter() - started, 3),
        "faqs": len(snapshot.faqs),
        "intents": len(snapshot.intents),
        "synonyms": len(snapshot.synonyms),
        "dictionary": len(snapshot.dictionary),
        "bytes": len(data),
    }
    if snapshot.faqs:
        # Listed once here, in the worker (seconds at 10,000 entries), so the duplicate-entries
        # page reads them without loading the model (knowledge.selectors.faq_duplicate_pairs).
        started = time.perf_counter()
        try:
            engine = nlp_engine.Engine.load(data)
            pairs = duplicates.find(engine, engine.faq_answer_sim, per_entry=DUPLICATES_PER_ENTRY)
        except Exception:
            # A hint for the admin page; the bot must get its model whatever happens here, and
            # the page shows no pairs rather than trying again per request.
            log.exception("merchant %s: could not list duplicate FAQ entries", merchant_id)
            metrics["faq_duplicates"] = []
        else:
            kept = pairs[:DUPLICATES_KEPT]
            metrics["faq_duplicates"] = [[a, b, round(s, 4)] for a, b, s in kept]
            metrics["faq_duplicates_seconds"] = round(time.perf_counter() - started, 3)
    try:
        with transaction.atomic():
            model = BotModel.objects.create(
                merchant_id=merchant_id, kb_version=version, data=data, metrics=metrics
            )
    except IntegrityError:
        # Two workers trained the same version at once (a retried task): keep the first.
        return BotModel.objects.get(merchant_id=merchant_id, kb_version=version)
    keep = list(
        BotModel.objects.filter(merchant_id=merchant_id)
        .order_by("-kb_version")
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
    for merchant_id, valid_from, valid_until in (
        Faq.objects.filter(is_enabled=True)
        .filter(
            Q(valid_from__gt=since, valid_from__lte=now)
            | Q(valid_until__gt=since, valid_until__lte=now)
        )
        .values_list("merchant_id", "valid_from", "valid_until")
    ):
        for moment in (valid_from, valid_until):
            if moment is not None and since < moment <= now:
                boundaries[merchant_id] = max(moment, boundaries.get(merchant_id, moment))
    if not boundaries:
        return []
    trained = dict(
        BotModel.objects.filter(merchant_id__in=boundaries)
        .values("merchant_id")
        .annotate(at=Max("created_at"))
        .values_list("merchant_id", "at")
    )
    bumped = []
    for merchant_id, moment in sorted(boundaries.items()):
        if trained.get(merchant_id) is None or trained[merchant_id] < moment:
            with transaction.atomic():
                kb_changed(merchant_id=merchant_id)
            bumped.append(merchant_id)
    return bumped
