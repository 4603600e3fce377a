"""REST API /api/v1/kb/: CRUD, import/export, gaps, who may do what, query counts."""

from __future__ import annotations

import io
import json

import pytest
from openpyxl import load_workbook
from rest_framework.test import APIClient

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
from tests import factories
from tests.conversations.conftest import session_client, token_client

AUTH_QUERIES = {"token": 1, "alice_session": 3, "bob_session": 3}


@pytest.fixture
def token(acme):
    client = token_client(factories.api_token(acme))
    client.kind = "token"
    return client


@pytest.fixture
def alice_session(alice):
    client = session_client(alice)
    client.kind = "alice_session"
    return client


@pytest.fixture(params=["token", "alice_session"])
def editor(request, acme):
    """Who may change the KB: the merchant's API token, an owner in the workspace."""
    return request.getfixturevalue(request.param)


@pytest.fixture
def bob_session(bob):
    client = session_client(bob)
    client.kind = "bob_session"
    return client


# --- CRUD ------------------------------------------------------------------------------------


def test_faq_crud(editor, acme):
    category = editor.post("/api/v1/kb/categories/", {"name": "售后"}, format="json")
    assert category.status_code == 201, category.content
    body = {
        "question": "怎么退货",
        "similar_questions": ["如何退货", "退货流程", "如何退货"],
        "answer": '<p>在<a href="https://shop.example.com/o">订单页</a>申请<script>x()</script></p>',
        "keywords": ["退货", "退款"],
        "category_id": category.json()["id"],
        "valid_until": "2030-01-01T00:00:00Z",
    }
    created = editor.post("/api/v1/kb/faqs/", body, format="json")
    assert created.status_code == 201, created.content
    faq = created.json()
    assert faq["similar_questions"] == ["如何退货", "退货流程"]
    assert (
        faq["answer"]
        == '<p>在<a href="https://shop.example.com/o" rel="noopener noreferrer">订单页</a>申请</p>'
    )
    assert faq["answer_text"] == "在订单页申请"
    assert faq["category"] == "售后" and faq["keywords"] == ["退货", "退款"]
    assert faq["valid_until"] == "2030-01-01T00:00:00Z" and faq["is_enabled"] is True

    path = f"/api/v1/kb/faqs/{faq['id']}/"
    assert editor.get(path).json() == faq
    patched = editor.patch(path, {"is_enabled": False, "similar_questions": []}, format="json")
    assert patched.status_code == 200
    assert patched.json()["is_enabled"] is False and patched.json()["similar_questions"] == []
    assert patched.json()["answer"] == faq["answer"]
    listed = editor.get("/api/v1/kb/faqs/").json()["results"]
    assert [f["id"] for f in listed] == [faq["id"]]
    assert editor.delete(path).status_code == 204
    assert editor.get(path).status_code == 404
    assert Merchant.objects.get(pk=acme.pk).kb_version == 4  # category, create, patch, delete


def test_intent_synonym_dictionary_crud(editor, acme):
    slots = [{"name": "order_no", "prompt": "单号？", "pattern": "^\\d{6}$"}]
    intent = editor.post(
        "/api/v1/kb/intents/",
        {"name": "track", "examples": ["查物流", "快递到哪"], "answer": "请稍等", "slots": slots},
        format="json",
    )
    assert intent.status_code == 201, intent.content
    assert intent.json()["slots"] == slots and intent.json()["action"] == "answer"
    path = f"/api/v1/kb/intents/{intent.json()['id']}/"
    assert editor.patch(path, {"action": "handover"}, format="json").json()["action"] == "handover"

    synonym = editor.post(
        "/api/v1/kb/synonyms/", {"word": "退货", "synonyms": ["退换货", "退回"]}, format="json"
    )
    assert synonym.status_code == 201 and synonym.json()["synonyms"] == ["退换货", "退回"]
    word = editor.post(
        "/api/v1/kb/dictionary/", {"word": "墨中客服", "frequency": 100}, format="json"
    )
    assert word.status_code == 201 and word.json()["frequency"] == 100
    assert (
        editor.patch(
            f"/api/v1/kb/dictionary/{word.json()['id']}/", {"frequency": None}, format="json"
        ).json()["frequency"]
        is None
    )


