"""Full-text search over message bodies: the index table, kept in step by message_append, and
the one query that reads it. Chinese and English alike: every backend matches substrings of
characters, not words, so 发票 finds "我要开发票" without a word segmenter. docs/search.md has
the design, the measured figures and why each backend is built the way it is.

The index is one table, `conversations_message_search` (message id, merchant id, body), built
per database by the 0010_search_index migration (and on MySQL the bigram table beside it):

- SQLite: an FTS5 table with the trigram tokenizer. A term of 1-2 characters has no trigram;
  such terms are matched with LIKE, on the trigram hits when another term has three characters
  or more, else on the merchant's messages newest first (a scan that stops at a full page).
- MySQL 8: a table of our own, `conversations_message_gram` (0014_search_grams): one InnoDB row
  (merchant id, bigram, message id) per distinct bigram of each normalised body, read newest
  first from the search's rarest bigram (gram_ids). It replaced InnoDB's ngram FULLTEXT index,
  which read every posting of every bigram asked (0.5-3 s at 1,000,000 messages). The search
  table keeps the body, to know which bigram rows to delete. Transactional: the rows commit with
  the message. 1-character terms: matched on the bodies of the hits, or the newest messages.
- MariaDB: the Mroonga storage engine (Debian's mariadb-plugin-mroonga) with a bigram
  tokenizer that also matches single characters. Mroonga is not transactional: a rolled-back
  message leaves its index row behind. Search therefore joins every hit to the message table
  (InnoDB, so only committed rows exist) and checks the body again in Python before showing it;
  a stale row costs a few bytes and is never seen. Rows are written with REPLACE so an id used
  again (after a TRUNCATE in tests) overwrites the old text.
- MariaDB without Mroonga: a plain table and LIKE on the merchant's messages (correct, slow on
  big merchants; the migration logs a warning).

Every query is scoped by merchant_id in SQL; the index is never read without it.
"""

from __future__ import annotations

import functools
import itertools
import logging
import math
import unicodedata
from dataclasses import dataclass

from django.db import connection
from django.utils.translation import gettext as _

log = logging.getLogger(__name__)

TABLE = "conversations_message_search"
# Longest search text, in characters, and most terms: past these a search is refused (400).
MAX_QUERY_LENGTH = 100
MAX_TERMS = 8
# The conversation list's `q` looks at the conversations of the newest this-many matching
# messages and visitors (a page holds 50 conversations; it keeps the query bounded).
CONVERSATION_HITS = 200
# message_ids reads the newest this-many messages of the merchant before asking the index
# (docs/search.md, "Recent first"); 0 asks the index alone.
RECENT_WINDOW = 500
# ... and reads on, once, up to this many more when the word is frequent enough to fill the
# page from them.
WINDOW_MAX = 5000
# On MySQL four times as far: InnoDB's full-text index answers a word made of common bigrams in
# 0.5-3 s at 1,000,000 messages, where 20,000 rows read here take 120-170 ms (docs/search.md).
WINDOW_MAX_FACTOR = {"ngram": 4}


# MySQL: the bigram table of migration 0014_search_grams (docs/search.md, "MySQL: a bigram
# table"); gram_ids walks the rarest bigram's rows newest first and joins up to GRAM_FILTERS
# more bigrams to each (four or eight made no measurable difference).
GRAM_TABLE = "conversations_message_gram"
GRAM_FILTERS = 4
# Bigrams counted (up to GRAM_COUNT_CAP rows each) to pick the rarest.
GRAM_COUNTED = 12
GRAM_COUNT_CAP = 2000


class QueryError(ValueError):
    """A search text that cannot be searched; the message says why (shown as a 400)."""


def normalize(text: str) -> str:
    """What both sides are compared in: NFKC (full-width Ａ and half-width A are one letter)
    and case-folded."""
    return unicodedata.normalize("NFKC", text).casefold()


def _has_word_char(term: str) -> bool:
    return any(unicodedata.category(c)[0] in "LN" for c in term)


def parse_query(raw: str) -> list[str]:
    """The terms of a search text: whitespace-separated pieces that hold a letter or digit,
    normalised, duplicates dropped. Raises QueryError when nothing is left or it is too long."""
    text = (raw or "").strip()
    if not text:
        raise QueryError(_("Type something to search for."))
    if len(text) > MAX_QUERY_LENGTH:
        raise QueryError(_("Search for at most %(n)d characters.") % {"n": MAX_QUERY_LENGTH})
    terms: list[str] = []
    for piece in normalize(text).split():
        if _has_word_char(piece) and piece not in terms:
            terms.append(piece)
    if not terms:
        raise QueryError(_("Search for at least one letter or digit."))
    if len(terms) > MAX_TERMS:
        raise QueryError(_("Search for at most %(n)d words.") % {"n": MAX_TERMS})
    return terms


