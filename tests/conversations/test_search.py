"""Message search (conversations/search.py) and `q` on the conversation list: Chinese and
English substrings, short terms, visitor fields, bad input, pagination, query counts and the
outsider. Runs on the database of the run: SQLite's FTS5 trigram index, or MariaDB's Mroonga
(MySQL 8's ngram index where that is the database)."""

from __future__ import annotations

import pytest
from django.db import transaction

from conversations import search
from conversations.models import Message
from tests import factories
from tests.conversations.conftest import session_client, token_client

AUTH_QUERIES = {"token": 1, "bob_session": 3}


@pytest.fixture(autouse=True, params=[500, 2, 0], ids=["recent-window", "window-2", "index-only"])
def window(request, monkeypatch):
    """Every test three times: the default (small merchants fit the window of newest messages
    read first), a window of 2 (the window, then the index for older messages), and the index
    alone."""
    monkeypatch.setattr(search, "RECENT_WINDOW", request.param)
    return request.param


def _extra_index_query(window: int, messages: int) -> int:
    """The index is asked after the window only when the window is full (more history)."""
    return 1 if 0 < window < messages else 0


def _say(merchant, body, **visitor_fields):
    return factories.visitor_message(factories.visitor(merchant, **visitor_fields), body)


def _hits(api, q, **params):
    response = api.get("/api/v1/search/messages/", {"q": q, **params})
    assert response.status_code == 200, response.content
    return response.json()


def test_chinese_two_characters_find_a_longer_word(api, acme):
    wanted = _say(acme, "我要开发票")
    _say(acme, "我要退款")
    data = _hits(api, "发票")
    assert [r["id"] for r in data["results"]] == [wanted.pk]
    hit = data["results"][0]
    assert hit["body"] == "我要开发票"
    assert hit["highlights"] == [[3, 5]]
    assert hit["conversation_id"] == wanted.conversation_id and hit["seq"] == wanted.seq
    assert data["next"] is None


@pytest.mark.parametrize(
    "q, body",
    [
        ("发", "开发票"),  # one character
        ("开发票", "我要开发票了"),  # three and more: the index proper
        ("INVOICE", "Where is my invoice?"),  # case
        ("ｉｎｖｏｉｃｅ", "my invoice"),  # full-width letters
        ("13800", "call me at 13800138000"),  # digits inside a number
        ("example.com", "mail me: li@example.com"),
        ("100%", "is it 100% cotton"),  # LIKE's wildcard is a plain character here
        ("a_b", "file a_b.txt"),
    ],
)
def test_substrings_of_every_length_and_script(api, acme, q, body):
    wanted = _say(acme, body)
    _say(acme, "无关的消息 unrelated")
    assert [r["id"] for r in _hits(api, q)["results"]] == [wanted.pk]


def test_every_word_must_occur(api, acme):
    both = _say(acme, "退款 refund 订单")
    _say(acme, "退款 only")
    _say(acme, "refund only")
    assert [r["id"] for r in _hits(api, "退款 refund")["results"]] == [both.pk]
    # a short and a long term together (the LIKE on the index's hits)
    assert [r["id"] for r in _hits(api, "款 refund")["results"]] == [both.pk]


def test_wildcards_do_not_match_everything(api, acme):
    _say(acme, "普通消息")
    # "%" alone has no letter or digit: refused, not "everything".
    assert api.get("/api/v1/search/messages/", {"q": "%"}).status_code == 400
    assert _hits(api, "a%b")["results"] == []


def test_private_notes_are_found_and_marked(api, acme, bob):
    message = _say(acme, "你好")
    note = factories.agent_message(bob, message.conversation_id, "内部备注 发票已开", private=True)
    results = _hits(api, "发票已开")["results"]
    assert [(r["id"], r["private"]) for r in results] == [(note.pk, True)]


def test_newest_first_and_pages(api, acme):
    visitor = factories.visitor(acme)
    ids = [factories.visitor_message(visitor, f"发票 第{i}张").pk for i in range(5)]
    first = _hits(api, "发票", page_size=2)
    assert [r["id"] for r in first["results"]] == ids[::-1][:2]
    second = api.get(first["next"]).json()
    assert [r["id"] for r in second["results"]] == ids[::-1][2:4]
    third = api.get(second["next"]).json()
    assert [r["id"] for r in third["results"]] == ids[:1]
    assert third["next"] is None


