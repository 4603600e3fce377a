"""MySQL's message search by a bigram table of our own (conversations/search.py, gram_ids;
docs/search.md, "MySQL: a bigram table") instead of InnoDB's ngram FULLTEXT index, which is
dropped: filled here from the messages already stored. MariaDB (Mroonga) and SQLite keep their
index; nothing changes there."""

import unicodedata

from django.db import migrations

TABLE = "conversations_message_search"
GRAM_TABLE = "conversations_message_gram"
BATCH = 5000


def _is_mysql(connection) -> bool:
    return connection.vendor == "mysql" and not connection.mysql_is_mariadb


def _grams(body: str) -> set[str]:
    # search.grams(search.normalize(body)), as it is today: a migration keeps its own copy.
    folded = unicodedata.normalize("NFKC", body).casefold()
    return {
        folded[i : i + 2]
        for i in range(len(folded) - 1)
        if not (folded[i].isspace() or folded[i + 1].isspace())
    }


def create(apps, schema_editor):
    connection = schema_editor.connection
    if not _is_mysql(connection):
        return
    with connection.cursor() as cursor:
        # Bigrams as their UTF-8 bytes (compared as bytes: they are normalised when written).
        cursor.execute(
            f"CREATE TABLE {GRAM_TABLE} (merchant_id BIGINT NOT NULL, gram VARBINARY(8) NOT NULL, "
            "message_id BIGINT NOT NULL, PRIMARY KEY (merchant_id, gram, message_id)) "
            "ENGINE=InnoDB"
        )
        last = 0
        while True:
            cursor.execute(
                "SELECT id, merchant_id, body FROM conversations_message "
                "WHERE id > %s AND kind <> 'event' ORDER BY id LIMIT %s",
                [last, BATCH],
            )
            rows = cursor.fetchall()
            if not rows:
                break
            last = rows[-1][0]
            values = [(m, g.encode(), pk) for pk, m, body in rows for g in _grams(body)]
            for start in range(0, len(values), BATCH):
                chunk = values[start : start + BATCH]
                cursor.execute(
                    f"INSERT IGNORE INTO {GRAM_TABLE} (merchant_id, gram, message_id) VALUES "
                    + ", ".join(["(%s, %s, %s)"] * len(chunk)),
                    [v for row in chunk for v in row],
                )
        # Nothing reads the ngram index any more; it cost every message's commit.
        if _has_ngram_index(cursor):
            cursor.execute(f"ALTER TABLE {TABLE} DROP INDEX msearch_body")


def _has_ngram_index(cursor) -> bool:
    cursor.execute(
        "SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() "
        "AND TABLE_NAME = %s AND INDEX_NAME = 'msearch_body'",
        [TABLE],
    )
    return bool(cursor.fetchone()[0])


def drop(apps, schema_editor):
    connection = schema_editor.connection
    if not _is_mysql(connection):
        return
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {GRAM_TABLE}")
        if not _has_ngram_index(cursor):
            cursor.execute("SET SESSION innodb_ft_enable_stopword = OFF")
            cursor.execute(
                f"ALTER TABLE {TABLE} ADD FULLTEXT INDEX msearch_body (body) WITH PARSER ngram"
            )


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0013_routing_reason_i18n"),
    ]

    operations = [migrations.RunPython(create, drop)]
