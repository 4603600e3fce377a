"""The knowledge-base back office: scoped like every admin, writes through the services,
import/export with per-row errors and progress, and the knowledge-gap report."""

from __future__ import annotations

import io
import json
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from knowledge import importers, services
from knowledge.models import (
    Category,
    DictionaryWord,
    Faq,
    ImportJob,
    Intent,
    Synonym,
    UnansweredQuestion,
)
from merchants.models import Merchant

XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=1</script>'
MODELS = [
    ("category", Category),
    ("faq", Faq),
    ("intent", Intent),
    ("synonym", Synonym),
    ("dictionaryword", DictionaryWord),
    ("importjob", ImportJob),
]


def url(model, view="changelist", *args):
    return reverse(f"admin:knowledge_{model}_{view}", args=args)


@pytest.fixture
def kb(acme, other):
    data = {}
    for merchant in (acme, other):
        tag = "acme" if merchant == acme else "other"
        category = services.category_create(merchant_id=merchant.pk, name=f"{tag} 分类")
        data[tag] = {
            "category": category,
            "faq": services.faq_create(
                merchant_id=merchant.pk,
                question=f"{tag} 问题",
                answer="答",
                category_id=category.pk,
            ),
            "intent": services.intent_create(
                merchant_id=merchant.pk, name=f"{tag}_intent", examples="例句"
            ),
            "synonym": services.synonym_create(
                merchant_id=merchant.pk, word=f"{tag}词", synonyms="同义"
            ),
            "dictionaryword": services.dictionary_word_create(
                merchant_id=merchant.pk, word=f"{tag}词典"
            ),
            "importjob": ImportJob.objects.create(
                merchant=merchant, kind="faqs", fmt="csv", filename=f"{tag}.csv"
            ),
        }
    return data


@pytest.fixture
def as_alice(client, alice):
    client.force_login(alice.user)
    return client


def version(merchant) -> int:
    return Merchant.objects.get(pk=merchant.pk).kb_version


def test_each_manager_lists_only_their_rows(client, acme, other, alice, charlie, kb):
    for who, merchant in ((alice, acme), (charlie, other)):
        client.force_login(who.user)
        for name, _model in MODELS:
            response = client.get(url(name))
            assert response.status_code == 200, name
            rows = list(response.context["cl"].result_list)
            assert rows and {r.merchant_id for r in rows} == {merchant.pk}, name


def test_outsider_cannot_open_or_change_acme_rows(client, acme, charlie, kb):
    client.force_login(charlie.user)
    before = version(acme)
    for name, _model in MODELS:
        row = kb["acme"][name]
        response = client.get(url(name, "change", row.pk))
        assert response.status_code == 302, name  # the admin's "does not exist" redirect
    faq = kb["acme"]["faq"]
    response = client.post(url("faq", "change", faq.pk), {"question": "越权", "answer": "越权"})
    assert response.status_code == 302
    response = client.post(url("faq"), {"action": "disable_selected", "_selected_action": [faq.pk]})
    response = client.post(url("faq", "delete", faq.pk), {"post": "yes"})
    assert (
        Faq.objects.get(pk=faq.pk).question == "acme 问题" and Faq.objects.get(pk=faq.pk).is_enabled
    )
    assert version(acme) == before


def test_agents_get_no_knowledge_admin(client, bob, kb):
    get_user_model().objects.filter(pk=bob.user_id).update(is_staff=True)
    client.force_login(bob.user)
    for name, _model in MODELS:
        assert client.get(url(name)).status_code == 403, name
    assert client.get(url("unansweredquestion")).status_code == 403
    assert client.get(url("faq", "import")).status_code == 403
    assert client.get(url("faq", "export")).status_code == 403


def test_add_faq_sanitises_and_bumps_the_version(as_alice, acme, kb):
    before = version(acme)
    response = as_alice.post(
        url("faq", "add"),
        {
            "category": kb["acme"]["category"].pk,
            "question": "怎么退货",
            "similar_questions": "如何退货\n退货流程",
            "answer": "<p>七天内" + XSS + "申请</p>",
            "keywords": "退货",
            "is_enabled": "on",
        },
    )
    assert response.status_code == 302, (
        response.context and response.context["adminform"].form.errors
    )
    faq = Faq.objects.get(merchant=acme, question="怎么退货")
    assert faq.answer == "<p>七天内申请</p>"
    assert version(acme) == before + 1