def matches(body: str, terms: list[str]) -> bool:
    folded = normalize(body)
    return all(t in folded for t in terms)


def grams(folded: str) -> set[str]:
    """The distinct bigrams of a normalised text without white space (the gram table's rows
    for a body, the lookups for a term: a term never holds white space)."""
    return {
        folded[i : i + 2]
        for i in range(len(folded) - 1)
        if not (folded[i].isspace() or folded[i + 1].isspace())
    }


def highlights(body: str, terms: list[str]) -> list[tuple[int, int]]:
    """(start, end) character ranges of `body` where a term occurs, merged and in order. Found
    in the normalised text; NFKC can change a string's length, and then the ranges are those of
    the first occurrence found by a per-character walk (good enough to mark, never to cut)."""
    folded = normalize(body)
    if len(folded) != len(body):
        # Map each original character to its normalised form to find offsets.
        folded_chars = [normalize(c) for c in body]
        if all(len(c) == 1 for c in folded_chars):
            folded = "".join(folded_chars)
        else:
            return []
    spans = []
    for term in terms:
        start = folded.find(term)
        while start != -1:
            spans.append((start, start + len(term)))
            start = folded.find(term, start + len(term))
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


# --- Which backend ------------------------------------------------------------------------------


@functools.cache
def _backend_for(alias_key: str) -> str:
    """ "fts5", "grams", "ngram", "mroonga" or "like", from what the migrations built."""
    if connection.vendor == "sqlite":
        return "fts5"
    if connection.vendor != "mysql":
        return "like"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ENGINE FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s",
            [TABLE],
        )
        row = cursor.fetchone()
        engine = (row[0] or "").lower() if row else ""
        if engine == "mroonga":
            return "mroonga"
        cursor.execute(
            "SELECT COUNT(*) FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s",
            [GRAM_TABLE],
        )
        if cursor.fetchone()[0]:
            return "grams"
        cursor.execute(
            "SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() "
            "AND TABLE_NAME = %s AND INDEX_TYPE = 'FULLTEXT'",
            [TABLE],
        )
        return "ngram" if cursor.fetchone()[0] else "like"


def backend() -> str:
    # Keyed by database name: the test run switches from the main database to the test one.
    return _backend_for(str(connection.settings_dict.get("NAME")))


# --- Writing (message_append, the migration's backfill) -----------------------------------------


def index_message(*, message_id: int, merchant_id: int, body: str) -> None:
    """Add one message to the index, in the caller's transaction (message_append's)."""
    kind = backend()
    with connection.cursor() as cursor:
        if kind == "fts5":
            # OR REPLACE: a rowid left by a deleted message (see index_prune) is overwritten.
            cursor.execute(
                f"INSERT OR REPLACE INTO {TABLE} (rowid, body, merchant_id) VALUES (%s, %s, %s)",
                [message_id, body, merchant_id],
            )
        elif kind in ("mroonga", "ngram", "grams"):
            cursor.execute(
                f"REPLACE INTO {TABLE} (message_id, merchant_id, body) VALUES (%s, %s, %s)",
                [message_id, merchant_id, body],
            )
        # "like": nothing to keep; the message table is searched itself.
    if kind == "grams":
        grams_insert([(message_id, merchant_id, body)])


def index_messages(rows: list[tuple[int, int, str]]) -> None:
    """index_message for many (message_id, merchant_id, body) at once: one statement (the
    visitor-message batch, services.store.message_append_many)."""
    kind = backend()
    if not rows or kind == "like":
        return
    marks = ", ".join(["(%s, %s, %s)"] * len(rows))
    if kind == "fts5":
        sql = f"INSERT OR REPLACE INTO {TABLE} (rowid, merchant_id, body) VALUES {marks}"
    else:
        sql = f"REPLACE INTO {TABLE} (message_id, merchant_id, body) VALUES {marks}"
    with connection.cursor() as cursor:
        cursor.execute(sql, [value for row in rows for value in row])
    if kind == "grams":
        grams_insert(rows)


