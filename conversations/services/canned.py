"""Quick replies (canned responses): create, edit, delete and count uses.

Who may do what: every member may keep personal replies (owner = themselves) and use the
merchant-wide ones; only owners and admins (and API tokens, which act for the whole merchant)
create, edit or delete merchant-wide replies. Another agent's personal reply does not exist
for anyone else (404, like another merchant's rows)."""

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils.translation import gettext as _

from kefu.errors import KefuError, NotFound

from ..models import CannedResponse


@dataclass(frozen=True)
class CannedActor:
    """Who acts: `user_id` None is an API token (merchant-wide, no personal replies)."""

    user_id: int | None
    is_manager: bool


def _pinyin(text: str) -> tuple[str, str]:
    # Imported here, on a save: loading pypinyin's phrase tables took 0.3 s of CPU, a quarter
    # of every process's start (daphne, Celery, manage.py), for a function run only on saves.
    from pypinyin import Style, lazy_pinyin

    full = "".join(lazy_pinyin(text)).replace(" ", "").lower()
    initials = "".join(p[:1] for p in lazy_pinyin(text, style=Style.FIRST_LETTER) if p.strip())
    return full, initials.lower()


def canned_search_key(*, shortcut: str, title: str) -> str:
    """Space-separated words the picker matches what was typed against: the full pinyin and the
    initials of the shortcut and of the title (title "退款说明" gives "tuikuanshuoming" and
    "tksm", so "/tk" finds it). Latin text passes through lower-cased. Computed once, on save,
    so the browser filters without a pinyin library and the server does nothing per keystroke."""
    words: list[str] = []
    for text in (shortcut, title):
        for word in _pinyin(text.strip()) if text.strip() else ():
            if word and word not in words:
                words.append(word)
    return " ".join(words)[:500]


def _visible(*, merchant_id: int, actor: CannedActor, pk: int) -> CannedResponse:
    row = CannedResponse.objects.filter(merchant_id=merchant_id, pk=pk).first()
    if row is None or (row.owner_id is not None and row.owner_id != actor.user_id):
        raise NotFound("Quick reply not found.")
    return row


def _may_change(row: CannedResponse, actor: CannedActor) -> None:
    if row.owner_id is None and not actor.is_manager:
        raise KefuError(
            "forbidden", _("Only the merchant's owners and admins manage shared quick replies.")
        )


def _save(row: CannedResponse) -> CannedResponse:
    row.search_key = canned_search_key(shortcut=row.shortcut, title=row.title)
    try:
        # A savepoint: the unique shortcut is checked by the database (two agents at once).
        with transaction.atomic():
            row.save()
    except IntegrityError:
        raise KefuError(
            "shortcut_taken", _("This shortcut is already used."), field="shortcut"
        ) from None
    return row


@transaction.atomic
def canned_response_create(
    *, merchant_id: int, actor: CannedActor, shortcut: str, title: str, text: str, personal: bool
) -> CannedResponse:
    if personal and actor.user_id is None:
        raise KefuError(
            "personal_needs_user", _("An API token cannot own personal replies."), field="personal"
        )
    row = CannedResponse(
        merchant_id=merchant_id,
        owner_id=actor.user_id if personal else None,
        shortcut=shortcut,
        title=title,
        text=text,
    )
    _may_change(row, actor)
    return _save(row)


@transaction.atomic
def canned_response_update(
    *, merchant_id: int, actor: CannedActor, pk: int, **changes
) -> CannedResponse:
    row = _visible(merchant_id=merchant_id, actor=actor, pk=pk)
    _may_change(row, actor)
    for field in ("shortcut", "title", "text"):
        if field in changes:
            setattr(row, field, changes[field])
    return _save(row)


@transaction.atomic
def canned_response_delete(*, merchant_id: int, actor: CannedActor, pk: int) -> None:
    row = _visible(merchant_id=merchant_id, actor=actor, pk=pk)
    _may_change(row, actor)
    row.delete()


def canned_response_used(*, merchant_id: int, actor: CannedActor, pk: int) -> int:
    """An agent inserted the reply: count it (one conditional UPDATE, no read-modify-write race
    between two agents). Returns the new count."""
    _visible(merchant_id=merchant_id, actor=actor, pk=pk)
    CannedResponse.objects.filter(merchant_id=merchant_id, pk=pk).update(
        usage_count=F("usage_count") + 1
    )
    return CannedResponse.objects.values_list("usage_count", flat=True).get(pk=pk)
