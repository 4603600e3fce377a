"""Keyset pagination for every list endpoint of the API; each view names its sort key."""

from __future__ import annotations

import base64
import binascii
import datetime
import functools
import json
import operator

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers
from rest_framework.pagination import CursorPagination
from rest_framework.utils.urls import replace_query_param

from . import jsonsafe


class KeysetPagination(CursorPagination):
    """DRF's cursor pagination (same `cursor` / `page_size` parameters and response), with the
    cursor holding the whole sort key of the row it stops at.

    DRF's own cursor keeps only the first ordering field and cannot page across NULLs
    (`last_message_at` is nullable), and a cursor edited by hand made it filter with junk and
    fail with a 500. Here the next page is "rows strictly after (k1, k2, ...)", a bad cursor or
    page size is a 400, and NULLs count as the lowest value, which is where MySQL/MariaDB and
    SQLite sort them.
    """

    page_size = 50
    max_page_size = 100
    page_size_query_param = "page_size"
    # Nullable fields whose NULLs sort as the highest value instead (e.g. "waiting since",
    # ascending, with the rows nobody waits on last).
    nulls_high: tuple[str, ...] = ()

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:  # "²".isdigit() is True
            raise serializers.ValidationError(
                {self.page_size_query_param: [_("A whole number of at least 1.")]}
            )
        return min(int(raw), self.max_page_size)

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.base_url = request.build_absolute_uri()
        self.page_size = self.get_page_size(request)
        self.fields = [(name.lstrip("-"), name.startswith("-")) for name in self.ordering]
        model = queryset.model
        self.model_fields = [model._meta.get_field(name) for name, _desc in self.fields]
        cursor = self.decode_cursor(request)
        reverse = bool(cursor and cursor[1])
        # Going backwards, read the rows before the cursor nearest first, then flip them.
        fields = [(name, desc != reverse) for name, desc in self.fields]
        queryset = queryset.order_by(*[self._order(name, desc) for name, desc in fields])
        if cursor:
            queryset = queryset.filter(self._after(fields, cursor[0]))
        rows = list(queryset[: self.page_size + 1])
        more, self.page = len(rows) > self.page_size, rows[: self.page_size]
        if reverse:
            self.page.reverse()
        self.has_next = cursor is not None if reverse else more
        self.has_previous = more if reverse else cursor is not None
        # An empty page still links back to where the client came from.
        self.first_key = self._key(self.page[0]) if self.page else cursor and cursor[0]
        self.last_key = self._key(self.page[-1]) if self.page else cursor and cursor[0]
        return self.page

    def _order(self, name: str, desc: bool):
        if name not in self.nulls_high:
            return ("-" if desc else "") + name
        return F(name).desc(nulls_first=True) if desc else F(name).asc(nulls_last=True)

    def _after(self, fields, key) -> Q:
        """Rows strictly after `key` in `fields` order: for some field i, equal on the fields
        before i and beyond the key on field i."""
        terms, equal = [], Q()
        for (name, desc), field, value in zip(fields, self.model_fields, key):
            # Where NULLs go: after the non-NULL values in this direction, or before them.
            nulls_follow = desc != (name in self.nulls_high)
            if value is None:
                # Past a NULL: the non-NULL values, when they come after NULLs.
                if not nulls_follow:
                    terms.append(equal & Q(**{f"{name}__isnull": False}))
                equal &= Q(**{f"{name}__isnull": True})
                continue
            beyond = Q(**{f"{name}__{'lt' if desc else 'gt'}": value})
            if nulls_follow and field.null:
                beyond |= Q(**{f"{name}__isnull": True})
            terms.append(equal & beyond)
            equal &= Q(**{name: value})
        return functools.reduce(operator.or_, terms, Q(pk__in=[]))

    def _key(self, row) -> list:
        return [getattr(row, name) for name, _desc in self.fields]

    def decode_cursor(self, request):
        raw = request.query_params.get(self.cursor_query_param)
        if raw is None:
            return None
        try:
            data = jsonsafe.loads(base64.urlsafe_b64decode(raw.encode("ascii")))
            values, reverse = data["k"], data["r"]
            if not isinstance(reverse, bool) or len(values) != len(self.model_fields):
                raise ValueError
            key = [self._parse(field, value) for field, value in zip(self.model_fields, values)]
        except (
            ValueError,
            TypeError,
            KeyError,
            OverflowError,
            UnicodeError,
            binascii.Error,
            DjangoValidationError,
        ):
            raise serializers.ValidationError(
                {self.cursor_query_param: [_("Invalid cursor.")]}
            ) from None
        return key, reverse

    @staticmethod
    def _parse(field, value):
        if value is None:
            if not field.null:
                raise ValueError
            return None
        value = field.to_python(value)
        if isinstance(value, datetime.datetime):
            if value.tzinfo is None:
                raise ValueError
            value = value.astimezone(datetime.UTC)  # OverflowError on year 0
        return value

    def encode_cursor(self, key, reverse: bool) -> str:
        values = [v.isoformat() if isinstance(v, datetime.datetime) else v for v in key]
        raw = json.dumps({"k": values, "r": reverse}, separators=(",", ":"))
        encoded = base64.urlsafe_b64encode(raw.encode()).decode("ascii")
        return replace_query_param(self.base_url, self.cursor_query_param, encoded)

    def get_next_link(self):
        return self.encode_cursor(self.last_key, False) if self.has_next else None

    def get_previous_link(self):
        return self.encode_cursor(self.first_key, True) if self.has_previous else None
