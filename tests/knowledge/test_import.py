"""Bulk import and export: formats, encodings, per-row errors, nothing written on failure."""

from __future__ import annotations

import datetime
import io
import json
from zoneinfo import ZoneInfo

import pytest
from django.utils import translation
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from openpyxl import Workbook, load_workbook

from knowledge import formats, importers, services
from knowledge.models import Category, DictionaryWord, Faq, Intent, Synonym
from merchants.models import Merchant

FAQ_CSV = (
    "question,similar_questions,answer,keywords,category,enabled,valid_from,valid_until\n"
    '怎么退货,"如何退货\n退货流程",<p>登录后在<b>我的订单</b>申请退货</p>,"退货,退款",售后,是,,\n'
    "运费多少,,满 99 元包邮,运费,物流,1,2026-01-01,2027-01-01 18:00\n"
)


@pytest.fixture(autouse=True)
def english():
    """The assertions below quote the English messages; the site default is Chinese."""
    with translation.override("en"):
        yield


def kb_version(merchant) -> int:
    return Merchant.objects.get(pk=merchant.pk).kb_version


def test_csv_import_creates_rows_with_categories_and_dates(acme):
    result = importers.kb_import(merchant=acme, kind="faqs", fmt="csv", file=FAQ_CSV.encode())

    assert result.ok, result.errors
    assert (result.created, result.updated) == (2, 0)
    returns = Faq.objects.get(merchant=acme, question="怎么退货")
    assert returns.similar_questions == "如何退货\n退货流程"
    assert returns.answer == "<p>登录后在<b>我的订单</b>申请退货</p>"
    assert returns.keywords == "退货, 退款"
    assert returns.category.name == "售后" and returns.category.merchant_id == acme.pk
    shipping = Faq.objects.get(merchant=acme, question="运费多少")
    # Naive times in the file are the merchant's local time.
    tz = ZoneInfo(acme.timezone)
    assert shipping.valid_from == datetime.datetime(2026, 1, 1, tzinfo=tz)
    assert shipping.valid_until == datetime.datetime(2027, 1, 1, 18, 0, tzinfo=tz)
    assert shipping.valid_until > shipping.valid_from
    assert set(Category.objects.filter(merchant=acme).values_list("name", flat=True)) == {
        "售后",
        "物流",
    }
    assert kb_version(acme) == 1  # one bump for the whole file


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "gbk"])
def test_csv_encodings(acme, encoding):
    result = importers.kb_import(
        merchant=acme, kind="faqs", fmt="csv", file=FAQ_CSV.encode(encoding)
    )
    assert result.ok, result.errors
    assert set(Faq.objects.filter(merchant=acme).values_list("question", flat=True)) == {
        "怎么退货",
        "运费多少",
    }


def test_upsert_updates_by_question_and_only_given_columns(acme):
    importers.kb_import(merchant=acme, kind="faqs", fmt="csv", file=FAQ_CSV.encode())
    result = importers.kb_import(
        merchant=acme,
        kind="faqs",
        fmt="csv",
        file="question,answer\n怎么退货,新答案\n新问题,新的\n".encode(),
    )
    assert (result.created, result.updated) == (1, 1)
    returns = Faq.objects.get(merchant=acme, question="怎么退货")
    assert returns.answer == "新答案"
    assert returns.similar_questions == "如何退货\n退货流程"  # column absent: kept
    assert returns.category.name == "售后"
    assert Faq.objects.filter(merchant=acme).count() == 3


def test_replace_mode_deletes_rows_missing_from_the_file(acme, other):
    importers.kb_import(merchant=acme, kind="faqs", fmt="csv", file=FAQ_CSV.encode())
    services.faq_create(merchant_id=other.pk, question="怎么退货", answer="other")
    result = importers.kb_import(
        merchant=acme,
        kind="faqs",
        fmt="csv",
        mode="replace",
        file="question,answer\n运费多少,包邮\n".encode(),
    )
    assert (result.created, result.updated, result.deleted) == (0, 1, 1)
    assert list(Faq.objects.filter(merchant=acme).values_list("question", flat=True)) == [
        "运费多少"
    ]
    assert Faq.objects.filter(merchant=other).count() == 1