def grams_insert(rows) -> None:
    """The gram table's rows of these (message_id, merchant_id, body): one multi-row statement
    (IGNORE: a message id used again after a TRUNCATE may find its old rows; a stale row only
    makes a candidate that the body check drops)."""
    values = [
        (merchant_id, gram.encode(), message_id)
        for message_id, merchant_id, body in rows
        for gram in grams(normalize(body))
    ]
    if not values:
        return
    marks = ", ".join(["(%s, %s, %s)"] * len(values))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT IGNORE INTO {GRAM_TABLE} (merchant_id, gram, message_id) VALUES {marks}",
            [value for row in values for value in row],
        )


def _grams_delete(cursor, rows) -> None:
    """Delete the gram rows of these (message_id, merchant_id, body) search rows, by primary
    key (the gram table has no index by message id: it would double its size)."""
    keys = [
        (merchant_id, gram.encode(), message_id)
        for message_id, merchant_id, body in rows
        for gram in grams(normalize(body))
    ]
    for start in range(0, len(keys), 1000):
        chunk = keys[start : start + 1000]
        marks = ", ".join(["(%s, %s, %s)"] * len(chunk))
        cursor.execute(
            f"DELETE FROM {GRAM_TABLE} WHERE (merchant_id, gram, message_id) IN ({marks})",
            [value for key in chunk for value in key],
        )


def index_remove(message_ids) -> None:
    """Take these messages' text out of the index now (an erasure or retention: their text must
    not outlive them until the daily prune)."""
    kind = backend()
    if kind == "like":
        return
    key = "rowid" if kind == "fts5" else "message_id"
    ids = list(message_ids)
    with connection.cursor() as cursor:
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join(["%s"] * len(chunk))
            if kind == "grams":
                # The body of the search row says which gram rows to delete.
                cursor.execute(
                    f"SELECT message_id, merchant_id, body FROM {TABLE} "
                    f"WHERE message_id IN ({marks})",
                    chunk,
                )
                _grams_delete(cursor, cursor.fetchall())
            cursor.execute(f"DELETE FROM {TABLE} WHERE {key} IN ({marks})", chunk)


def index_prune() -> int:
    """Delete index rows whose message is gone (a conversation or merchant deleted, a message
    rolled back under Mroonga), so their text does not outlive them. Run daily by the beat
    (conversations.tasks.search_index_prune); returns how many rows it removed."""
    kind = backend()
    key = "rowid" if kind == "fts5" else "message_id"
    if kind == "like":
        return 0
    if kind == "grams":
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT message_id FROM {TABLE} "
                "WHERE message_id NOT IN (SELECT id FROM conversations_message)"
            )
            gone = [row[0] for row in cursor.fetchall()]
        index_remove(gone)
        return len(gone)
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {TABLE} WHERE {key} NOT IN (SELECT id FROM conversations_message)"
        )
        return cursor.rowcount


# --- Reading ------------------------------------------------------------------------------------