@pytest.mark.parametrize(
    "path, body, field",
    [
        ("/api/v1/kb/faqs/", {"question": "q"}, "answer"),
        ("/api/v1/kb/faqs/", {"question": 5, "answer": "a"}, "question"),
        ("/api/v1/kb/faqs/", {"question": "q", "answer": "<script>x</script>"}, "answer"),
        ("/api/v1/kb/faqs/", {"question": "q", "answer": "a", "category_id": 999999}, "category"),
        ("/api/v1/kb/faqs/", {"question": "q", "answer": "a", "valid_from": "soon"}, "valid_from"),
        ("/api/v1/kb/intents/", {"name": "x", "examples": []}, "examples"),
        (
            "/api/v1/kb/intents/",
            {
                "name": "x",
                "examples": ["e"],
                "slots": [{"name": "a", "prompt": "p", "pattern": "("}],
            },
            "slots",
        ),
        (
            "/api/v1/kb/intents/",
            {"name": "x", "examples": ["e"], "slots": [{"prompt": "p"}]},
            "slots",
        ),
        ("/api/v1/kb/intents/", {"name": "x", "examples": ["e"], "action": "explode"}, "action"),
        ("/api/v1/kb/dictionary/", {"word": "two words"}, "word"),
        ("/api/v1/kb/dictionary/", {"word": "w", "frequency": 0}, "frequency"),
        ("/api/v1/kb/synonyms/", {"word": "w", "synonyms": "not a list"}, "synonyms"),
    ],
)
def test_bad_input_is_400_with_the_field(token, acme, path, body, field):
    response = token.post(path, body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()
    assert not (
        Faq.objects.exists()
        or Intent.objects.exists()
        or DictionaryWord.objects.exists()
        or Synonym.objects.exists()
    )


def test_duplicate_names_are_400(token, acme):
    token.post("/api/v1/kb/categories/", {"name": "售后"}, format="json")
    response = token.post("/api/v1/kb/categories/", {"name": "售后"}, format="json")
    assert response.status_code == 400 and "name" in response.json()
    token.post("/api/v1/kb/faqs/", {"question": "q", "answer": "a"}, format="json")
    faq2 = token.post("/api/v1/kb/faqs/", {"question": "q2", "answer": "a"}, format="json").json()
    response = token.patch(f"/api/v1/kb/faqs/{faq2['id']}/", {"question": "q"}, format="json")
    assert response.status_code == 400 and "question" in response.json()


def test_agents_read_but_do_not_write(bob_session, acme):
    faq = services.faq_create(merchant_id=acme.pk, question="q", answer="a")
    assert bob_session.get("/api/v1/kb/faqs/").status_code == 200
    assert bob_session.get(f"/api/v1/kb/faqs/{faq.pk}/").status_code == 200
    assert bob_session.get("/api/v1/kb/gaps/").status_code == 200
    assert (
        bob_session.post(
            "/api/v1/kb/faqs/", {"question": "x", "answer": "y"}, format="json"
        ).status_code
        == 403
    )
    assert (
        bob_session.patch(f"/api/v1/kb/faqs/{faq.pk}/", {"answer": "z"}, format="json").status_code
        == 403
    )
    assert bob_session.delete(f"/api/v1/kb/faqs/{faq.pk}/").status_code == 403
    upload = io.BytesIO(b"question,answer\nq3,a3\n")
    upload.name = "faqs.csv"
    assert (
        bob_session.post(
            "/api/v1/kb/import/",
            {"kind": "faqs", "format": "csv", "file": upload},
            format="multipart",
        ).status_code
        == 403
    )
    assert list(Faq.objects.values_list("question", "answer")) == [("q", "a")]


# --- Import / export ---------------------------------------------------------------------------


def upload(content: bytes, name: str):
    f = io.BytesIO(content)
    f.name = name
    return f


def test_import_counts_and_row_errors(editor, acme):
    ok = editor.post(
        "/api/v1/kb/import/",
        {
            "kind": "faqs",
            "format": "csv",
            "file": upload("question,answer\n退货,七天\n运费,包邮\n".encode("gbk"), "kb.csv"),
        },
        format="multipart",
    )
    assert ok.status_code == 200, ok.content
    assert ok.json() == {
        "created": 2,
        "updated": 0,
        "deleted": 0,
        "unchanged": 0,
        "rows": 2,
        "error_count": 0,
        "errors": [],
    }
    bad = editor.post(
        "/api/v1/kb/import/",
        {
            "kind": "faqs",
            "format": "csv",
            "file": upload("question,answer\n退货,改了\n,没问题\n".encode(), "kb.csv"),
        },
        format="multipart",
    )
    assert bad.status_code == 400
    assert bad.json()["errors"] == [
        {"row": 3, "field": "question", "message": bad.json()["errors"][0]["message"]}
    ]
    assert Faq.objects.get(question="退货").answer == "七天"


@pytest.mark.parametrize(
    "data",
    [
        {"kind": "faqs", "format": "csv"},  # no file
        {"kind": "nope", "format": "csv", "file": "x"},
        {"kind": "faqs", "format": "doc", "file": "x"},
        {"kind": "faqs", "format": "xlsx", "file": "garbage"},
        {"kind": "faqs", "format": "json", "file": "garbage"},
    ],
)
def test_bad_import_requests_are_400(token, acme, data):
    if "file" in data:
        data = dict(data, file=upload(data["file"].encode(), "kb.bin"))
    response = token.post("/api/v1/kb/import/", data, format="multipart")
    assert response.status_code == 400, response.content
    assert not Faq.objects.exists()


def test_large_import_is_queued_as_a_job(token, acme, settings, django_capture_on_commit_callbacks):
    settings.KB_IMPORT_INLINE_MAX_ROWS = 3
    rows = "".join(f"问题{i},答案{i}\n" for i in range(5))
    with django_capture_on_commit_callbacks() as callbacks:
        response = token.post(
            "/api/v1/kb/import/",
            {
                "kind": "faqs",
                "format": "csv",
                "file": upload(("question,answer\n" + rows).encode(), "big.csv"),
            },
            format="multipart",
        )
    assert response.status_code == 202, response.content
    job = response.json()
    assert job["status"] == "queued" and job["result"] is None
    assert len(callbacks) == 1 and not Faq.objects.exists()
    # What the worker does (the live test runs it in a real worker).
    importers.kb_import_job_run(job_id=job["id"])
    done = token.get(f"/api/v1/kb/import/{job['id']}/").json()
    assert done["status"] == "done" and done["result"]["created"] == 5
    assert (done["done_rows"], done["total_rows"]) == (5, 5)
    assert Faq.objects.filter(merchant=acme).count() == 5
    assert importers.kb_import_job_run(job_id=job["id"]) is None  # a second delivery does nothing


@pytest.mark.parametrize("fmt", ["csv", "json", "xlsx"])
def test_export_downloads_an_importable_file(token, acme, other, fmt):
    services.faq_create(
        merchant_id=acme.pk, question="怎么退货", answer="<b>七天</b>", similar_questions="如何退货"
    )
    services.faq_create(merchant_id=other.pk, question="别家秘密", answer="x")
    response = token.get("/api/v1/kb/export/", {"kind": "faqs", "format": fmt})
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="kb-faqs-')
    body = response.content
    assert "别家秘密".encode() not in body
    if fmt == "json":
        assert json.loads(body)[0]["similar_questions"] == ["如何退货"]
    elif fmt == "xlsx":
        assert load_workbook(io.BytesIO(body)).active["A2"].value == "怎么退货"
    result = importers.kb_import(merchant=other, kind="faqs", fmt=fmt, file=body)
    assert result.ok and result.created == 1


def test_export_bad_params_are_400(token):
    assert token.get("/api/v1/kb/export/", {"kind": "x"}).status_code == 400
    assert token.get("/api/v1/kb/export/", {"kind": "faqs", "format": "pdf"}).status_code == 400


def test_gaps(token, acme, other):
    for text in ("发票怎么开", "怎么开发票", "营业时间"):
        services.unanswered_question_record(merchant_id=acme.pk, text=text, confidence=0.1)
    services.unanswered_question_record(merchant_id=other.pk, text="别家的问题", confidence=0.1)
    groups = token.get("/api/v1/kb/gaps/").json()
    # Asked once each: the newer wording represents the group.
    assert [(g["representative"], g["count"]) for g in groups] == [
        ("怎么开发票", 2),
        ("营业时间", 1),
    ]
    assert sorted(groups[0]["examples"]) == sorted(["发票怎么开", "怎么开发票"])
    assert "别家的问题" not in json.dumps(groups, ensure_ascii=False)


# --- Outsiders ---------------------------------------------------------------------------------


@pytest.fixture
def acme_kb(acme):
    category = services.category_create(merchant_id=acme.pk, name="秘密分类")
    return {
        "categories": category.pk,
        "faqs": services.faq_create(
            merchant_id=acme.pk, question="秘密问题", answer="秘密答案", category_id=category.pk
        ).pk,
        "intents": services.intent_create(
            merchant_id=acme.pk, name="秘密意图", examples="秘密例句"
        ).pk,
        "synonyms": services.synonym_create(merchant_id=acme.pk, word="秘密词", synonyms="机密").pk,
        "dictionary": services.dictionary_word_create(merchant_id=acme.pk, word="秘密词典").pk,
        "job": ImportJob.objects.create(
            merchant=acme, kind="faqs", fmt="csv", filename="秘密.csv"
        ).pk,
        "gap": services.unanswered_question_record(
            merchant_id=acme.pk, text="秘密的未答问题", confidence=0
        ).pk,
    }


def kb_snapshot():
    return [
        list(m.objects.order_by("pk").values())
        for m in (
            Category,
            Faq,
            Intent,
            Synonym,
            DictionaryWord,
            ImportJob,
            UnansweredQuestion,
            Merchant,
        )
    ]


def outsider_requests(ids):
    requests = []
    for kind in ("faqs", "intents", "categories", "synonyms", "dictionary"):
        path = f"/api/v1/kb/{kind}/{ids[kind]}/"
        requests += [
            ("get", path, None),
            ("patch", path, {"name": "越权", "question": "越权", "word": "越权"}),
            ("delete", path, None),
        ]
    requests.append(("get", f"/api/v1/kb/import/{ids['job']}/", None))
    return requests


LISTS = [
    "/api/v1/kb/faqs/",
    "/api/v1/kb/intents/",
    "/api/v1/kb/categories/",
    "/api/v1/kb/synonyms/",
    "/api/v1/kb/dictionary/",
    "/api/v1/kb/gaps/",
    "/api/v1/kb/export/?kind=faqs&format=json",
    "/api/v1/kb/export/?kind=intents&format=csv",
    "/api/v1/kb/export/?kind=synonyms&format=json",
    "/api/v1/kb/export/?kind=dictionary&format=json",
]


def _call(client, method, path, data):
    call = getattr(client, method)
    return call(path, data, format="json") if data is not None else call(path)


@pytest.mark.parametrize(
    "who, expected",
    [
        ("charlie_token", 404),
        ("charlie_session_own_merchant", 404),
        ("charlie_session_acme", 403),
    ],
)
def test_outsiders_reach_nothing_of_acme(who, expected, acme, other, charlie, acme_kb):
    client = {
        "charlie_token": lambda: token_client(factories.api_token(other)),
        "charlie_session_own_merchant": lambda: session_client(charlie),
        "charlie_session_acme": lambda: session_client(charlie, merchant_id=acme.pk),
    }[who]()
    services.faq_create(merchant_id=other.pk, question="他自己的", answer="x")
    before = kb_snapshot()

    for method, path, data in outsider_requests(acme_kb):
        response = _call(client, method, path, data)
        assert response.status_code == expected, (method, path, response.content)
        assert "秘密" not in response.content.decode(), (method, path)
    for path in LISTS:
        response = client.get(path)
        assert response.status_code == (403 if expected == 403 else 200), path
        assert "秘密" not in response.content.decode(), path
    # Writes "into" acme from outside land in charlie's own merchant or nowhere.
    body = upload("question,answer\n越权导入,x\n".encode(), "x.csv")
    response = client.post(
        "/api/v1/kb/import/", {"kind": "faqs", "format": "csv", "file": body}, format="multipart"
    )
    assert response.status_code in (200, 403)

    after = kb_snapshot()
    acme_rows = lambda snap: [
        [r for r in rows if r.get("merchant_id", r.get("id")) == acme.pk] for rows in snap
    ]
    assert acme_rows(after) == acme_rows(before)


def test_no_credentials_is_401_everywhere(acme_kb):
    before = kb_snapshot()
    for method, path, data in (
        outsider_requests(acme_kb)
        + [("get", p, None) for p in LISTS]
        + [
            ("post", "/api/v1/kb/faqs/", {"question": "q", "answer": "a"}),
        ]
    ):
        response = _call(APIClient(), method, path, data)
        assert response.status_code == 401, (method, path)
    assert kb_snapshot() == before


# --- Query counts ----------------------------------------------------------------------------


def _rows(acme, kind, n):
    category = services.category_create(merchant_id=acme.pk, name="分类")
    for i in range(n):
        if kind == "faqs":
            services.faq_create(
                merchant_id=acme.pk, question=f"问题{i}", answer="答", category_id=category.pk
            )
        elif kind == "intents":
            services.intent_create(merchant_id=acme.pk, name=f"意图{i}", examples="例句")
        elif kind == "categories":
            services.category_create(merchant_id=acme.pk, name=f"分类{i}")
        elif kind == "synonyms":
            services.synonym_create(merchant_id=acme.pk, word=f"词{i}", synonyms="同义")
        else:
            services.dictionary_word_create(merchant_id=acme.pk, word=f"词{i}")


@pytest.mark.parametrize("rows", [1, 20])
@pytest.mark.parametrize("kind", ["faqs", "intents", "categories", "synonyms", "dictionary"])
@pytest.mark.parametrize("who", ["token", "bob_session"])
def test_list_query_counts(request, who, acme, rows, kind, django_assert_num_queries):
    client = request.getfixturevalue(who)
    _rows(acme, kind, rows)
    path = f"/api/v1/kb/{kind}/"
    client.get(path)  # warm-up: the token's last_used_at write
    with django_assert_num_queries(AUTH_QUERIES[client.kind] + 1):
        response = client.get(path)
    assert response.status_code == 200
    assert len(response.json()["results"]) == rows + (1 if kind == "categories" else 0)


def test_gap_list_query_count(token, acme, django_assert_num_queries):
    for i in range(30):
        services.unanswered_question_record(merchant_id=acme.pk, text=f"问题 {i % 7}", confidence=0)
    token.get("/api/v1/kb/gaps/")
    with django_assert_num_queries(AUTH_QUERIES["token"] + 1):
        assert len(token.get("/api/v1/kb/gaps/").json()) == 7


def test_faq_list_filters(token, acme):
    category = services.category_create(merchant_id=acme.pk, name="售后")
    services.faq_create(
        merchant_id=acme.pk, question="怎么退货", answer="a", category_id=category.pk
    )
    services.faq_create(
        merchant_id=acme.pk,
        question="运费",
        answer="a",
        similar_questions="邮费多少",
        is_enabled=False,
    )

    def questions(**params):
        response = token.get("/api/v1/kb/faqs/", params)
        assert response.status_code == 200, response.content
        return [f["question"] for f in response.json()["results"]]

    assert questions(q="邮费") == ["运费"]
    assert questions(category_id=category.pk) == ["怎么退货"]
    assert questions(is_enabled="false") == ["运费"]
    assert questions(is_enabled="true", q="退") == ["怎么退货"]
    assert token.get("/api/v1/kb/faqs/", {"category_id": "x"}).status_code == 400