def test_per_row_errors_and_nothing_written(acme):
    services.faq_create(merchant_id=acme.pk, question="已有", answer="原答案")
    version = kb_version(acme)
    bad = (
        "question,answer,enabled,valid_from,valid_until\n"
        "已有,改了,1,,\n"  # row 2: fine (an update)
        ",没有问题,1,,\n"  # row 3: question missing
        "好问题,,1,,\n"  # row 4: answer missing
        "开关,答,也许,,\n"  # row 5: bad bool
        "日期,答,1,明天,\n"  # row 6: bad date
        "顺序,答,1,2026-02-01,2026-01-01\n"  # row 7: until before from
        "已有,重复,1,,\n"  # row 8: repeats row 2
        + "长,"
        + "x" * 20001
        + ",1,,\n"  # row 9: answer too long
    )
    result = importers.kb_import(merchant=acme, kind="faqs", fmt="csv", file=bad.encode())

    assert not result.ok
    assert [(e.row, e.field) for e in result.errors] == [
        (3, "question"),
        (4, "answer"),
        (5, "enabled"),
        (6, "valid_from"),
        (7, "valid_until"),
        (8, "question"),
        (9, "answer"),
    ]
    assert "2" in result.errors[5].message  # "Repeats row 2."
    assert (result.created, result.updated) == (0, 0)
    assert Faq.objects.get(merchant=acme, question="已有").answer == "原答案"
    assert Faq.objects.filter(merchant=acme).count() == 1
    assert kb_version(acme) == version


def test_multiline_cells_keep_row_numbers_as_in_the_sheet(acme):
    text = 'question,similar_questions,answer\n一,"a\nb\nc",答\n二,,\n'
    result = importers.kb_import(merchant=acme, kind="faqs", fmt="csv", file=text.encode())
    assert [(e.row, e.field) for e in result.errors] == [(3, "answer")]


@pytest.mark.parametrize(
    "payload, message",
    [
        (b"", "empty"),
        (b"\xff\xfe\x00\x00garbage\x81\x82\xff", "UTF-8"),
        ("answer\n只有答案\n".encode(), "question"),
    ],
)
def test_bad_csv_files_are_reported_not_raised(acme, payload, message):
    result = importers.kb_import(merchant=acme, kind="faqs", fmt="csv", file=payload)
    assert not result.ok
    assert message in result.errors[0].message
    assert not Faq.objects.exists()


@pytest.mark.parametrize(
    "fmt, payload",
    [
        ("json", b"{not json"),
        ("json", b'{"a": 1, "b": 2}'),
        ("json", b"[1, 2]"),
        ("xlsx", b"PK\x03\x04 not really a zip"),
        ("xlsx", FAQ_CSV.encode()),
    ],
)
def test_bad_json_and_xlsx_files(acme, fmt, payload):
    result = importers.kb_import(merchant=acme, kind="faqs", fmt=fmt, file=payload)
    assert not result.ok and result.errors[0].row == 0 and result.errors[0].field == "file"


def test_unknown_kind_or_format_is_a_field_error(acme):
    from kefu.errors import KefuError

    with pytest.raises(KefuError) as exc:
        importers.kb_import(merchant=acme, kind="faq", fmt="csv", file=b"x")
    assert exc.value.field == "kind"
    with pytest.raises(KefuError) as exc:
        importers.kb_import(merchant=acme, kind="faqs", fmt="xls", file=b"x")
    assert exc.value.field == "format"


