"""Duplicate FAQ entries (issue 17): entries that answer each other's questions are found from
the trained model the way the calibration scores them, shown side by side in the admin, merged
(the merged entry's questions become similar questions of the kept one) or marked "not
duplicates"; a merge lowers the learnt answer point instead of raising it."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from kefu.errors import NotFound
from knowledge import selectors, services, training
from knowledge.models import Faq, FaqDuplicateDismissal
from knowledge.nlp import duplicates
from knowledge.nlp.engine import COS_WEIGHT, Engine, FaqDoc, IntentDoc, KbSnapshot, train
from knowledge.nlp.features import sparse_dot

PAGE = reverse("admin:knowledge_faqduplicatedismissal_changelist")
XSS = '<img src=x onerror="window.__xss=1">怎么申请退款'

# Twenty-four entries about different things, and five that ask what one of them asks.
DISTINCT = [
    "怎么申请退款",
    "运费怎么算",
    "支持货到付款吗",
    "发票怎么开",
    "营业时间是几点到几点",
    "会员积分怎么用",
    "怎么修改收货地址",
    "订单可以取消吗",
    "快递一般几天到",
    "商品有质量问题怎么办",
    "怎么联系人工客服",
    "优惠券为什么不能用",
    "可以用信用卡分期吗",
    "密码忘了怎么办",
    "怎么注销账号",
    "商品支持七天无理由退货吗",
    "包装破损可以拒收吗",
    "能开增值税专用发票吗",
    "有实体店吗",
    "可以送货上门安装吗",
    "海外能发货吗",
    "礼品卡怎么充值",
    "怎么查看物流信息",
    "预售商品什么时候发货",
]
DUPLICATES = {
    "如何申请退款": "怎么申请退款",
    "运费是怎么计算的": "运费怎么算",
    "发票如何开具": "发票怎么开",
    "收货地址怎么修改": "怎么修改收货地址",
    "忘记密码了怎么办": "密码忘了怎么办",
}


def _snapshot(merged: bool = False) -> KbSnapshot:
    faqs = [FaqDoc(i + 1, q) for i, q in enumerate(DISTINCT)]
    by_question = {f.question: f for f in faqs}
    for j, (dup, original) in enumerate(DUPLICATES.items()):
        if merged:  # what faq_merge leaves: the duplicate is a similar question of the original
            by_question[original].similar.append(dup)
        else:
            faqs.append(FaqDoc(100 + j, dup))
    return KbSnapshot(faqs=faqs)


@pytest.fixture(scope="module")
def model():
    return Engine.load(train(_snapshot()))


def _calibration_best(m: Engine) -> dict[int, tuple[int, float]]:
    """Each entry's best other entry, scored one question at a time as calibrate_faq does."""
    runs = m.n_faq_runs
    faq = m.run_owner[:runs]
    out = {}
    for r in range(runs):
        toks, idx, val = m._query(m.owners[faq[r]].label)
        doc_scores = sparse_dot(m.docs, idx, val)
        cos = np.zeros(len(m.owners), np.float32)
        cos[m.run_owner] = np.maximum.reduceat(doc_scores, m.run_starts)
        sims = COS_WEIGHT * cos + (1 - COS_WEIGHT) * m._bm25(toks)
        if m.faq_vec is not None:
            sims = m._faq_blend(sims, m.faq_vec[m.run_starts[r]])
        s = sims[faq].astype(np.float64)
        s[r] = -np.inf
        j = int(np.argmax(s))
        out[m.owners[faq[r]].id] = (m.owners[faq[j]].id, float(s[j]))
    return out


def test_pairs_are_scored_as_the_calibration_scores_them(model):
    pairs = duplicates.find(model, -1.0, per_entry=1)
    scores = {(a, b): s for a, b, s in pairs}
    assert len(scores) == len(pairs)  # each pair once
    assert [s for *_p, s in pairs] == sorted((s for *_p, s in pairs), reverse=True)
    best = _calibration_best(model)
    for a, (b, s) in best.items():
        # A pair keeps the higher of its two directions.
        key = tuple(sorted((a, b)))
        other = best[b][1] if best[b][0] == a else -1.0
        assert scores[key] == pytest.approx(max(s, other), abs=1e-4)
    # The no-entry side of the calibration is the same figure.
    assert np.quantile([s for _b, s in best.values()], 0.95) == pytest.approx(
        model.faq_curve[2], abs=1e-4
    )


