"""What every write of this package shares: the field cleaners that turn bad input into
field errors (KefuError "invalid" with the field), the merchant-scoped row lookup, the generic
update and bulk delete (each bumps the KB version), and the comparison key of a wording."""

from __future__ import annotations

import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from kefu.errors import KefuError, NotFound

from ..textutil import split_lines
from ..training import kb_changed

MAX_LINES = 500  # similar questions, synonyms per row

# --- Field cleaning -----------------------------------------------------------------------------


def invalid(field: str, message: str) -> KefuError:
    return KefuError("invalid", message, field=field)


def clean_text(value, field: str, max_length: int, *, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise invalid(field, _("Must be text."))
    value = value.strip()
    if required and not value:
        raise invalid(field, _("This field is required."))
    if len(value) > max_length:
        raise invalid(
            field,
            _("At most %(n)d characters (it has %(m)d).") % {"n": max_length, "m": len(value)},
        )
    return value


def clean_lines(
    value, field: str, item_max: int, *, required: bool = False, max_lines: int = MAX_LINES
) -> list[str]:
    items = split_lines(value)
    if items is None:
        raise invalid(field, _("One per line, or a list of texts."))
    if required and not items:
        raise invalid(field, _("Give at least one."))
    if len(items) > max_lines:
        raise invalid(field, _("At most %(n)d lines.") % {"n": max_lines})
    for item in items:
        if len(item) > item_max:
            raise invalid(field, _("Each line at most %(n)d characters.") % {"n": item_max})
    return items


def clean_bool(value, field: str) -> bool:
    if isinstance(value, bool):
        return value
    raise invalid(field, _("Must be true or false."))


def clean_datetime(value, field: str) -> datetime.datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime.datetime):
        raise invalid(field, _("Must be a date and time."))
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    return value


def check_unique(queryset, exclude_pk, field: str, message: str, db: bool = True) -> None:
    """The name is free in this merchant. Importers pass db=False: they match a file's rows to
    existing ones by this key (update instead of error) and check repeats within the file."""
    if not db:
        return
    if exclude_pk is not None:
        queryset = queryset.exclude(pk=exclude_pk)
    if queryset.exists():
        raise invalid(field, message)


def scoped_row(model, merchant_id: int, pk, *, lock: bool = True):
    if not isinstance(pk, int) or isinstance(pk, bool):
        raise NotFound()
    qs = model.objects.filter(merchant_id=merchant_id, pk=pk)
    obj = (qs.select_for_update() if lock else qs).first()
    if obj is None:
        raise NotFound()
    return obj


def row_update(model, fields, clean, *, merchant_id: int, pk: int, changes: dict):
    unknown = set(changes) - set(fields)
    if unknown:
        raise TypeError(f"unknown fields: {sorted(unknown)}")
    obj = scoped_row(model, merchant_id, pk)
    merged = {name: getattr(obj, name) for name in fields} | changes
    values = clean(merchant_id=merchant_id, values=merged, pk=obj.pk)
    for name, value in values.items():
        setattr(obj, name, value)
    # Only the edited fields: a concurrent F() update of `hits` must not be overwritten.
    fields = list(values) + (["updated_at"] if hasattr(obj, "updated_at") else [])
    obj.save(update_fields=fields)
    kb_changed(merchant_id=merchant_id)
    return obj


@transaction.atomic
def kb_rows_delete(*, merchant_id: int, model, ids) -> int:
    """Bulk delete from the admin (its "delete selected" action), one version bump."""
    deleted, _detail = model.objects.filter(merchant_id=merchant_id, pk__in=list(ids)).delete()
    if deleted:
        kb_changed(merchant_id=merchant_id)
    return deleted


def reply_key(text: str) -> str:
    from ..dialogue import normalize

    return normalize(text).replace(" ", "")
