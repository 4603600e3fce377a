"""Training: the snapshot holds what the bot may answer with, the debounced task trains once per
version and skips when it is not due, engine_for loads once per process and picks up newer
models, old models are dropped."""

from __future__ import annotations

import datetime
import time
import uuid

import pytest
from celery.signals import before_task_publish
from django.utils import timezone

from kefu.celery import app as celery_app
from knowledge import selectors, services, tasks, training
from knowledge.models import BotModel
from merchants.models import Merchant


@pytest.fixture
def kb(acme):
    services.category_create(merchant_id=acme.pk, name="售后")
    category = acme.kb_categories.get()
    now = timezone.now()
    services.faq_create(
        merchant_id=acme.pk,
        question="怎么退货",
        answer="<p>七天无理由退货</p>",
        similar_questions="我想退货\n退货流程",
        keywords="退货, 退款",
        category_id=category.pk,
    )
    services.faq_create(merchant_id=acme.pk, question="运费多少", answer="满 99 包邮")
    services.faq_create(merchant_id=acme.pk, question="停用的问题", answer="x", is_enabled=False)
    services.faq_create(
        merchant_id=acme.pk,
        question="过期的问题",
        answer="x",
        valid_until=now - datetime.timedelta(days=1),
    )
    services.faq_create(
        merchant_id=acme.pk,
        question="以后的问题",
        answer="x",
        valid_from=now + datetime.timedelta(days=1),
    )
    services.intent_create(
        merchant_id=acme.pk,
        name="order_status",
        examples=["我的订单到哪了", "查一下物流", "快递到哪里了", "where is my order"],
    )
    services.intent_create(
        merchant_id=acme.pk, name="cancel", examples=["取消订单", "帮我取消"], is_enabled=False
    )
    services.synonym_create(merchant_id=acme.pk, word="退货", synonyms="退换货, 退回")
    services.dictionary_word_create(merchant_id=acme.pk, word="墨中客服", frequency=10)
    return acme


def version(merchant) -> int:
    return Merchant.objects.get(pk=merchant.pk).kb_version


def test_every_write_bumps_the_version(acme):
    assert version(acme) == 0
    faq = services.faq_create(merchant_id=acme.pk, question="q", answer="a")
    services.faq_update(merchant_id=acme.pk, faq_id=faq.pk, answer="b")
    services.faq_set_enabled(merchant_id=acme.pk, faq_ids=[faq.pk], enabled=False)
    services.faq_set_enabled(merchant_id=acme.pk, faq_ids=[faq.pk], enabled=False)  # no change
    services.faq_delete(merchant_id=acme.pk, faq_id=faq.pk)
    assert version(acme) == 4


def test_snapshot_holds_enabled_currently_valid_rows(kb, other):
    services.faq_create(merchant_id=other.pk, question="别家的问题", answer="x")
    snapshot = training.kb_snapshot(merchant_id=kb.pk)
    assert [f.question for f in snapshot.faqs] == ["怎么退货", "运费多少"]
    returns = snapshot.faqs[0]
    assert returns.similar == ["我想退货", "退货流程"]
    assert returns.keywords == ["退货", "退款"]
    assert returns.category == "售后"
    assert [i.name for i in snapshot.intents] == ["order_status"]
    assert snapshot.intents[0].examples[0] == "我的订单到哪了"
    assert snapshot.synonyms == {"退货": ["退换货", "退回"]}
    assert snapshot.dictionary == [("墨中客服", 10)]


def test_train_stores_a_model_that_answers(kb):
    model = training.kb_train(merchant_id=kb.pk)
    assert model.kb_version == version(kb)
    assert model.metrics["faqs"] == 2 and model.metrics["intents"] == 1
    engine = selectors.engine_for(merchant_id=kb.pk)
    best = engine.answer("我想退货怎么办")[0]
    assert (best.kind, best.label) == ("faq", "怎么退货")
    best = engine.answer("我的快递到哪里了")[0]
    assert (best.kind, best.label) == ("intent", "order_status")
    # Training the same version again is a no-op returning the stored model.
    assert training.kb_train(merchant_id=kb.pk).pk == model.pk
    assert BotModel.objects.filter(merchant=kb).count() == 1