def _like(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _phrase(term: str) -> str:
    """A term as a quoted phrase of a MATCH query (FTS5 doubles quotes; MySQL and Mroonga
    take a backslash)."""
    if backend() == "fts5":
        return '"' + term.replace('"', '""') + '"'
    return '"' + term.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass
class Hits:
    ids: list[int]  # message ids, newest first
    more: bool  # the index had more candidates after the last id


def message_ids(*, merchant_id: int, terms: list[str], before_id: int | None, limit: int) -> Hits:
    """Ids of the merchant's messages that contain every term, newest first, below
    `before_id` (the caller checks each body again: an index row may be stale).

    First the newest RECENT_WINDOW messages are read and matched here: a common word fills
    the page from them at once, where the index would have to collect and sort every one of
    its tens of thousands of matches to find the newest. If the window holds the merchant's
    whole history, that is the answer; otherwise the index answers for the older messages."""
    # MySQL's bigram table, for terms of two characters or more; what the window shows of
    # each bigram then picks the one to read when several are common.
    by_grams = backend() == "grams" and any(len(t) >= 2 for t in terms)
    seen = dict.fromkeys(_term_grams(terms) if by_grams else (), 0)
    ids: list[int] = []
    # How many of the messages read hold each term: the index is then asked for the rarest.
    counts = dict.fromkeys(terms, 0)
    window = RECENT_WINDOW
    while window:
        rows = _newest(merchant_id=merchant_id, before_id=before_id, limit=window)
        found = []
        for pk, body in rows:
            folded = normalize(body)
            for g in seen:
                seen[g] += g in folded
            held = [t for t in terms if t in folded]
            for t in held:
                counts[t] += 1
            if len(held) == len(terms):
                found.append(pk)
        ids += found
        if len(ids) > limit:
            return Hits(ids=ids[:limit], more=True)
        if len(rows) < window:
            return Hits(ids=ids, more=False)  # the whole history was read
        before_id = rows[-1][0]
        # A word in a few percent of messages: read on as far as its rate says the page
        # needs (half as much again), up to WINDOW_MAX; a rarer one goes to the index.
        if window != RECENT_WINDOW or len(found) < 2 or by_grams:
            break
        most = WINDOW_MAX * WINDOW_MAX_FACTOR.get(backend(), 1)
        window = min(most, math.ceil((limit + 1 - len(ids)) * len(rows) / len(found) * 1.5))
    if by_grams:
        older = gram_ids(
            merchant_id=merchant_id,
            terms=terms,
            before_id=before_id,
            limit=limit - len(ids),
            seen=seen,
        )
        return Hits(ids=ids + older.ids, more=older.more)
    older = index_ids(
        merchant_id=merchant_id,
        terms=terms,
        before_id=before_id,
        limit=limit - len(ids),
        counts=counts if RECENT_WINDOW else None,
    )
    return Hits(ids=ids + older.ids, more=older.more)


def _term_grams(terms: list[str]) -> list[str]:
    """Up to GRAM_COUNTED bigrams of the terms, round robin over the terms (each term has one
    among them; a 1-character term has none and is matched on the bodies alone)."""
    ordered: list[str] = []
    for column in itertools.zip_longest(*(sorted(grams(t)) for t in terms if len(t) >= 2)):
        ordered += [g for g in column if g is not None and g not in ordered]
    return ordered[:GRAM_COUNTED]


def gram_ids(
    *,
    merchant_id: int,
    terms: list[str],
    before_id: int | None,
    limit: int,
    seen: dict[str, int] | None = None,
) -> Hits:
    """message_ids on MySQL, by the gram table (docs/search.md, "MySQL: a bigram table"): the
    rows of the terms' rarest bigram, read newest first by its primary key (merchant, gram,
    message id), each joined to the rows of up to GRAM_FILTERS other bigrams of the terms and to
    its message, whose body decides (the bigrams of a term can occur apart). A page stops the
    read: a common word costs its newest few rows, a rare one the rows of its rarest bigram.
    Queries: the bigrams counted (when a search has more than one), then the walk (again, wider,
    while bodies that do not match leave the page short)."""
    ordered = _term_grams(terms)
    seen = seen or {}
    if len(ordered) > 1:
        counts = _gram_counts(merchant_id, ordered)
        if not min(counts.values()):
            return Hits(ids=[], more=False)  # a bigram in no message of the merchant
        # Fewest rows first; among those past the cap, the fewest in the newest messages.
        ordered.sort(key=lambda g: (counts[g], seen.get(g, 0)))
    driver, filters = ordered[0], ordered[1 : 1 + GRAM_FILTERS]
    sql = (
        f"SELECT g.message_id, m.body FROM {GRAM_TABLE} g"
        + "".join(
            f" STRAIGHT_JOIN {GRAM_TABLE} g{i} ON g{i}.merchant_id = g.merchant_id"
            f" AND g{i}.gram = %s AND g{i}.message_id = g.message_id"
            for i in range(len(filters))
        )
        + " STRAIGHT_JOIN conversations_message m ON m.id = g.message_id"
        + " WHERE g.merchant_id = %s AND g.gram = %s AND m.merchant_id = %s"
        + " AND g.message_id < %s ORDER BY g.message_id DESC LIMIT %s"
    )
    ids: list[int] = []
    below = before_id or 2**63 - 1
    batch = 2 * (limit + 1)
    with connection.cursor() as cursor:
        while True:
            cursor.execute(
                sql,
                [f.encode() for f in filters]
                + [merchant_id, driver.encode(), merchant_id, below, batch],
            )
            rows = cursor.fetchall()
            for pk, body in rows:
                if matches(body, terms):
                    ids.append(pk)
                    if len(ids) > limit:
                        return Hits(ids=ids[:limit], more=True)
            if len(rows) < batch:
                return Hits(ids=ids, more=False)
            below, batch = rows[-1][0], min(batch * 4, 20_000)


def _gram_counts(merchant_id: int, wanted: list[str]) -> dict[str, int]:
    """How many of the merchant's messages hold each bigram, counted up to GRAM_COUNT_CAP (a
    range of the primary key each; past the cap a bigram is common, and which of two common
    ones is rarer matters little): one query."""
    sql = " UNION ALL ".join(
        f"SELECT {i}, COUNT(*) FROM (SELECT 1 FROM {GRAM_TABLE} WHERE merchant_id = %s "
        f"AND gram = %s LIMIT {GRAM_COUNT_CAP}) t{i}"
        for i in range(len(wanted))
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [v for g in wanted for v in (merchant_id, g.encode())])
        return {wanted[i]: n for i, n in cursor.fetchall()}


def _newest(*, merchant_id: int, before_id: int | None, limit: int) -> list[tuple[int, str]]:
    """(id, body) of the merchant's newest messages below before_id, by the message_merchant_id
    index. MariaDB is told to use it: with one merchant holding most rows its statistics pick
    a backward scan of the primary key, which reads every newer message of every other
    merchant first (measured: 300 ms instead of 20 for a window of 1,000 behind 100,000 rows
    of another merchant)."""
    hint = " FORCE INDEX (message_merchant_id)" if connection.vendor == "mysql" else ""
    sql = (
        f"SELECT id, body FROM conversations_message{hint} WHERE merchant_id = %s"
        # System lines ("Bob joined") are the product's words, never indexed or found.
        + " AND kind <> 'event'"
        + (" AND id < %s" if before_id else "")
        + " ORDER BY id DESC LIMIT %s"
    )
    params = [merchant_id] + ([before_id] if before_id else []) + [limit]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def index_ids(
    *,
    merchant_id: int,
    terms: list[str],
    before_id: int | None,
    limit: int,
    counts: dict[str, int] | None = None,
) -> Hits:
    """message_ids through the index alone (or LIKE where the index cannot take the terms).

    `counts`: how many of the newest messages held each term. On MySQL the index is then asked
    for the rarest term alone and the others are matched with LIKE on its hits: InnoDB reads
    every posting of every term asked, and a common word ("order") made "退款 order" cost 2.8 s
    against 0.4 s for 退款 + LIKE (docs/search.md). Not on MariaDB: a LIKE stops Mroonga sorting
    and limiting inside the index (146 ms with both terms, 249 ms with one and LIKE); nor on
    SQLite, whose LIKE would not fold full-width letters."""
    kind = backend()
    if kind == "grams" and any(len(t) >= 2 for t in terms):
        return gram_ids(merchant_id=merchant_id, terms=terms, before_id=before_id, limit=limit)
    long_terms = [t for t in terms if len(t) >= {"fts5": 3, "ngram": 2}.get(kind, 1)]
    if counts and kind == "ngram" and len(long_terms) > 1:
        # Fewest seen first; of those, the longest (its postings are the fewest).
        long_terms = [min(long_terms, key=lambda t: (counts.get(t, 0), -len(t)))]
    short_terms = [t for t in terms if t not in long_terms]
    params: list = []
    if kind in ("fts5", "ngram", "mroonga") and long_terms:
        if kind == "fts5":
            sql = (
                f"SELECT rowid FROM {TABLE} WHERE {TABLE} MATCH %s AND merchant_id = %s"
                + "".join(" AND body LIKE %s ESCAPE '\\'" for _ in short_terms)
                + (" AND rowid < %s" if before_id else "")
                + " ORDER BY rowid DESC LIMIT %s"
            )
            params = [" AND ".join(_phrase(t) for t in long_terms), merchant_id]
        else:
            sql = (
                f"SELECT message_id FROM {TABLE} "
                "WHERE MATCH(body) AGAINST (%s IN BOOLEAN MODE) AND merchant_id = %s"
                + "".join(" AND body LIKE %s" for _ in short_terms)
                + (" AND message_id < %s" if before_id else "")
                + " ORDER BY message_id DESC LIMIT %s"
            )
            params = [" ".join("+" + _phrase(t) for t in long_terms), merchant_id]
        params += [_like(t) for t in short_terms]
    else:
        # No term the index can take: the merchant's messages, newest first, until a page is
        # full (the message_merchant_id index; see _newest).
        escape = " ESCAPE '\\'" if connection.vendor == "sqlite" else ""
        sql = (
            "SELECT id FROM conversations_message"
            + (" FORCE INDEX (message_merchant_id)" if connection.vendor == "mysql" else "")
            + " WHERE merchant_id = %s"
            + "".join(f" AND body LIKE %s{escape}" for _ in terms)
            + (" AND id < %s" if before_id else "")
            + " ORDER BY id DESC LIMIT %s"
        )
        params = [merchant_id] + [_like(t) for t in terms]
    if before_id:
        params.append(before_id)
    params.append(limit + 1)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        ids = [row[0] for row in cursor.fetchall()]
    return Hits(ids=ids[:limit], more=len(ids) > limit)
