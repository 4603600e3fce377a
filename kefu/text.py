"""Rules for untrusted text shared by the REST API, the sockets and the services.

A lone UTF-16 surrogate (U+D800..U+DFFF) is a valid JSON escape (`"\\ud800"`) and a valid Python
str, but not encodable as UTF-8: MySQL refuses it at INSERT, so a body that got past validation
failed at the database (`internal_error` on the socket). DRF's CharField refuses surrogates;
the socket and the services refuse them with the same rule, here. docs/security.md, finding 8.
"""

from __future__ import annotations

import re

_SURROGATE = re.compile("[\ud800-\udfff]")

SURROGATE_MESSAGE = "Surrogate characters are not allowed."


def surrogate_in(value: str) -> str | None:
    """The first surrogate character in `value` as "U+D800", or None."""
    match = _SURROGATE.search(value)
    return f"U+{ord(match.group()):04X}" if match else None


def supported_language(code: str | None, default: str | None = None) -> str:
    """The LANGUAGES entry that serves a browser's language tag ("en-US" -> "en", "zh-CN" ->
    "zh-hans"), or `default` (the site language) when none does. Mail and stored lines sent to a
    visitor are written in the language their widget speaks, which LocaleMiddleware picked by
    the same rule from the same browser."""
    from django.conf import settings
    from django.utils import translation

    fallback = default or settings.LANGUAGE_CODE
    code = (code or "").strip().replace("_", "-").lower()
    if not code:
        return fallback
    try:
        return translation.get_supported_language_variant(code)
    except LookupError:
        return fallback
