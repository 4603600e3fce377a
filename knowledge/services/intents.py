"""Intents and the slots an intent asks for (validated here, including the patterns the bot
will match visitor text against)."""

from __future__ import annotations

import re

from django.db import transaction
from django.utils.translation import gettext as _

from ..models import Intent
from ..richtext import sanitize_html
from ..training import kb_changed
from .common import (
    check_unique,
    clean_bool,
    clean_lines,
    clean_text,
    invalid,
    row_update,
    scoped_row,
)

MAX_EXAMPLES = 5000  # example phrases per intent (public datasets have a few hundred)
MAX_SLOTS = 10
SLOT_KEYS = {"name", "prompt", "pattern", "reprompt"}
SLOT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,49}$")
# A group containing + * or {n,} followed by + * or {n,}: the classic catastrophic backtracking.
NESTED_QUANTIFIER = re.compile(
    r"\((?:[^()\\]|\\.)*(?:[+*]|\{\d*,\d*\})(?:[^()\\]|\\.)*\)(?:[+*]|\{\d*,\d*\})"
)


def slots_clean(value) -> list[dict]:
    """Slots an intent asks for: [{"name", "prompt", "pattern"?, "reprompt"?}]. `pattern` is a
    Python regular expression the answer must match (checked with re.fullmatch by the bot)."""
    if value in (None, ""):
        return []
    if not isinstance(value, list):
        raise invalid("slots", _("A list of slots."))
    if len(value) > MAX_SLOTS:
        raise invalid("slots", _("At most %(n)d slots.") % {"n": MAX_SLOTS})
    cleaned, names = [], set()
    for number, slot in enumerate(value, 1):

        def bad(message, number=number):
            return invalid(
                "slots", _("Slot %(n)d: %(message)s") % {"n": number, "message": message}
            )

        if not isinstance(slot, dict):
            raise bad(_("must be an object with name and prompt."))
        unknown = set(slot) - SLOT_KEYS
        if unknown:
            raise bad(_("unknown keys: %(keys)s.") % {"keys": ", ".join(sorted(map(str, unknown)))})
        name = slot.get("name")
        if not isinstance(name, str) or not SLOT_NAME.match(name):
            raise bad(_("name must be letters, digits or _ (not starting with a digit)."))
        if name in names:
            raise bad(_("the name %(name)s is used twice.") % {"name": name})
        names.add(name)
        out = {"name": name}
        for key, limit in (("prompt", 500), ("pattern", 300), ("reprompt", 500)):
            text = slot.get(key)
            if text is None or text == "":
                if key == "prompt":
                    raise bad(_("prompt is required."))
                continue
            if not isinstance(text, str) or len(text) > limit:
                raise bad(
                    _("%(key)s must be text of at most %(n)d characters.")
                    % {"key": key, "n": limit}
                )
            out[key] = text.strip()
        if "pattern" in out:
            try:
                re.compile(out["pattern"])
            except re.error as exc:
                raise bad(
                    _("pattern is not a valid regular expression: %(error)s") % {"error": exc}
                ) from None
            # The bot matches visitor text against it and Python's re has no timeout: refuse a
            # repeated group that itself repeats, e.g. (a+)+, which can take exponential time.
            if NESTED_QUANTIFIER.search(out["pattern"]):
                raise bad(
                    _(
                        "pattern repeats a group that repeats itself (like (a+)+); "
                        "it could take very long to match."
                    )
                )
        cleaned.append(out)
    return cleaned


INTENT_FIELDS = ("name", "examples", "answer", "action", "slots", "is_enabled")


def intent_clean(*, merchant_id: int, values: dict, pk: int | None = None, db: bool = True) -> dict:
    name = clean_text(values.get("name"), "name", 100, required=True)
    check_unique(
        Intent.objects.filter(merchant_id=merchant_id, name=name),
        pk,
        "name",
        _("An intent with this name already exists."),
        db=db,
    )
    examples = clean_lines(
        values.get("examples"), "examples", 500, required=True, max_lines=MAX_EXAMPLES
    )
    answer_raw = values.get("answer") or ""
    if not isinstance(answer_raw, str) or len(answer_raw) > 20000:
        raise invalid("answer", _("At most %(n)d characters.") % {"n": 20000})
    action = values.get("action") or Intent.Action.ANSWER
    if action not in Intent.Action.values:
        raise invalid(
            "action", _("One of: %(choices)s.") % {"choices": ", ".join(Intent.Action.values)}
        )
    return {
        "name": name,
        "examples": "\n".join(examples),
        "answer": sanitize_html(answer_raw),
        "action": action,
        "slots": slots_clean(values.get("slots")),
        "is_enabled": clean_bool(values.get("is_enabled", True), "is_enabled"),
    }


@transaction.atomic
def intent_create(*, merchant_id: int, name: str, examples, **fields) -> Intent:
    unknown = set(fields) - set(INTENT_FIELDS)
    if unknown:
        raise TypeError(f"unknown fields: {sorted(unknown)}")
    values = intent_clean(
        merchant_id=merchant_id, values={**fields, "name": name, "examples": examples}
    )
    intent = Intent.objects.create(merchant_id=merchant_id, **values)
    kb_changed(merchant_id=merchant_id)
    return intent


@transaction.atomic
def intent_update(*, merchant_id: int, intent_id: int, **changes) -> Intent:
    return row_update(
        Intent, INTENT_FIELDS, intent_clean, merchant_id=merchant_id, pk=intent_id, changes=changes
    )


@transaction.atomic
def intent_delete(*, merchant_id: int, intent_id: int) -> None:
    scoped_row(Intent, merchant_id, intent_id).delete()
    kb_changed(merchant_id=merchant_id)