def test_debounced_task_skips_superseded_and_fresh_versions(kb):
    current = version(kb)
    # Fired for an older change while a newer one is still waiting for its own run.
    assert tasks.kb_train_task(merchant_id=kb.pk, kb_version=current - 1) is None
    assert not BotModel.objects.exists()
    # The newest change's run trains.
    model_id = tasks.kb_train_task(merchant_id=kb.pk, kb_version=current)
    assert BotModel.objects.get().pk == model_id
    # Delivered twice (acks_late), or a stale run after it: nothing more.
    assert tasks.kb_train_task(merchant_id=kb.pk, kb_version=current) is None
    assert tasks.kb_train_task(merchant_id=kb.pk, kb_version=current - 3) is None
    assert BotModel.objects.count() == 1
    # A deleted merchant: nothing, no error.
    assert tasks.kb_train_task(merchant_id=999999, kb_version=1) is None


def test_a_lost_run_for_a_newer_change_is_covered(kb, settings):
    """The newest change's run never came (broker hiccup): an older run that fires after the
    newer change's debounce window trains instead of waiting forever."""
    from django.core.cache import cache

    settings.KB_TRAIN_DEBOUNCE_SECONDS = 5
    current = version(kb)
    key = f"kb:changed:{kb.pk}"
    cache.set(key, time.time() - 1)  # newest change 1 s ago: inside its window
    assert tasks.kb_train_task(merchant_id=kb.pk, kb_version=current - 1) is None
    cache.set(key, time.time() - 30)  # 30 s ago and still untrained
    model_id = tasks.kb_train_task(merchant_id=kb.pk, kb_version=current - 1)
    assert BotModel.objects.get(pk=model_id).kb_version == current
    assert tasks.kb_train_task(merchant_id=kb.pk, kb_version=current) is None  # the late one


def test_writes_schedule_training_after_commit_with_the_debounce(
    kb, settings, django_capture_on_commit_callbacks
):
    """The task message is published only after the commit, with the debounce countdown (the
    live test below runs it in a real worker)."""
    settings.KB_TRAIN_DEBOUNCE_SECONDS = 7
    sent = []

    def capture(sender=None, headers=None, body=None, **kwargs):
        if sender == "knowledge.tasks.kb_train_task":
            sent.append((headers, body))

    queue = f"kefutest-{uuid.uuid4().hex[:8]}"  # a queue no worker reads; deleted below
    previous = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = queue
    before_task_publish.connect(capture)
    try:
        with django_capture_on_commit_callbacks() as callbacks:
            services.faq_create(merchant_id=kb.pk, question="新问题", answer="新答案")
            assert not sent  # nothing before the commit
        assert len(callbacks) == 1
        callbacks[0]()
    finally:
        before_task_publish.disconnect(capture)
        celery_app.conf.task_default_queue = previous
        with celery_app.connection_for_write() as conn:
            conn.default_channel.queue_purge(queue)
    assert len(sent) == 1
    headers, (args, kwargs, _embed) = sent[0]
    assert kwargs == {"merchant_id": kb.pk, "kb_version": version(kb)}
    delay = (datetime.datetime.fromisoformat(headers["eta"]) - timezone.now()).total_seconds()
    assert 5 < delay <= 7


def test_old_models_are_dropped_keeping_two(kb):
    versions = []
    for i in range(4):
        services.faq_create(merchant_id=kb.pk, question=f"问题{i}", answer="答")
        versions.append(training.kb_train(merchant_id=kb.pk).kb_version)
    assert (
        sorted(BotModel.objects.filter(merchant=kb).values_list("kb_version", flat=True))
        == versions[-2:]
    )


def test_engine_for_loads_once_and_reloads_on_a_new_version(
    kb, monkeypatch, django_assert_num_queries
):
    assert selectors.engine_for(merchant_id=kb.pk) is None  # never trained: no engine, no training
    assert not BotModel.objects.exists()
    training.kb_train(merchant_id=kb.pk)
    first = selectors.engine_for(merchant_id=kb.pk)
    assert first is not None
    with django_assert_num_queries(0):  # within the check interval: no query at all
        assert selectors.engine_for(merchant_id=kb.pk) is first

    services.faq_create(merchant_id=kb.pk, question="发票怎么开", answer="订单页申请电子发票")
    training.kb_train(merchant_id=kb.pk)
    assert selectors.engine_for(merchant_id=kb.pk) is first  # not checked again yet

    monkeypatch.setattr(selectors, "ENGINE_CHECK_SECONDS", 0)
    with django_assert_num_queries(2):  # newest version, then its data
        second = selectors.engine_for(merchant_id=kb.pk)
    assert second is not first
    assert selectors.engine_version(merchant_id=kb.pk) == version(kb)
    assert second.answer("怎么开发票")[0].label == "发票怎么开"
    with django_assert_num_queries(1):  # same version: one cheap check, no reload
        assert selectors.engine_for(merchant_id=kb.pk) is second


