"""Reads of the knowledge base, all scoped by merchant: lists for the admin and the API, the
per-process engine cache the bot answers with, and the knowledge-gap report. What training
reads (kb_snapshot) is in knowledge.training."""

from __future__ import annotations

import collections
import logging
import re
import threading
import time
import weakref
from dataclasses import dataclass, field

from django.db.models import Q, QuerySet
from django.utils import timezone

from kefu.errors import NotFound
from merchants.models import Merchant

from . import training
from .models import (
    BotModel,
    Category,
    DictionaryWord,
    Faq,
    FaqDuplicateDismissal,
    ImportJob,
    Intent,
    Synonym,
    UnansweredQuestion,
)
from .nlp import duplicates
from .nlp import engine as nlp_engine

log = logging.getLogger(__name__)

# --- Lists ----------------------------------------------------------------------------------------


def category_list(*, merchant_id: int) -> QuerySet[Category]:
    return Category.objects.filter(merchant_id=merchant_id)


def faq_list(
    *,
    merchant_id: int,
    q: str | None = None,
    category_id: int | None = None,
    is_enabled: bool | None = None,
) -> QuerySet[Faq]:
    faqs = Faq.objects.filter(merchant_id=merchant_id).select_related("category")
    if q:
        faqs = faqs.filter(Q(question__icontains=q) | Q(similar_questions__icontains=q))
    if category_id is not None:
        faqs = faqs.filter(category_id=category_id)
    if is_enabled is not None:
        faqs = faqs.filter(is_enabled=is_enabled)
    return faqs


def intent_list(*, merchant_id: int) -> QuerySet[Intent]:
    return Intent.objects.filter(merchant_id=merchant_id)


def synonym_list(*, merchant_id: int) -> QuerySet[Synonym]:
    return Synonym.objects.filter(merchant_id=merchant_id)


def dictionary_list(*, merchant_id: int) -> QuerySet[DictionaryWord]:
    return DictionaryWord.objects.filter(merchant_id=merchant_id)


def row_get(queryset: QuerySet, pk):
    """One row of an already scoped queryset, or NotFound (404) - also for another merchant's."""
    row = queryset.filter(pk=pk).first() if isinstance(pk, int) else None
    if row is None:
        raise NotFound()
    return row


def faq_answerable(*, merchant_id: int, faq_id: int) -> Faq | None:
    """The FAQ entry the bot may answer with now: enabled and inside its validity dates. A model
    trained earlier can still name an entry that was since disabled, expired or deleted."""
    return Faq.objects.filter(
        Faq.valid_at(timezone.now()), merchant_id=merchant_id, pk=faq_id
    ).first()


def merchant_for_kb(*, merchant_id: int) -> Merchant:
    return Merchant.objects.get(pk=merchant_id)


def import_job_get(*, merchant_id: int, job_id: int) -> ImportJob:
    return row_get(ImportJob.objects.filter(merchant_id=merchant_id).defer("data"), job_id)


# --- The engine the bot answers with ----------------------------------------------------------------

# A process checks for a newer model at most this often per merchant, so answering costs no
# query at all most of the time; a retrained model is picked up within this many seconds.
ENGINE_CHECK_SECONDS = 3.0
# Engines kept loaded per process (least recently used dropped first).
ENGINE_CACHE_SIZE = 64


@dataclass
class _Loaded:
    engine: nlp_engine.Engine
    kb_version: int
    checked_at: float


_engines: collections.OrderedDict[int, _Loaded] = collections.OrderedDict()
_engines_lock = threading.Lock()