def test_form_shows_service_errors(as_alice, acme, kb):
    response = as_alice.post(
        url("faq", "add"),
        {
            "category": kb["other"]["category"].pk,
            "question": "acme 问题",
            "answer": "答",
        },
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "category" in errors  # another merchant's category is not a choice
    response = as_alice.post(url("faq", "add"), {"question": "acme 问题", "answer": "答"})
    assert "question" in response.context["adminform"].form.errors  # exists already
    response = as_alice.post(
        url("intent", "add"),
        {
            "name": "track",
            "examples": "查物流",
            "action": "answer",
            "slots": json.dumps([{"name": "n", "prompt": "p", "pattern": "("}]),
        },
    )
    # The compile error of the bad pattern is reported on the field (in either language).
    assert "unterminated subpattern" in str(response.context["adminform"].form.errors["slots"])
    assert not Intent.objects.filter(name="track").exists()


def test_enable_disable_and_delete_actions_go_through_services(as_alice, acme, kb):
    faq = kb["acme"]["faq"]
    before = version(acme)
    as_alice.post(url("faq"), {"action": "disable_selected", "_selected_action": [faq.pk]})
    assert Faq.objects.get(pk=faq.pk).is_enabled is False
    as_alice.post(
        url("faq"), {"action": "delete_selected", "_selected_action": [faq.pk], "post": "yes"}
    )
    assert not Faq.objects.filter(pk=faq.pk).exists()
    assert version(acme) == before + 2
    assert Faq.objects.filter(pk=kb["other"]["faq"].pk).exists()


# --- Import / export -----------------------------------------------------------------------------


def csv_upload(text: str, name="kb.csv", encoding="utf-8"):
    f = io.BytesIO(text.encode(encoding))
    f.name = name
    return f


def test_import_form_imports_and_reports_row_errors_escaped(as_alice, acme, kb):
    page = as_alice.get(url("faq"))
    assert url("faq", "import").encode() in page.content
    response = as_alice.post(
        url("faq", "import"),
        {
            "format": "csv",
            "mode": "upsert",
            "file": csv_upload("question,answer\n退货,七天\n运费,包邮\n", encoding="gbk"),
        },
    )
    assert response.status_code == 302
    assert Faq.objects.filter(merchant=acme).count() == 3
    bad = f"question,answer,enabled\n好问题,答,1\n{XSS},答,maybe\n,缺问题,1\n"
    response = as_alice.post(
        url("faq", "import"), {"format": "csv", "mode": "upsert", "file": csv_upload(bad)}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "<script>window.__xss" not in html
    assert [(e["row"], e["field"]) for e in response.context["result"]["errors"]] == [
        (3, "enabled"),
        (4, "question"),
    ]
    assert not Faq.objects.filter(question="好问题").exists()


def test_import_form_refuses_wrong_format_and_outsider_merchant(as_alice, acme, other, kb):
    response = as_alice.post(
        url("faq", "import"),
        {
            "format": "xlsx",
            "mode": "upsert",
            "file": csv_upload("question,answer\n", name="kb.csv"),
        },
    )
    assert response.status_code == 200 and "file" in response.context["form"].errors
    # The merchant field is fixed for a one-merchant manager: a crafted value is ignored.
    response = as_alice.post(
        url("faq", "import"),
        {
            "merchant": other.pk,
            "format": "csv",
            "mode": "upsert",
            "file": csv_upload("question,answer\n新,答\n"),
        },
    )
    assert response.status_code == 302
    assert Faq.objects.get(question="新").merchant_id == acme.pk


def test_large_import_shows_progress(
    as_alice, acme, charlie, settings, django_capture_on_commit_callbacks
):
    settings.KB_IMPORT_INLINE_MAX_ROWS = 2
    with django_capture_on_commit_callbacks():
        response = as_alice.post(
            url("faq", "import"),
            {
                "format": "csv",
                "mode": "upsert",
                "file": csv_upload(
                    "question,answer\n" + "".join(f"问{i},答{i}\n" for i in range(5))
                ),
            },
        )
    job = ImportJob.objects.get(merchant=acme)
    assert response.status_code == 302 and response["Location"] == url(
        "importjob", "progress", job.pk
    )
    page = as_alice.get(response["Location"])
    assert page.status_code == 200 and url("importjob", "status", job.pk).encode() in page.content
    assert as_alice.get(url("importjob", "status", job.pk)).json()["status"] == "queued"
    importers.kb_import_job_run(job_id=job.pk)  # the worker's part
    status = as_alice.get(url("importjob", "status", job.pk)).json()
    assert status["finished"] and status["result"]["created"] == 5 and status["done_rows"] == 5
    assert "5" in status["summary"]
    outsider = Client()
    outsider.force_login(charlie.user)
    assert outsider.get(url("importjob", "status", job.pk)).status_code == 404
    assert outsider.get(url("importjob", "progress", job.pk)).status_code == 404


def test_export_downloads_own_rows(as_alice, kb):
    response = as_alice.get(url("faq", "export"), {"format": "csv"})
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    assert "acme 问题" in body and "other 问题" not in body
    assert (
        as_alice.get(
            url("faq", "export"), {"format": "csv", "merchant": kb["other"]["faq"].merchant_id}
        ).status_code
        == 404
    )


# --- Knowledge gaps ------------------------------------------------------------------------------


def ask(merchant, *texts):
    return [
        services.unanswered_question_record(merchant_id=merchant.pk, text=t, confidence=0.1)
        for t in texts
    ]


def test_gap_report_groups_and_escapes(as_alice, acme, other):
    ask(acme, "发票怎么开", "怎么开发票", "发票怎么开", XSS)
    ask(other, "别家的问题")
    response = as_alice.get(url("unansweredquestion"))
    assert response.status_code == 200
    html = response.content.decode()
    assert [(g.representative, g.count) for g in response.context["groups"]][0] == ("发票怎么开", 3)
    assert "<script>window.__xss" not in html and "&lt;script&gt;" in html
    assert "别家的问题" not in html


def test_create_faq_from_a_group_prefills_and_resolves(as_alice, acme):
    rows = ask(acme, "发票怎么开", "怎么开发票", "发票怎么开")
    ids = [r.pk for r in rows]
    response = as_alice.post(
        url("unansweredquestion"),
        {
            "merchant": acme.pk,
            "action": "create_faq",
            "representative": "发票怎么开",
            "question_ids": ids,
        },
    )
    assert response.status_code == 302
    target = urlsplit(response["Location"])
    assert target.path == url("faq", "add")
    query = parse_qs(target.query)
    assert query["question"] == ["发票怎么开"] and query["similar_questions"] == ["怎么开发票"]
    form = as_alice.get(response["Location"]).context["adminform"].form
    assert form.initial["question"] == "发票怎么开"

    saved = as_alice.post(
        response["Location"],
        {
            "question": "发票怎么开",
            "similar_questions": "怎么开发票",
            "answer": "订单页申请电子发票",
        },
    )
    assert saved.status_code == 302
    faq = Faq.objects.get(merchant=acme, question="发票怎么开")
    assert set(
        UnansweredQuestion.objects.filter(resolved_faq=faq).values_list("pk", flat=True)
    ) == set(ids)
    assert as_alice.get(url("unansweredquestion")).context["groups"] == []


def test_dismiss_a_group_and_outsiders_cannot(as_alice, acme, charlie):
    rows = ask(acme, "营业时间", "几点营业")
    ids = [r.pk for r in rows]
    outsider = Client()
    outsider.force_login(charlie.user)
    outsider.post(
        url("unansweredquestion"), {"merchant": acme.pk, "action": "dismiss", "question_ids": ids}
    )
    assert not UnansweredQuestion.objects.filter(dismissed=True).exists()
    as_alice.post(
        url("unansweredquestion"), {"merchant": acme.pk, "action": "dismiss", "question_ids": ids}
    )
    assert UnansweredQuestion.objects.filter(pk__in=ids, dismissed=True).count() == 2


def test_platform_admin_exports_the_chosen_merchant(client, acme, other, kb):
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw-root")
    client.force_login(root)
    chooser = client.get(url("faq", "export"), {"format": "json"})
    assert chooser.status_code == 200
    assert f"merchant={other.pk}" in chooser.content.decode()
    response = client.get(url("faq", "export"), {"format": "json", "merchant": other.pk})
    rows = json.loads(b"".join(response.streaming_content))
    assert [r["question"] for r in rows] == ["other 问题"]


@pytest.mark.parametrize("name", ["faq", "intent", "synonym", "dictionaryword", "category"])
def test_changelists_cost_the_same_for_3_and_25_rows(as_alice, acme, name):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def add(i):
        if name == "faq":
            category = Category.objects.filter(merchant=acme).first() or services.category_create(
                merchant_id=acme.pk, name="分类"
            )
            services.faq_create(
                merchant_id=acme.pk, question=f"问题{i}", answer="答", category_id=category.pk
            )
        elif name == "intent":
            services.intent_create(merchant_id=acme.pk, name=f"意图{i}", examples="例句\n例句二")
        elif name == "synonym":
            services.synonym_create(merchant_id=acme.pk, word=f"词{i}", synonyms="同义")
        elif name == "dictionaryword":
            services.dictionary_word_create(merchant_id=acme.pk, word=f"词{i}")
        else:
            services.category_create(merchant_id=acme.pk, name=f"分类{i}")

    counts = []
    for total in (3, 25):
        while getattr(acme, "_added", 0) < total:
            add(getattr(acme, "_added", 0))
            acme._added = getattr(acme, "_added", 0) + 1
        with CaptureQueriesContext(connection) as queries:
            assert as_alice.get(url(name)).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1], counts


def test_gap_report_shows_the_biggest_groups(as_alice, acme, monkeypatch):
    from knowledge.admin import gaps as kb_admin

    monkeypatch.setattr(kb_admin, "GAP_GROUPS_SHOWN", 1)
    ask(acme, "营业时间", "发票怎么开", "怎么开发票")
    response = as_alice.get(url("unansweredquestion"))
    assert [g.count for g in response.context["groups"]] == [2]
    assert response.context["hidden_groups"] == 1