def test_without_vectors_and_beside_intents_the_lexical_scores_are_the_calibrations(settings):
    from knowledge.nlp import faq_encoder

    snapshot = _snapshot()
    snapshot.intents = [
        IntentDoc(1, "greeting", ["你好", "您好啊", "在吗"]),
        IntentDoc(2, "bye", ["再见", "拜拜", "下次见"]),
    ]
    faq_encoder.configure(enabled=False, directory=settings.KB_FAQ_ENCODER_DIR, threads=1)
    try:
        lexical = Engine.load(train(snapshot))
    finally:
        faq_encoder.configure(
            enabled=settings.KB_FAQ_ENCODER, directory=settings.KB_FAQ_ENCODER_DIR, threads=1
        )
    assert lexical.faq_vec is None and lexical.clf_coef is not None
    pairs = {(a, b): s for a, b, s in duplicates.find(lexical, -1.0, per_entry=1)}
    best = _calibration_best(lexical)
    faq_ids = {f.id for f in snapshot.faqs}
    for a, (b, s) in best.items():
        assert a in faq_ids and b in faq_ids  # intents are never paired
        assert pairs[tuple(sorted((a, b)))] >= s - 1e-4
    assert np.quantile([s for _b, s in best.values()], 0.95) == pytest.approx(
        lexical.faq_curve[2], abs=1e-4
    )


def test_the_duplicates_are_the_strongest_pairs(model):
    ids = {f.question: f.id for f in _snapshot().faqs}
    expected = {tuple(sorted((ids[d], ids[o]))) for d, o in DUPLICATES.items()}
    found = duplicates.find(model, model.faq_answer_sim)
    assert found and {(a, b) for a, b, _s in found} <= expected
    # Pruned by the vector bound or not, the strong pairs come out the same.
    everything = {(a, b) for a, b, s in duplicates.find(model, -1.0) if s >= model.faq_answer_sim}
    assert everything == {(a, b) for a, b, _s in found}


def test_merging_lowers_the_answer_point_and_the_merged_question_finds_the_kept_entry(model):
    merged = Engine.load(train(_snapshot(merged=True)))
    assert merged.faq_answer_sim < model.faq_answer_sim
    for dup, original in DUPLICATES.items():
        best = merged.answer(dup)[0]
        assert best.label == original
        assert merged.answer(original)[0].label == original
    assert not duplicates.find(merged, merged.faq_answer_sim) or all(
        s < model.faq_answer_sim for *_p, s in duplicates.find(merged, merged.faq_answer_sim)
    )


# --- Services, selector and admin page ---------------------------------------------------------


@pytest.fixture
def kb(acme):
    faqs = {}
    for q in [*DISTINCT, *DUPLICATES]:
        faqs[q] = services.faq_create(merchant_id=acme.pk, question=q, answer=f"<p>{q}的答案</p>")
    return faqs


@pytest.fixture
def as_alice(client, alice):
    client.force_login(alice.user)
    return client


def test_merge_moves_the_questions_and_disables_the_merged_entry(acme, kb):
    keep, gone = kb["怎么申请退款"], kb["如何申请退款"]
    services.faq_update(merchant_id=acme.pk, faq_id=gone.pk, similar_questions="退款咋申请")
    version = type(acme).objects.get(pk=acme.pk).kb_version
    services.faq_merge(merchant_id=acme.pk, keep_id=keep.pk, merge_id=gone.pk)
    keep.refresh_from_db()
    gone.refresh_from_db()
    assert keep.similar_questions.splitlines() == ["如何申请退款", "退款咋申请"]
    assert not gone.is_enabled and gone.answer == "<p>如何申请退款的答案</p>"
    assert type(acme).objects.get(pk=acme.pk).kb_version == version + 1  # retraining follows
    # Twice: nothing added twice.
    services.faq_merge(merchant_id=acme.pk, keep_id=keep.pk, merge_id=gone.pk)
    keep.refresh_from_db()
    assert keep.similar_questions.splitlines() == ["如何申请退款", "退款咋申请"]
    snapshot = {f.question: f for f in training.kb_snapshot(merchant_id=acme.pk).faqs}
    assert "如何申请退款" not in snapshot
    assert snapshot["怎么申请退款"].similar == ["如何申请退款", "退款咋申请"]


