"""Reads of the batch path (messages._store_visitor_messages_together) written as SQL, with
rows made into model instances exactly as the ORM makes them (its converters, `from_db`):
the ORM compiled these queries again on every batch (docs/performance.md, "The fixed cost of a
batch"). Everything else stays on the ORM.
"""

from __future__ import annotations

from functools import cache

from django.db import connection
from django.db.transaction import TransactionManagementError

from ..models import Conversation, Visitor


@cache
def _shape(model) -> tuple[str, str, list]:
    """The model's quoted table, its column list and, per column, the converters the ORM
    would apply."""
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    fields = model._meta.concrete_fields
    converting = []
    for index, field in enumerate(fields):
        col = field.get_col(model._meta.db_table)
        converters = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
        if converters:
            converting.append((index, col, converters))
    columns = ", ".join(f"{table}.{quote(field.column)}" for field in fields)
    return table, columns, converting


def _instances(model, rows) -> list:
    _, _, converting = _shape(model)
    made = []
    for row in rows:
        values = list(row)
        for index, col, converters in converting:
            for converter in converters:
                values[index] = converter(values[index], col, connection)
        made.append(model.from_db(connection.alias, None, values))
    return made


def _marks(values) -> str:
    return ", ".join(["%s"] * len(values))


def _for_update() -> str:
    # SQLite has no row locks (the ORM leaves the clause out there too).
    if not connection.features.has_select_for_update:
        return ""
    if connection.get_autocommit():  # the ORM's guard: the locks would end with the statement
        raise TransactionManagementError(
            "select_for_update cannot be used outside of a transaction."
        )
    return " FOR UPDATE"


def _column(model, name: str) -> str:
    return connection.ops.quote_name(model._meta.get_field(name).column)


def visitors_lock(ids: list[int]) -> list[Visitor]:
    """The visitors of `ids`, locked (`FOR UPDATE`) in id order."""
    if not ids:
        return []
    table, columns, _ = _shape(Visitor)
    pk = _column(Visitor, "id")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {columns} FROM {table} WHERE {pk} IN ({_marks(ids)}) ORDER BY {pk}"
            + _for_update(),
            ids,
        )
        return _instances(Visitor, cursor.fetchall())


def open_conversations_lock(visitor_ids: list[int]) -> list[Conversation]:
    """The conversations of these visitors that are not closed, in id order, locked through
    their primary key as store.conversations_lock locks them (docs/routing.md, "Locks"): a
    plain read of their ids, the lock by id, then the rows; a row that started to match in
    between is locked in a second round. The same loop as conversations_lock, on SQL: a change
    to one is a change to both."""
    if not visitor_ids:
        return []
    table, columns, _ = _shape(Conversation)
    pk, visitor, status = (_column(Conversation, name) for name in ("id", "visitor", "status"))
    where = f"{visitor} IN ({_marks(visitor_ids)}) AND NOT ({status} = %s)"
    params = [*visitor_ids, Conversation.Status.CLOSED]
    locked: set[int] = set()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {pk} FROM {table} WHERE {where}", params)
        ids = {row[0] for row in cursor.fetchall()}
        while ids - locked:
            new = sorted(ids - locked)
            cursor.execute(
                f"SELECT {pk} FROM {table} WHERE {pk} IN ({_marks(new)}) ORDER BY {pk}"
                + _for_update(),
                new,
            )
            cursor.fetchall()
            locked.update(new)
            cursor.execute(f"SELECT {columns} FROM {table} WHERE {where} ORDER BY {pk}", params)
            rows = _instances(Conversation, cursor.fetchall())
            ids = {row.pk for row in rows}
            if ids <= locked:
                return rows
    return []