@pytest.mark.parametrize("rows", [1, 20])
def test_search_query_count_pinned(api, acme, django_assert_num_queries, rows, window):
    for i in range(rows):
        _say(acme, f"发票问题 {i}", name=f"访客{i}")
    api.get("/api/v1/search/messages/", {"q": "发票"})  # warm-up: token last_used_at
    # the newest messages or the index (or both), then the messages with their conversation
    # and visitor
    reads = 2 + _extra_index_query(window, rows)
    with django_assert_num_queries(AUTH_QUERIES[api.kind] + reads):
        response = api.get("/api/v1/search/messages/", {"q": "发票"})
    assert len(response.json()["results"]) == rows


@pytest.mark.parametrize(
    "q, error",
    [
        ("x" * 10_000, "at most 100 characters"),
        ("?!。,、…——", "at least one letter or digit"),
        (" ".join("abcdefghij"), "at most 8 words"),
    ],
)
def test_bad_search_text_is_a_400(api, acme, q, error):
    _say(acme, "发票")
    for path in ("/api/v1/search/messages/", "/api/v1/conversations/"):
        response = api.get(path, {"q": q}, HTTP_ACCEPT_LANGUAGE="en")
        assert response.status_code == 400, (path, response.content)
        assert error in response.json()["q"][0]
    # In Chinese by default
    chinese = api.get("/api/v1/search/messages/", {"q": q}).json()["q"][0]
    assert chinese != error and any("\u4e00" <= c <= "\u9fff" for c in chinese)


def test_empty_search_text(api, acme):
    """An empty box: the message search needs something to look for; the conversation list
    simply does not search."""
    _say(acme, "发票")
    for q in ("", "   "):
        response = api.get("/api/v1/search/messages/", {"q": q})
        assert response.status_code == 400
        assert response.json()["q"]
        assert len(api.get("/api/v1/conversations/", {"q": q}).json()["results"]) == 1


def test_bad_page_parameters_are_400(api, acme):
    for params in ({"before": "x"}, {"before": "-1"}, {"page_size": "0"}, {"page_size": "1000"}):
        response = api.get("/api/v1/search/messages/", {"q": "发票", **params})
        assert response.status_code == 400, params
    assert api.get("/api/v1/search/messages/").status_code == 400  # q is required


def test_another_merchant_finds_nothing(acme, other, charlie, acme_token):
    _say(acme, "Acme 的发票 secret", name="张三", email="zhang@acme.test", phone="13800138000")
    _say(other, "Other 的发票")
    outsider = session_client(charlie)
    outsider_token = token_client(factories.api_token(other))
    for client in (outsider, outsider_token):
        results = client.get("/api/v1/search/messages/", {"q": "发票"}).json()["results"]
        assert [r["body"] for r in results] == ["Other 的发票"]
        for q in ("secret", "张三", "zhang@acme", "13800138000"):
            assert client.get("/api/v1/search/messages/", {"q": q}).json()["results"] == []
            assert client.get("/api/v1/conversations/", {"q": q}).json()["results"] == []
    # charlie's session naming Acme in the header is refused outright
    sneaky = session_client(charlie, merchant_id=acme.pk)
    assert sneaky.get("/api/v1/search/messages/", {"q": "发票"}).status_code in (403, 404)
    assert (
        token_client(acme_token).get("/api/v1/search/messages/", {"q": "secret"}).json()["results"]
    )


@pytest.mark.parametrize(
    "q, field",
    [("张三", "name"), ("ZHANG@ACME", "email"), ("1380013", "phone"), ("crm-42", "external_id")],
)
def test_conversation_q_finds_visitor_fields(api, acme, q, field):
    wanted = _say(
        acme,
        "你好",
        name="张三",
        email="zhang@acme.test",
        phone="13800138000",
        external_id="crm-42",
    )
    _say(acme, "你好", name="李四", email="li@acme.test")
    results = api.get("/api/v1/conversations/", {"q": q}).json()["results"]
    assert [r["id"] for r in results] == [wanted.conversation_id], field


def test_conversation_q_finds_message_bodies(api, acme, bob):
    wanted = _say(acme, "你好")
    factories.agent_message(bob, wanted.conversation_id, "您的发票已经寄出")
    _say(acme, "我要退款")
    results = api.get("/api/v1/conversations/", {"q": "发票"}).json()["results"]
    assert [r["id"] for r in results] == [wanted.conversation_id]


