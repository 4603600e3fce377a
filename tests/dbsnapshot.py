"""A world of rows built once through the services, and put back as plain rows for each test.

For a module whose many tests each need the same world on a `transactional_db` (sockets see
the rows from other threads, so nothing can be rolled back): building it through the factories
runs the services' whole path (the post-commit pipeline and the router for every message), which
cost a second or more per test; copying its rows back after pytest-django's flush costs a few
inserts. Every test still starts from the same rows, as if it had built them itself.

    before = dbsnapshot.counts()
    ... build the world through the factories ...
    snapshot = dbsnapshot.Snapshot(before)   # the rows the build added
    ... later tests, after the flush: snapshot.restore()

Only the model tables the build added rows to are copied: tables the flush refills by itself
(content types and permissions, from post_migrate) must not grow during the build (Snapshot
refuses). Date-times are moved forward by the time since the build, so ages (a visitor last
seen, a conversation waiting since) are what they were right after building."""

from __future__ import annotations

import datetime

from django.db import connection, transaction
from django.utils import timezone


def _tables() -> list[str]:
    return sorted(connection.introspection.django_table_names(only_existing=True))


def counts() -> dict[str, int]:
    """Rows in each model table."""
    quote = connection.ops.quote_name
    found = {}
    with connection.cursor() as cursor:
        for table in _tables():
            cursor.execute(f"SELECT COUNT(*) FROM {quote(table)}")
            found[table] = cursor.fetchone()[0]
    return found


class Snapshot:
    def __init__(self, before: dict[str, int]):
        after = counts()
        changed = [t for t in after if after[t] != before.get(t, 0)]
        refilled = [t for t in changed if before.get(t)]
        if refilled:
            raise RuntimeError(f"the build changed tables that were not empty: {refilled}")
        quote = connection.ops.quote_name
        self.taken_at = timezone.now()
        self.rows: dict[str, tuple[list[str], list[tuple]]] = {}
        with connection.cursor() as cursor:
            for table in changed:
                cursor.execute(f"SELECT * FROM {quote(table)}")
                columns = [c[0] for c in cursor.description]
                self.rows[table] = (columns, [tuple(r) for r in cursor.fetchall()])

    def restore(self) -> None:
        """Insert the rows again (into tables the flush emptied), with their own ids."""
        shift = timezone.now() - self.taken_at
        quote = connection.ops.quote_name

        def moved(value):
            return value + shift if isinstance(value, datetime.datetime) else value

        with connection.constraint_checks_disabled(), transaction.atomic():
            with connection.cursor() as cursor:
                for table, (columns, rows) in self.rows.items():
                    names = ", ".join(quote(c) for c in columns)
                    marks = ", ".join(["%s"] * len(columns))
                    cursor.executemany(
                        f"INSERT INTO {quote(table)} ({names}) VALUES ({marks})",
                        [tuple(moved(v) for v in row) for row in rows],
                    )


class PostMigrateRows:
    """`flush`'s post_migrate step, after the first time as the rows it wrote.

    pytest-django flushes the database after every `transactional_db` test, and Django's flush
    then sends post_migrate, whose receivers (content types, permissions) read each app's
    models and write their rows again: some sixty queries, 0.1 to 0.3 s of every transactional
    test. Their rows are the same every time, so the first flush of a process lets the signal
    run and keeps what it wrote; every later one inserts those rows again, with the same ids (a
    fresh database keeps its ids too), and clears the content-type cache as the receiver does.
    Installed by tests/conftest.py in place of the flush command's emit_post_migrate_signal."""

    def __init__(self, emit):
        self.emit = emit
        self.snapshot: Snapshot | None = None

    def __call__(self, verbosity, interactive, db, **kwargs) -> None:
        if db != "default" or kwargs:
            return self.emit(verbosity, interactive, db, **kwargs)
        from django.contrib.contenttypes.models import ContentType

        if self.snapshot is None:
            self.emit(verbosity, interactive, db)
            # Every model table was empty before the signal (the flush had just emptied them).
            self.snapshot = Snapshot({})
        else:
            self.snapshot.restore()
            ContentType.objects.clear_cache()