def test_json_import_with_lists(acme):
    payload = [
        {
            "question": "怎么退货",
            "similar_questions": ["如何退货", "退货流程"],
            "answer": "在订单页申请",
            "keywords": ["退货"],
            "enabled": False,
        },
        {"question": "运费", "answer": "包邮", "similar_questions": "邮费\n快递费"},
    ]
    result = importers.kb_import(
        merchant=acme,
        kind="faqs",
        fmt="json",
        file=json.dumps({"faqs": payload}, ensure_ascii=False).encode(),
    )
    assert result.ok, result.errors
    faq = Faq.objects.get(question="怎么退货")
    assert faq.similar_questions == "如何退货\n退货流程" and faq.is_enabled is False
    assert Faq.objects.get(question="运费").similar_questions == "邮费\n快递费"


def test_json_errors_name_the_item(acme):
    payload = [
        {"question": "好", "answer": "好"},
        {"question": "坏", "answer": "答", "enabled": "maybe"},
    ]
    result = importers.kb_import(
        merchant=acme, kind="faqs", fmt="json", file=json.dumps(payload).encode()
    )
    assert [(e.row, e.field) for e in result.errors] == [(2, "enabled")]
    assert not Faq.objects.exists()


def _xlsx(rows) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def test_xlsx_import_with_numbers_and_dates(acme):
    data = _xlsx(
        [
            ["问题", "答案", "启用", "生效时间"],  # Chinese headers
            ["退货", "七天无理由", True, datetime.datetime(2026, 3, 1, 9, 0)],
            [12345, "数字问题", 0, None],
        ]
    )
    result = importers.kb_import(merchant=acme, kind="faqs", fmt="xlsx", file=data)
    assert result.ok, result.errors
    faq = Faq.objects.get(question="退货")
    assert faq.valid_from is not None and faq.is_enabled
    assert Faq.objects.get(question="12345").is_enabled is False


def test_xlsx_errors_use_sheet_rows(acme):
    data = _xlsx([["question", "answer"], ["好", "好"], [None, None], ["坏", None]])
    result = importers.kb_import(merchant=acme, kind="faqs", fmt="xlsx", file=data)
    assert [(e.row, e.field) for e in result.errors] == [(4, "answer")]


# --- Intents --------------------------------------------------------------------------------


def test_intent_pairs_group_by_label(acme):
    text = "text,label\n我要退货,refund\n怎么退款,refund\n查物流,track\n我要退货,refund\n"
    result = importers.kb_import(merchant=acme, kind="intents", fmt="csv", file=text.encode())
    assert result.ok, result.errors
    assert result.created == 2
    refund = Intent.objects.get(merchant=acme, name="refund")
    assert refund.examples == "我要退货\n怎么退款"  # repeats dropped
    assert Intent.objects.get(merchant=acme, name="track").examples == "查物流"


def test_intent_pairs_upsert_keeps_answer_and_slots(acme):
    services.intent_create(
        merchant_id=acme.pk,
        name="track",
        examples="查物流",
        answer="请提供单号",
        slots=[{"name": "order_no", "prompt": "单号？", "pattern": r"\d{6}"}],
    )
    importers.kb_import(
        merchant=acme, kind="intents", fmt="csv", file="text,label\n快递到哪了,track\n".encode()
    )
    intent = Intent.objects.get(merchant=acme, name="track")
    assert intent.examples == "快递到哪了"
    assert intent.answer == "请提供单号" and intent.slots[0]["name"] == "order_no"


def test_intent_rich_csv_with_slots_and_errors(acme):
    good = json.dumps(
        [{"name": "order_no", "prompt": "单号？", "pattern": "^\\d{6}$", "reprompt": "6 位数字"}]
    )
    bad_pattern = json.dumps([{"name": "n", "prompt": "p", "pattern": "(unclosed"}])
    rows = [
        ["name", "examples", "answer", "action", "slots"],
        ["track", "查物流\n快递到哪", "<b>请稍等</b><script>x</script>", "answer", good],
        ["human", "转人工", "", "handover", ""],
        ["bad1", "例句", "", "explode", ""],
        ["bad2", "例句", "", "answer", bad_pattern],
        ["bad3", "例句", "", "answer", "not json"],
        ["bad4", "", "", "answer", ""],
    ]
    out = io.StringIO()
    import csv

    csv.writer(out).writerows(rows)
    result = importers.kb_import(
        merchant=acme, kind="intents", fmt="csv", file=out.getvalue().encode()
    )
    assert [(e.row, e.field) for e in result.errors] == [
        (4, "action"),
        (5, "slots"),
        (6, "slots"),
        (7, "examples"),
    ]
    assert "regular expression" in result.errors[1].message
    assert not Intent.objects.exists()

    del rows[3:]
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    result = importers.kb_import(
        merchant=acme, kind="intents", fmt="csv", file=out.getvalue().encode()
    )
    assert result.ok, result.errors
    track = Intent.objects.get(name="track")
    assert track.answer == "<b>请稍等</b>"
    assert track.slots == [
        {"name": "order_no", "prompt": "单号？", "pattern": "^\\d{6}$", "reprompt": "6 位数字"}
    ]
    assert Intent.objects.get(name="human").action == "handover"