@pytest.mark.parametrize("bad", ["same", "foreign", "missing", "text"])
def test_merge_refuses_other_ids(acme, other, kb, bad):
    keep = kb["怎么申请退款"]
    theirs = services.faq_create(merchant_id=other.pk, question="别家的问题", answer="答")
    merge_id = {"same": keep.pk, "foreign": theirs.pk, "missing": 10**8, "text": "1"}[bad]
    with pytest.raises(NotFound):
        services.faq_merge(merchant_id=acme.pk, keep_id=keep.pk, merge_id=merge_id)
    with pytest.raises(NotFound):
        services.faq_duplicate_dismiss(merchant_id=acme.pk, faq_ids=(keep.pk, merge_id))
    keep.refresh_from_db()
    theirs.refresh_from_db()
    assert keep.similar_questions == "" and theirs.is_enabled


def test_the_page_lists_merges_and_dismisses_pairs(as_alice, acme, kb):
    assert as_alice.get(PAGE).context["pairs"] == []  # not trained yet
    training.kb_train(merchant_id=acme.pk)
    page = as_alice.get(PAGE)
    assert page.status_code == 200
    pairs = page.context["pairs"]
    shown = {frozenset((p.first.question, p.second.question)) for p in pairs}
    assert shown and shown <= {frozenset(p) for p in DUPLICATES.items()}
    refund = frozenset(("怎么申请退款", "如何申请退款"))
    assert refund in shown
    pair = next(p for p in pairs if frozenset((p.first.question, p.second.question)) == refund)
    keep, gone = (pair.first, pair.second)
    done = as_alice.post(
        PAGE,
        {"merchant": acme.pk, "first": keep.pk, "second": gone.pk, "action": "merge_second"},
    )
    assert done.status_code == 302
    gone.refresh_from_db()
    keep.refresh_from_db()
    assert not gone.is_enabled and gone.question in keep.similar_questions.splitlines()
    # Before retraining, the merged entry is already gone from the page.
    after = as_alice.get(PAGE).context["pairs"]
    assert refund not in {frozenset((p.first.question, p.second.question)) for p in after}

    if after:
        other_pair = after[0]
        done = as_alice.post(
            PAGE,
            {
                "merchant": acme.pk,
                "first": other_pair.first.pk,
                "second": other_pair.second.pk,
                "action": "dismiss",
            },
        )
        assert done.status_code == 302
        left = as_alice.get(PAGE).context["pairs"]
        assert (other_pair.first.pk, other_pair.second.pk) not in {
            (p.first.pk, p.second.pk) for p in left
        }
        assert FaqDuplicateDismissal.objects.filter(merchant=acme).count() == 1

    # Retrained: the merged wording is answered by the kept entry.
    training.kb_train(merchant_id=acme.pk)
    selectors.engine_cache_clear()
    best = selectors.engine_for(merchant_id=acme.pk).answer(gone.question)[0]
    assert best.id == keep.pk


def test_texts_are_escaped(as_alice, acme, kb, monkeypatch):
    services.faq_update(merchant_id=acme.pk, faq_id=kb["如何申请退款"].pk, question=XSS)
    training.kb_train(merchant_id=acme.pk)
    # Every pair shown, whatever the markup did to the score.
    every = functools.partial(selectors.faq_duplicate_pairs, min_score=-1.0)
    monkeypatch.setattr(selectors, "faq_duplicate_pairs", every)
    body = as_alice.get(PAGE).content.decode()
    assert "&lt;img src=x" in body and "<img src=x" not in body


def test_bad_ids_get_a_400_and_change_nothing(as_alice, acme, other, kb):
    theirs = services.faq_create(merchant_id=other.pk, question="别家的问题", answer="答")
    keep = kb["怎么申请退款"]
    for data in (
        {"first": keep.pk, "second": theirs.pk, "action": "merge_second"},
        {"first": keep.pk, "second": "x", "action": "merge_first"},
        {"first": keep.pk, "second": keep.pk, "action": "dismiss"},
        {"first": keep.pk, "second": kb["如何申请退款"].pk, "action": "explode"},
    ):
        response = as_alice.post(PAGE, {"merchant": acme.pk, **data}, HTTP_ACCEPT_LANGUAGE="en")
        assert response.status_code == 400
        assert "not yours to merge" in response.content.decode()
    chinese = as_alice.post(PAGE, {"merchant": acme.pk, "first": keep.pk, "second": theirs.pk})
    assert chinese.status_code == 400 and "不属于您" in chinese.content.decode()
    theirs.refresh_from_db()
    keep.refresh_from_db()
    assert theirs.is_enabled and keep.similar_questions == ""
    assert not FaqDuplicateDismissal.objects.exists()