@pytest.mark.parametrize("rows", [1, 20])
def test_conversation_q_query_count_pinned(api, acme, django_assert_num_queries, rows, window):
    for i in range(rows):
        _say(acme, f"发票 {i}")
    api.get("/api/v1/conversations/", {"q": "发票"})
    # the visitors, the message hits (newest messages and/or the index), the page, its labels
    reads = 4 + _extra_index_query(window, rows)
    with django_assert_num_queries(AUTH_QUERIES[api.kind] + reads):
        response = api.get("/api/v1/conversations/", {"q": "发票"})
    assert len(response.json()["results"]) == rows


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_message_is_never_found(acme):
    """The index row is written in message_append's transaction. On SQLite and MySQL it rolls
    back with the message; Mroonga keeps it, and the search drops it (no such message)."""
    visitor = factories.visitor(acme)
    with pytest.raises(RuntimeError), transaction.atomic():
        factories.visitor_message(visitor, "回滚的发票")
        raise RuntimeError
    assert not Message.objects.filter(body="回滚的发票").exists()
    from conversations import selectors

    hits, _ = selectors.message_search(
        merchant_id=acme.pk, terms=["回滚的发票"], before_id=None, limit=10
    )
    assert hits == []


def test_parse_query_rules():
    assert search.parse_query("  发票  INVOICE 发票 ") == ["发票", "invoice"]
    assert search.parse_query("?? 订单!") == ["订单!"]
    with pytest.raises(search.QueryError):
        search.parse_query("?! …")


def test_highlights_are_merged_ranges():
    assert search.highlights("发票发票 invoice", ["发票", "voice"]) == [(0, 4), (7, 12)]
    assert search.highlights("ＡＢＣ abc", ["abc"]) == [(0, 3), (4, 7)]


def test_the_index_is_the_one_for_this_database(db):
    """SQLite: FTS5 trigram; MariaDB: Mroonga (CI installs mariadb-plugin-mroonga); MySQL 8:
    the bigram table. "like" (no index) would be correct but slow: it must not happen where we
    run."""
    from django.db import connection

    expected = (
        "fts5"
        if connection.vendor == "sqlite"
        else "mroonga"
        if connection.mysql_is_mariadb
        else "grams"
    )
    assert search.backend() == expected


@pytest.mark.parametrize("recent, most", [(4, 6), (3, 100), (1, 1)])
def test_window_reading_on_and_the_index_agree(api, acme, monkeypatch, recent, most):
    """The newest messages read first, read on at the word's rate, then the index: every page
    joined is every match, newest first, none twice, whatever the window sizes."""
    monkeypatch.setattr(search, "RECENT_WINDOW", recent)
    monkeypatch.setattr(search, "WINDOW_MAX", most)
    visitor = factories.visitor(acme)
    wanted = []
    for i in range(30):
        message = factories.visitor_message(visitor, f"第{i}条" + (" 发票" if i % 3 == 0 else ""))
        if i % 3 == 0:
            wanted.append(message.pk)
    _say(factories.merchant("别家"), "发票 别家")
    seen, url, params = [], "/api/v1/search/messages/", {"q": "发票", "page_size": 3}
    while url:
        page = api.get(url, params).json()
        seen += [r["id"] for r in page["results"]]
        url, params = page["next"], None
    assert seen == wanted[::-1]


@pytest.mark.django_db(transaction=True)
def test_deleted_messages_leave_the_index(acme, window):
    """Deleting a conversation (or a merchant) cascades in the database but not into the
    index table; the daily prune removes the text, and a message id used again is indexed
    afresh."""
    from conversations.models import Conversation
    from conversations.tasks import search_index_prune

    message = _say(acme, "要删除的发票")
    kept = _say(acme, "留下的发票")
    Conversation.objects.filter(pk=message.conversation_id).delete()
    assert [h.message.pk for h in _search(acme, "发票")] == [kept.pk]
    # at least the deleted one (a flush between transactional tests leaves rows too)
    assert search_index_prune() >= 1
    assert search_index_prune() == 0
    assert [h.message.pk for h in _search(acme, "发票")] == [kept.pk]


def _search(merchant, q):
    from conversations import selectors

    hits, _ = selectors.message_search(
        merchant_id=merchant.pk, terms=search.parse_query(q), before_id=None, limit=20
    )
    return hits


@pytest.mark.django_db(transaction=True)
def test_the_migration_indexes_messages_stored_before_it(acme, other):
    """Upgrading a database that already holds messages: 0010_search_index builds the index and
    fills it (in batches on MySQL/MariaDB), tenant by tenant as stored."""
    import importlib
    from types import SimpleNamespace

    from django.db import connection

    old = _say(acme, "升级前的发票 before upgrade")
    _say(other, "别家升级前的发票")
    migration = importlib.import_module("conversations.migrations.0010_search_index")
    editor = SimpleNamespace(connection=connection)
    migration.drop(None, editor)
    search._backend_for.cache_clear()
    try:
        migration.create(None, editor)
    finally:
        search._backend_for.cache_clear()
    assert [h.message.pk for h in _search(acme, "升级前的发票")] == [old.pk]
    assert [h.message.pk for h in _search(acme, "upgrade")] == [old.pk]