def engine_for(*, merchant_id: int) -> nlp_engine.Engine | None:
    """The merchant's newest trained engine, loaded once per process; None before the first
    training. Never trains."""
    loaded = _engines.get(merchant_id)
    now = time.monotonic()
    if loaded is not None and now - loaded.checked_at < ENGINE_CHECK_SECONDS:
        return loaded.engine
    newest = (
        BotModel.objects.filter(merchant_id=merchant_id)
        .order_by("-kb_version")
        .values_list("kb_version", flat=True)
        .first()
    )
    with _engines_lock:  # one load per process, not one per thread that asks at the same time
        loaded = _engines.get(merchant_id)
        if newest is None:
            _engines.pop(merchant_id, None)
            return None
        # "!=", not "<": a lower newest version means the database was restored or the
        # merchant recreated, and the loaded engine belongs to something that is gone.
        if loaded is None or loaded.kb_version != newest:
            data = (
                BotModel.objects.filter(merchant_id=merchant_id, kb_version=newest)
                .values_list("data", flat=True)
                .first()
            )
            if data is None:  # dropped by a newer training in between: the next call loads it
                return loaded.engine if loaded else None
            try:
                engine = nlp_engine.Engine.load(bytes(data))
            except nlp_engine.StaleModel as e:
                _stale_model(merchant_id, newest, e)
                return loaded.engine if loaded else None
            loaded = _Loaded(engine, newest, now)
            _engines[merchant_id] = loaded
        loaded.checked_at = now
        _engines.move_to_end(merchant_id)
        while len(_engines) > ENGINE_CACHE_SIZE:
            _engines.popitem(last=False)
        return loaded.engine


_stale_seen: set[tuple[int, int]] = set()


def _stale_model(merchant_id: int, kb_version: int, error: Exception) -> None:
    """A stored model from an older format (after an upgrade): have it retrained, once per
    process and version, and answer with what this process had until then (None: hand over)."""
    if (merchant_id, kb_version) in _stale_seen:
        return
    _stale_seen.add((merchant_id, kb_version))
    log.warning(
        "merchant %s: stored bot model v%s is stale (%s); retraining",
        merchant_id,
        kb_version,
        error,
    )
    training.kb_model_stale(merchant_id=merchant_id)


def engine_version(*, merchant_id: int) -> int | None:
    """KB version of the engine this process has loaded for the merchant (None if none)."""
    loaded = _engines.get(merchant_id)
    return loaded.kb_version if loaded else None


def engine_cache_clear() -> None:
    with _engines_lock:
        _engines.clear()


# --- Duplicate entries ----------------------------------------------------------------------------

DUPLICATES_SHOWN = 100
# Pairs at another score than the stored ones (or from a model trained before they were
# stored): computed once per loaded engine and threshold, dropped with the engine when a
# retrained model replaces it.
_duplicates: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclass
class DuplicatePair:
    first: Faq
    second: Faq
    score: float

    @property
    def entries(self) -> tuple[Faq, Faq]:
        return (self.first, self.second)


def faq_duplicate_pairs(
    *, merchant_id: int, min_score: float | None = None, limit: int | None = None
) -> list[DuplicatePair]:
    """Likely duplicate FAQ entries of the merchant, strongest first: pairs where one entry's
    standard question, asked of the trained model with its own entry left out, scores the
    other at least `min_score` (default: the knowledge base's learnt answer point, i.e. the bot
    would answer one entry's question with the other). Pairs marked "not duplicates" and
    entries no longer answerable (merged, disabled, deleted since training) are left out.
    Empty before the first training. Queries: the newest model's metrics (where training
    stored the pairs), dismissals, entries."""
    limit = DUPLICATES_SHOWN if limit is None else limit
    stored = None
    if min_score is None:
        metrics = (
            BotModel.objects.filter(merchant_id=merchant_id)
            .order_by("-kb_version")
            .values_list("metrics", flat=True)
            .first()
        )
        if metrics is None:  # never trained
            return []
        stored = metrics.get("faq_duplicates")
    if stored is None:
        engine = engine_for(merchant_id=merchant_id)
        if engine is None:
            return []
        threshold = engine.faq_answer_sim if min_score is None else min_score
        cached = _duplicates.setdefault(engine, {})
        if threshold not in cached:
            cached[threshold] = duplicates.find(
                engine, threshold, per_entry=training.DUPLICATES_PER_ENTRY
            )
        stored = cached[threshold]
    dismissed = set(
        FaqDuplicateDismissal.objects.filter(merchant_id=merchant_id).values_list(
            "faq_low_id", "faq_high_id"
        )
    )
    # A window a few times the page: entries merged or disabled since training drop out.
    window = [p for p in stored if (p[0], p[1]) not in dismissed][: limit * 4]
    faqs = Faq.objects.filter(Faq.valid_at(timezone.now()), merchant_id=merchant_id).in_bulk(
        {i for a, b, _s in window for i in (a, b)}
    )
    return [DuplicatePair(faqs[a], faqs[b], s) for a, b, s in window if a in faqs and b in faqs][
        :limit
    ]


# --- Knowledge gaps ----------------------------------------------------------------------------------

