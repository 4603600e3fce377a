"""The message search index (conversations/search.py; docs/search.md): built per database,
then filled from the messages already stored."""

import logging

from django.db import migrations

log = logging.getLogger(__name__)

TABLE = "conversations_message_search"
BACKFILL_BATCH = 5000


def _has_mroonga(cursor) -> bool:
    cursor.execute(
        "SELECT COUNT(*) FROM information_schema.ENGINES "
        "WHERE ENGINE = 'Mroonga' AND SUPPORT IN ('YES', 'DEFAULT')"
    )
    return bool(cursor.fetchone()[0])


def create(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                f"CREATE VIRTUAL TABLE {TABLE} USING fts5("
                "body, merchant_id UNINDEXED, tokenize = 'trigram')"
            )
            cursor.execute(
                f"INSERT INTO {TABLE} (rowid, body, merchant_id) "
                "SELECT id, body, merchant_id FROM conversations_message"
            )
            return
        if connection.vendor != "mysql":
            return
        columns = (
            "message_id BIGINT NOT NULL PRIMARY KEY, merchant_id BIGINT NOT NULL, "
            "body LONGTEXT NOT NULL, KEY msearch_merchant (merchant_id, message_id)"
        )
        if connection.mysql_is_mariadb:
            if _has_mroonga(cursor):
                # Bigrams that also split symbols, letters and digits: 1-character terms match,
                # and "13800" finds a phone number inside a longer run of digits.
                cursor.execute(
                    f"CREATE TABLE {TABLE} ({columns}, FULLTEXT INDEX msearch_body (body) "
                    'COMMENT \'tokenizer "TokenBigramSplitSymbolAlphaDigit", '
                    'normalizer "NormalizerAuto"\') '
                    "ENGINE=Mroonga DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci"
                )
            else:
                log.warning(
                    "MariaDB without the Mroonga engine: message search uses LIKE "
                    "(install mariadb-plugin-mroonga and migrate again to index it)."
                )
                cursor.execute(f"CREATE TABLE {TABLE} ({columns}) DEFAULT CHARSET=utf8mb4")
        else:
            # MySQL 8: ngram bigrams. Stopwords off before the index is built: with the
            # ngram parser any bigram containing a stopword ("a", "i", ...) is dropped.
            cursor.execute("SET SESSION innodb_ft_enable_stopword = OFF")
            cursor.execute(
                f"CREATE TABLE {TABLE} ({columns}, FULLTEXT INDEX msearch_body (body) "
                "WITH PARSER ngram) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
            )
        last = 0
        while True:
            cursor.execute(
                "SELECT id FROM conversations_message WHERE id > %s ORDER BY id LIMIT 1 OFFSET %s",
                [last, BACKFILL_BATCH - 1],
            )
            row = cursor.fetchone()
            upto = row[0] if row else None
            cursor.execute(
                f"REPLACE INTO {TABLE} (message_id, merchant_id, body) "
                "SELECT id, merchant_id, body FROM conversations_message WHERE id > %s"
                + (" AND id <= %s" if upto else ""),
                [last, upto] if upto else [last],
            )
            if upto is None:
                break
            last = upto


def drop(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {TABLE}")


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0009_search_snooze"),
    ]

    operations = [migrations.RunPython(create, drop)]
