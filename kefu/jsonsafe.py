"""The one JSON decoder for input from outside (request bodies, socket frames, imported files,
cursors). Python's json module recurses once per nesting level, so ~10 KB of `[` raises
RecursionError, which no `except ValueError` catches: every caller answered 500 or closed its
socket with 1011. Here that, and any value nested deeper than MAX_DEPTH, is a JSONError, a
ValueError, so the callers' existing "not valid JSON" answer (400, an `invalid_json` frame, a
file error) covers it. docs/security.md, finding 1.
"""

from __future__ import annotations

import json

# Deeper than anything this product reads (a knowledge-base import row with slots is 4 levels),
# shallow enough that later recursive code (serializers, pydantic, json.dumps) is safe.
MAX_DEPTH = 32


class JSONError(ValueError):
    pass


def loads(raw: str | bytes | bytearray, *, max_depth: int = MAX_DEPTH, **kwargs):
    """json.loads (keyword arguments passed on), but nesting deeper than `max_depth` is a
    JSONError (a ValueError)."""
    try:
        value = json.loads(raw, **kwargs)
    except RecursionError:
        raise JSONError("The JSON is nested too deeply.") from None
    # Each level of nesting opens with a bracket, so a text with at most `max_depth` of them
    # (brackets in strings only add to the count) needs no walk: the walk over every value was
    # a few per cent of the event loop's time per message at saturation (docs/performance.md).
    opening = (b"{", b"[") if isinstance(raw, bytes | bytearray) else ("{", "[")
    if raw.count(opening[0]) + raw.count(opening[1]) > max_depth:
        check_depth(value, max_depth=max_depth)
    return value


def check_depth(value, *, max_depth: int = MAX_DEPTH) -> None:
    """Raise JSONError when a decoded value nests lists/objects deeper than `max_depth`.
    Iterative, so the check itself cannot overflow the stack."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > max_depth:
            raise JSONError(f"The JSON is nested deeper than {max_depth} levels.")
        stack.extend((child, depth + 1) for child in children)