GAP_SCAN_LIMIT = 2000  # newest open questions clustered per report
GAP_SIMILARITY = 0.35  # mean cosine (char 1-2 gram TF-IDF) to a group's members to join it
_PUNCTUATION = re.compile(r"[^\w]+")


GAP_SUGGESTIONS_SHOWN = 50


def gap_suggestions(*, merchant_id: int, limit: int = GAP_SUGGESTIONS_SHOWN) -> list:
    """Open questions an agent answered with an FAQ entry after the hand-over (newest first),
    each with its suggested entry: one query. They are left out of gap_groups."""
    return list(
        UnansweredQuestion.objects.filter(
            merchant_id=merchant_id,
            dismissed=False,
            resolved_faq=None,
            suggested_faq__merchant_id=merchant_id,
        )
        .select_related("suggested_faq")
        .order_by("-created_at", "-pk")[:limit]
    )


@dataclass
class GapGroup:
    representative: str
    count: int
    last_asked: object
    examples: list[str] = field(default_factory=list)
    question_ids: list[int] = field(default_factory=list)


def gap_groups(
    *, merchant_id: int, limit: int = GAP_SCAN_LIMIT, threshold: float = GAP_SIMILARITY
) -> list[GapGroup]:
    """Open unanswered questions grouped by similarity, biggest group first.

    Character 1-2 grams need no segmentation, so Chinese and English work alike and misspellings
    still overlap. The distinct wordings (case and punctuation ignored) are clustered
    bottom-up with average linkage: a wording joins a group when its mean cosine similarity to
    the group's members is at least `threshold`. Average (not single) linkage keeps groups from
    chaining unrelated questions through one that resembles both.
    """
    rows = list(
        UnansweredQuestion.objects.filter(
            merchant_id=merchant_id, dismissed=False, resolved_faq=None, suggested_faq=None
        )
        .order_by("-created_at", "-pk")
        .values_list("pk", "text", "created_at")[:limit]
    )
    if not rows:
        return []
    wordings: dict[str, list[int]] = {}  # wording -> indexes of the rows (newest first)
    for index, (_pk, text, _at) in enumerate(rows):
        wordings.setdefault(_PUNCTUATION.sub(" ", text.lower()).strip(), []).append(index)
    keys = list(wordings)
    labels = _cluster(keys, threshold)
    clusters: dict[int, list[str]] = {}
    for key, label in zip(keys, labels):
        clusters.setdefault(label, []).append(key)
    groups = []
    for members in clusters.values():
        members.sort(key=lambda k: (-len(wordings[k]), wordings[k][0]))  # most asked first
        indexes = sorted(i for k in members for i in wordings[k])
        groups.append(
            GapGroup(
                # The most asked wording, as it was typed the last time.
                representative=rows[wordings[members[0]][0]][1],
                count=len(indexes),
                last_asked=rows[indexes[0]][2],
                examples=[rows[wordings[k][0]][1] for k in members][:10],
                question_ids=[rows[i][0] for i in indexes],
            )
        )
    groups.sort(key=lambda g: (-g.count, -g.last_asked.timestamp()))
    return groups


def _cluster(keys: list[str], threshold: float) -> list[int]:
    """A cluster label per wording."""
    if len(keys) < 2:
        return [0] * len(keys)
    from sklearn.cluster import AgglomerativeClustering
    from sklearn.feature_extraction.text import TfidfVectorizer

    try:
        vectors = (
            TfidfVectorizer(analyzer="char", ngram_range=(1, 2), sublinear_tf=True)
            .fit_transform(keys)
            .toarray()
        )
    except ValueError:  # nothing but blanks
        return list(range(len(keys)))
    # A wording without characters has no direction: it stays alone.
    empty = ~vectors.any(axis=1)
    labels = [-1] * len(keys)
    rest = [i for i in range(len(keys)) if not empty[i]]
    if len(rest) >= 2:
        found = AgglomerativeClustering(
            n_clusters=None, metric="cosine", linkage="average", distance_threshold=1 - threshold
        ).fit_predict(vectors[rest])
        for i, label in zip(rest, found):
            labels[i] = int(label)
    elif rest:
        labels[rest[0]] = 0
    next_label = max(labels) + 1
    for i in range(len(keys)):
        if labels[i] == -1:
            labels[i], next_label = next_label, next_label + 1
    return labels