def test_synonyms_and_dictionary(acme):
    result = importers.kb_import(
        merchant=acme,
        kind="synonyms",
        fmt="csv",
        file='word,synonyms\n退货,"退换货，退回"\n'.encode(),
    )
    assert result.ok, result.errors
    assert Synonym.objects.get(merchant=acme).synonyms == "退换货, 退回"
    result = importers.kb_import(
        merchant=acme,
        kind="dictionary",
        fmt="csv",
        file="word,frequency\n墨中客服,100\n小米手环,\nbad word,5\n坏,x\n".encode(),
    )
    assert [(e.row, e.field) for e in result.errors] == [(4, "word"), (5, "frequency")]
    result = importers.kb_import(
        merchant=acme,
        kind="dictionary",
        fmt="csv",
        file="word,frequency\n墨中客服,100\n小米手环,\n".encode(),
    )
    assert result.ok
    assert dict(DictionaryWord.objects.values_list("word", "frequency")) == {
        "墨中客服": 100,
        "小米手环": None,
    }


# --- Export round trip --------------------------------------------------------------------


def _populate(merchant):
    importers.kb_import(merchant=merchant, kind="faqs", fmt="csv", file=FAQ_CSV.encode())
    services.faq_create(
        merchant_id=merchant.pk, question="=1+1 公式?", answer="不是公式, 是文本", keywords="-负号"
    )
    services.intent_create(
        merchant_id=merchant.pk,
        name="track",
        examples=["查物流", "快递到哪"],
        answer="请稍等",
        slots=[{"name": "order_no", "prompt": "单号？", "pattern": r"^\d{6}$"}],
    )
    services.intent_create(
        merchant_id=merchant.pk, name="human", examples="转人工", action="handover"
    )
    services.synonym_create(merchant_id=merchant.pk, word="退货", synonyms="退换货, 退回")
    services.dictionary_word_create(merchant_id=merchant.pk, word="墨中客服", frequency=50)
    services.dictionary_word_create(merchant_id=merchant.pk, word="手环")


@pytest.mark.parametrize("fmt", ["csv", "json", "xlsx"])
@pytest.mark.parametrize("kind", ["faqs", "intents", "synonyms", "dictionary"])
def test_export_then_import_round_trip(acme, other, kind, fmt):
    _populate(acme)
    before = importers.export_records(merchant=acme, kind=kind)
    assert before
    filename, content_type, body = importers.export(merchant=acme, kind=kind, fmt=fmt)
    assert filename.endswith("." + fmt)

    result = importers.kb_import(merchant=other, kind=kind, fmt=fmt, file=body)

    assert result.ok, result.errors
    assert result.created == len(before)
    assert importers.export_records(merchant=other, kind=kind) == before
    # Importing it again over itself changes nothing (and writes nothing but the version bump).
    again = importers.kb_import(merchant=acme, kind=kind, fmt=fmt, file=body)
    assert (again.created, again.updated, again.unchanged) == (0, 0, len(before))
    assert importers.export_records(merchant=acme, kind=kind) == before


