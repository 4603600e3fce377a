"""Texts for agents that are decided in one place and read in many languages.

A routing reason or a notification title is written once, when the decision is taken, but each
agent reads the workspace in the language they chose (the language cookie or their browser's,
as LocaleMiddleware picks it). A `Localized` is the text in the site language (what is stored,
mailed and shown in the admin) that also remembers its message id and parameters, so each
recipient can have it rendered again in their own language: the REST API in the request's
language, a socket in its agent's (`language_of_scope`). Parameters are plain values or
Localized themselves (a reason inside a reason); names and visitor text are never translated.
"""

from __future__ import annotations

from django.conf import settings
from django.utils import translation


class Localized(str):
    """`str(self)`: the text in the site language, cut to `limit` characters."""

    msgid: str
    params: dict
    limit: int | None

    def __new__(cls, msgid: str, params: dict | None = None, *, limit: int | None = None):
        params = dict(params or {})
        obj = super().__new__(cls, _render(msgid, params, settings.LANGUAGE_CODE, limit))
        obj.msgid, obj.params, obj.limit = msgid, params, limit
        return obj

    def spec(self) -> dict:
        """JSON-safe: what `render` needs to say it again in any language."""
        spec = {
            "msgid": self.msgid,
            "params": {
                k: v.spec() if isinstance(v, Localized) else v for k, v in self.params.items()
            },
        }
        if self.limit:
            spec["limit"] = self.limit
        return spec


def render(spec: dict | None, language: str, fallback: str = "") -> str:
    """The text of a `Localized.spec()` in `language`; `fallback` for no spec (rows stored
    before specs existed) or one this code cannot render (a msgid whose parameters changed)."""
    if not spec or not isinstance(spec, dict) or "msgid" not in spec:
        return fallback
    try:
        return _render(spec["msgid"], spec.get("params") or {}, language, spec.get("limit"))
    except (KeyError, TypeError, ValueError):
        return fallback


def _render(msgid: str, params: dict, language: str, limit: int | None) -> str:
    with translation.override(language):
        values = {
            k: _render(v["msgid"], v.get("params") or {}, language, v.get("limit"))
            if isinstance(v, dict) and "msgid" in v
            else (_render(v.msgid, v.params, language, v.limit) if isinstance(v, Localized) else v)
            for k, v in params.items()
        }
        text = translation.gettext(msgid)
        text = text % values if values else text
    return text[:limit] if limit else text


def language_of_scope(scope: dict) -> str:
    """The language a socket's agent reads the workspace in, by LocaleMiddleware's rule for the
    page that opened it: the language cookie (set_language), else the browser's
    Accept-Language, else the site language."""
    cookie = (scope.get("cookies") or {}).get(settings.LANGUAGE_COOKIE_NAME)
    if cookie:
        chosen = _supported(cookie)
        if chosen:
            return chosen
    for name, value in scope.get("headers") or []:
        if name == b"accept-language":
            header = value.decode("latin-1")
            for lang, _q in translation.trans_real.parse_accept_lang_header(header):
                if lang == "*":
                    break
                chosen = _supported(lang)
                if chosen:
                    return chosen
    return settings.LANGUAGE_CODE


def _supported(code: str) -> str | None:
    try:
        return translation.get_supported_language_variant(code.strip().replace("_", "-").lower())
    except LookupError:
        return None