def test_a_model_of_an_older_format_is_retrained_not_used(kb, monkeypatch, caplog):
    """After an upgrade that changes the model format the stored model cannot be loaded: the
    bot has no engine (a person answers) and the KB version is bumped once, so the usual
    debounced training builds a current model."""
    import io

    import numpy as np

    training.kb_train(merchant_id=kb.pk)
    model = BotModel.objects.get(merchant=kb)
    with np.load(io.BytesIO(bytes(model.data)), allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["format"] = np.array(1)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    BotModel.objects.filter(pk=model.pk).update(data=buf.getvalue())
    before = version(kb)
    monkeypatch.setattr(selectors, "ENGINE_CHECK_SECONDS", 0)
    monkeypatch.setattr(selectors, "_stale_seen", set())
    assert selectors.engine_for(merchant_id=kb.pk) is None
    assert "stale" in caplog.text
    assert version(kb) == before + 1
    assert selectors.engine_for(merchant_id=kb.pk) is None
    assert version(kb) == before + 1  # once per version, not once per question
    assert training.kb_train_if_due(merchant_id=kb.pk, kb_version=before + 1) is not None
    assert selectors.engine_for(merchant_id=kb.pk).answer("怎么退货")[0].label == "怎么退货"


def test_engine_for_is_per_merchant(kb, other):
    services.faq_create(merchant_id=other.pk, question="营业时间", answer="9-18 点")
    training.kb_train(merchant_id=kb.pk)
    training.kb_train(merchant_id=other.pk)
    labels = {c.label for c in selectors.engine_for(merchant_id=other.pk).answer("营业时间", k=5)}
    assert "怎么退货" not in labels
    assert {c.label for c in selectors.engine_for(merchant_id=kb.pk).answer("营业时间", k=5)} <= {
        "怎么退货",
        "运费多少",
        "order_status",
    }


def test_faq_answerable_rechecks_validity(kb):
    faq = kb.faqs.get(question="运费多少")
    assert selectors.faq_answerable(merchant_id=kb.pk, faq_id=faq.pk) == faq
    services.faq_set_enabled(merchant_id=kb.pk, faq_ids=[faq.pk], enabled=False)
    assert selectors.faq_answerable(merchant_id=kb.pk, faq_id=faq.pk) is None
    expired = kb.faqs.get(question="过期的问题")
    assert selectors.faq_answerable(merchant_id=kb.pk, faq_id=expired.pk) is None
    assert selectors.faq_answerable(merchant_id=999999, faq_id=faq.pk) is None


def test_validity_sweep_retrains_when_a_date_is_crossed(kb, other):
    now = timezone.now()
    training.kb_train(merchant_id=kb.pk)
    assert training.kb_validity_sweep(now=now) == []  # nothing crossed since training
    # An entry starts being valid after the model was trained.
    starts = kb.faqs.get(question="以后的问题")
    services.faq_update(
        merchant_id=kb.pk, faq_id=starts.pk, valid_from=now - datetime.timedelta(minutes=5)
    )
    training.kb_train(merchant_id=kb.pk)
    BotModel.objects.filter(merchant=kb).update(created_at=now - datetime.timedelta(minutes=10))
    before = version(kb)

    assert training.kb_validity_sweep(now=now) == [kb.pk]
    assert version(kb) == before + 1
    model = training.kb_train(merchant_id=kb.pk)
    assert "以后的问题" in [f.question for f in training.kb_snapshot(merchant_id=kb.pk).faqs]
    assert model.metrics["faqs"] == 3
    assert training.kb_validity_sweep(now=timezone.now()) == []  # trained after the boundary
    # Disabled entries do not count, and other merchants are untouched.
    services.faq_create(
        merchant_id=other.pk,
        question="x",
        answer="y",
        is_enabled=False,
        valid_until=now - datetime.timedelta(minutes=1),
    )
    assert training.kb_validity_sweep(now=timezone.now()) == []


def test_faq_hit_counts_without_a_kb_change(kb, other):
    faq = kb.faqs.get(question="运费多少")
    before = version(kb)
    services.faq_hit(merchant_id=kb.pk, faq_id=faq.pk)
    services.faq_hit(merchant_id=kb.pk, faq_id=faq.pk)
    services.faq_hit(merchant_id=other.pk, faq_id=faq.pk)  # not theirs: nothing
    faq.refresh_from_db()
    assert faq.hits == 2 and version(kb) == before
