"""Lists kept in text fields: similar questions and examples one per line, keywords and
synonyms comma separated. Shared by services (writes), selectors (snapshot) and importers."""

from __future__ import annotations

import re

_LIST_SPLIT = re.compile(r"[,，、;；\n]+")


def split_lines(value) -> list[str] | None:
    """One item per line (a string) or a list of strings; blank and repeated items dropped.
    None when the value is neither (callers report it as a field error)."""
    if value is None:
        return []
    items = value.splitlines() if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        return None
    seen, out = set(), []
    for item in items:
        if not isinstance(item, str):
            return None
        item = item.strip()
        if item and item not in seen:
            seen.add(item)
            out.append(item)
    return out


def split_list(value) -> list[str] | None:
    """Comma (also ，、;) or newline separated, or a list of strings."""
    if value is None:
        return []
    if isinstance(value, str):
        value = _LIST_SPLIT.split(value)
    return split_lines(value)