def test_csv_export_has_bom_and_defuses_formulas(acme):
    _populate(acme)
    _name, _type, body = importers.export(merchant=acme, kind="faqs", fmt="csv")
    assert body.startswith(b"\xef\xbb\xbf")
    text = body.decode("utf-8-sig")
    assert "'=1+1 公式?" in text and "'-负号" in text
    _name, _type, body = importers.export(merchant=acme, kind="faqs", fmt="xlsx")
    sheet = load_workbook(io.BytesIO(body)).active
    cells = [c.value for row in sheet.iter_rows() for c in row]
    assert "=1+1 公式?" in cells
    assert all(c.data_type != "f" for row in sheet.iter_rows() for c in row)


# --- Whatever the file, an answer and never an exception -------------------------------------


_cells = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.lists(st.text(max_size=10), max_size=3),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
)
_headers = st.sampled_from(
    [
        "question",
        "answer",
        "similar_questions",
        "enabled",
        "valid_from",
        "name",
        "examples",
        "slots",
        "action",
        "text",
        "label",
        "word",
        "synonyms",
        "frequency",
        "category",
        "问题",
        "x",
    ]
)
_json_files = st.lists(st.dictionaries(_headers, _cells, max_size=6), max_size=5).map(
    lambda rows: json.dumps(rows, ensure_ascii=False, default=str).encode()
)
_csv_files = st.lists(st.lists(st.text(max_size=12), min_size=1, max_size=5), max_size=6).map(
    lambda rows: "\n".join(",".join(r) for r in rows).encode("utf-8", "surrogatepass")
)


@hsettings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    kind=st.sampled_from(importers.KINDS),
    fmt=st.sampled_from(formats.FORMATS),
    payload=st.one_of(st.binary(max_size=200), _json_files, _csv_files),
)
def test_any_file_gets_a_result_never_an_exception(acme, kind, fmt, payload):
    result = importers.kb_import(merchant=acme, kind=kind, fmt=fmt, file=payload)
    assert result.ok or all(isinstance(e.row, int) and e.message for e in result.errors)
    if not result.ok:
        assert (result.created, result.updated, result.deleted) == (0, 0, 0)


def test_json_values_of_the_wrong_type_are_row_errors(acme):
    payload = [
        {"question": {"a": 1}, "answer": "x"},
        {"question": "q", "answer": ["a"]},
        {"question": "ok", "answer": "fine", "category": ["x"]},
    ]
    result = importers.kb_import(
        merchant=acme, kind="faqs", fmt="json", file=json.dumps(payload).encode()
    )
    assert [(e.row, e.field) for e in result.errors] == [
        (1, "question"),
        (2, "answer"),
        (3, "category"),
    ]
    pairs = [{"text": ["a"], "label": "x"}, {"text": "t", "label": {"b": 1}}]
    result = importers.kb_import(
        merchant=acme, kind="intents", fmt="json", file=json.dumps(pairs).encode()
    )
    assert [(e.row, e.field) for e in result.errors] == [(1, "text"), (2, "label")]
    assert not Faq.objects.exists() and not Intent.objects.exists()


def test_row_estimate_decides_inline_or_worker(acme):
    assert formats.count_rows("csv", b"question,answer\na,b\nc,d") == 2
    assert formats.count_rows("csv", b"question,answer\na,b\nc,d\n") == 2
    assert (
        formats.count_rows("json", b'[{"question": "a"}, {"question": "b"}, {"question": "c"}]')
        == 3
    )
    assert (
        formats.count_rows(
            "xlsx", _xlsx([["question", "answer"]] + [[f"q{i}", "a"] for i in range(7)])
        )
        == 7
    )
    assert formats.count_rows("xlsx", b"junk") == 0


def test_pair_errors_name_the_pair_columns_in_row_order(acme):
    text = "text,label\n好,ok\n," + "x\n" + "例句," + "l" * 101 + "\n"
    result = importers.kb_import(merchant=acme, kind="intents", fmt="csv", file=text.encode())
    assert [(e.row, e.field) for e in result.errors] == [(3, "text"), (4, "label")]