# Bodies of random words over a small alphabet, so bigrams recur (the gram table's filters meet
# bigrams that occur apart) and searches hit often: Chinese, letters of both cases, digits,
# punctuation, and full-width digits in a message except on SQLite, whose trigram index and
# LIKE do not fold widths (docs/search.md, "What matches").
ALPHABET = "发票退款订单开 abAB12.%"
FULL_WIDTH = "１２"


def _random_text(rng, lo: int, hi: int, alphabet: str = ALPHABET) -> str:
    """Never blank (a message is stored trimmed, and may not be empty)."""
    return "发" + "".join(rng.choice(alphabet) for _ in range(rng.randint(lo, hi) - 1))


def test_results_equal_the_plain_like_truth_on_random_data(acme, other, window):
    """Every page of every search, joined, is what a plain scan of the merchant's messages
    finds (search.matches on each body, newest first), never another merchant's, whatever the
    window: the index's candidates, the bigram table's filters and the body check agree."""
    import random

    from conversations import selectors

    rng = random.Random(window + 13)
    alphabet = ALPHABET + (FULL_WIDTH if search.backend() != "fts5" else "")
    visitors = [factories.visitor(acme) for _ in range(6)]
    for i in range(60):
        factories.visitor_message(visitors[i % 6], _random_text(rng, 1, 12, alphabet))
    for _ in range(15):
        _say(other, _random_text(rng, 1, 12))
    mine = list(Message.objects.filter(merchant=acme).exclude(kind="event").order_by("-pk"))
    searches = [
        " ".join(_random_text(rng, 1, 4)[1:] or "款" for _ in range(rng.randint(1, 2)))
        for _ in range(14)
    ] + ["发票", "ab", "12", "AB 发", "%"]
    for q in searches:
        try:
            terms = search.parse_query(q)
        except search.QueryError:
            continue
        truth = [m.pk for m in mine if search.matches(m.body, terms)]
        found, before = [], None
        while True:
            page, before = selectors.message_search(
                merchant_id=acme.pk, terms=terms, before_id=before, limit=4
            )
            found += [h.message.pk for h in page]
            if before is None:
                break
        assert found == truth, q
        conversations = selectors.conversation_list(merchant_id=acme.pk, terms=terms)
        assert {c.pk for c in conversations} == {
            m.conversation_id for m in mine if m.pk in truth
        }, q


def _gram_rows(message_id: int) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COUNT(*) FROM {search.GRAM_TABLE} WHERE message_id = %s", [message_id]
        )
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_the_bigram_table_follows_the_messages(acme):
    """MySQL's bigram table: a message's rows are written with it (one per distinct bigram,
    none across white space), taken out at once by an erasure (index_remove) and by the daily
    prune once the message is gone."""
    from conversations.models import Conversation
    from conversations.tasks import search_index_prune

    if search.backend() != "grams":
        pytest.skip("MySQL's bigram table only")
    erased = _say(acme, "发票发票 Ab")
    assert search.grams(search.normalize(erased.body)) == {"发票", "票发", "ab"}
    assert _gram_rows(erased.pk) == 3
    search.index_remove([erased.pk])
    assert _gram_rows(erased.pk) == 0
    deleted = _say(acme, "要删除的发票")
    Conversation.objects.filter(pk=deleted.conversation_id).delete()
    assert _gram_rows(deleted.pk) == 5
    assert search_index_prune() >= 1
    assert _gram_rows(deleted.pk) == 0


@pytest.mark.django_db(transaction=True)
def test_the_bigram_migration_fills_the_table_from_stored_messages(acme, other):
    """0014_search_grams on a MySQL database that already holds messages: the bigram table is
    built and filled, tenant by tenant; elsewhere it changes nothing."""
    import importlib
    from types import SimpleNamespace

    from django.db import connection

    old = _say(acme, "升级前的发票 before upgrade")
    _say(other, "别家升级前的发票 before upgrade")
    migration = importlib.import_module("conversations.migrations.0014_search_grams")
    editor = SimpleNamespace(connection=connection)
    was = search.backend()
    migration.drop(None, editor)
    search._backend_for.cache_clear()
    try:
        if was == "grams":
            assert search.backend() == "ngram"
        migration.create(None, editor)
    finally:
        search._backend_for.cache_clear()
    assert search.backend() == was
    assert [h.message.pk for h in _search(acme, "升级前的发票")] == [old.pk]
    assert [h.message.pk for h in _search(acme, "upgrade")] == [old.pk]
    if was == "grams":  # the ngram index the table replaced is gone
        with connection.cursor() as cursor:
            assert not migration._has_ngram_index(cursor)