def test_another_merchants_owner_sees_and_merges_nothing(acme, charlie, kb):
    training.kb_train(merchant_id=acme.pk)
    outsider = Client()
    outsider.force_login(charlie.user)
    page = outsider.get(PAGE, {"merchant": acme.pk})
    assert page.status_code == 200
    assert page.context["merchant"].pk == charlie.merchant_id and page.context["pairs"] == []
    assert "怎么申请退款" not in page.content.decode()
    keep, gone = kb["怎么申请退款"], kb["如何申请退款"]
    for action in ("merge_second", "dismiss"):
        response = outsider.post(
            PAGE, {"merchant": acme.pk, "first": keep.pk, "second": gone.pk, "action": action}
        )
        assert response.status_code == 400
    gone.refresh_from_db()
    keep.refresh_from_db()
    assert gone.is_enabled and keep.similar_questions == ""
    assert not FaqDuplicateDismissal.objects.exists()
    # The selector, scoped by his merchant, has nothing of Acme's either.
    assert selectors.faq_duplicate_pairs(merchant_id=charlie.merchant_id) == []
    # Nor does the admin's own view of a dismissal row of Acme's.
    row = services.faq_duplicate_dismiss(merchant_id=acme.pk, faq_ids=(keep.pk, gone.pk))
    change = reverse("admin:knowledge_faqduplicatedismissal_change", args=[row.pk])
    response = outsider.get(change)
    assert response.status_code in (302, 403, 404)
    assert "怎么申请退款" not in response.content.decode()


def test_the_page_costs_the_same_for_few_and_many_pairs(as_alice, acme, kb, monkeypatch):
    training.kb_train(merchant_id=acme.pk)
    as_alice.get(PAGE)  # the engine loaded and pairs computed once
    counts = []
    for limit in (1, 5):
        monkeypatch.setattr(selectors, "DUPLICATES_SHOWN", limit)
        with CaptureQueriesContext(connection) as queries:
            page = as_alice.get(PAGE)
        counts.append((len(queries), len(page.context["pairs"])))
    assert counts[0][0] == counts[1][0], counts
    assert counts[0][1] < counts[1][1]


def test_the_faq_list_and_the_gap_page_link_here(as_alice, acme):
    assert PAGE in as_alice.get(reverse("admin:knowledge_faq_changelist")).content.decode()
    gaps = as_alice.get(reverse("admin:knowledge_unansweredquestion_changelist"))
    assert PAGE in gaps.content.decode()
    # Both languages: Chinese by default, English when asked for.
    assert "重复的常见问题" in as_alice.get(PAGE).content.decode()
    english = as_alice.get(PAGE, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Duplicate entries" in english and "No likely duplicates" in english


def test_faq_rows_are_left_alone_by_dismissal(acme, kb):
    a, b = kb["怎么申请退款"], kb["如何申请退款"]
    services.faq_duplicate_dismiss(merchant_id=acme.pk, faq_ids=(b.pk, a.pk))
    services.faq_duplicate_dismiss(merchant_id=acme.pk, faq_ids=(a.pk, b.pk))
    row = FaqDuplicateDismissal.objects.get()
    assert (row.faq_low_id, row.faq_high_id) == tuple(sorted((a.pk, b.pk)))
    assert Faq.objects.filter(merchant=acme, is_enabled=True).count() == len(kb)


def test_training_stores_the_pairs_and_older_models_are_read_from_the_engine(acme, kb):
    from knowledge.models import BotModel

    model = training.kb_train(merchant_id=acme.pk)
    stored = [tuple(p[:2]) for p in model.metrics["faq_duplicates"]]
    assert stored and model.metrics["faq_duplicates_seconds"] >= 0
    from_metrics = [
        (p.first.pk, p.second.pk) for p in selectors.faq_duplicate_pairs(merchant_id=acme.pk)
    ]
    assert from_metrics == stored
    # A model trained before the pairs were stored: listed from the loaded engine instead.
    BotModel.objects.filter(pk=model.pk).update(metrics={"faqs": len(kb)})
    again = [(p.first.pk, p.second.pk) for p in selectors.faq_duplicate_pairs(merchant_id=acme.pk)]
    assert again == stored


def test_a_failing_listing_never_costs_the_model(acme, kb, monkeypatch, as_alice):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(duplicates, "find", broken)
    model = training.kb_train(merchant_id=acme.pk)
    assert model.pk and model.metrics["faq_duplicates"] == []
    page = as_alice.get(PAGE)
    assert page.status_code == 200 and page.context["pairs"] == []
