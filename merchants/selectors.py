"""Reads for merchants and memberships."""

from __future__ import annotations

import threading
import time

from django.conf import settings
from django.db.models import QuerySet

from .models import Membership, Merchant


def membership_get(*, merchant_id: int, user) -> Membership | None:
    """The user's active membership in an active merchant, or None."""
    if user is None or not user.is_authenticated:
        return None
    return (
        Membership.objects.select_related("merchant")
        .filter(
            merchant_id=merchant_id,
            user=user,
            is_active=True,
            user__is_active=True,  # the socket re-checks with the user of its handshake
            merchant__is_active=True,
        )
        .first()
    )


def membership_list_for_user(*, user) -> QuerySet[Membership]:
    return (
        Membership.objects.select_related("merchant")
        .filter(user=user, is_active=True, merchant__is_active=True)
        .order_by("merchant__name", "merchant_id")
    )


def merchant_get_by_widget_key(*, widget_key: str) -> Merchant | None:
    if not widget_key or len(widget_key) > 64:
        return None
    return Merchant.objects.filter(widget_key=widget_key, is_active=True).first()


def merchant_managed_ids(*, user) -> list[int]:
    """Merchants whose back office this user may run (owner or admin)."""
    return list(
        Membership.objects.filter(
            user=user,
            is_active=True,
            role__in=[Membership.Role.OWNER, Membership.Role.ADMIN],
        ).values_list("merchant_id", flat=True)
    )


def membership_get_by_user_id(*, merchant_id: int, user_id: int) -> Membership | None:
    """The active membership of an active user in this merchant, or None (API `user_id`)."""
    return Membership.objects.filter(
        merchant_id=merchant_id,
        user_id=user_id,
        is_active=True,
        user__is_active=True,
        merchant__is_active=True,
    ).first()


def membership_list_for_merchant(*, merchant_id: int) -> QuerySet[Membership]:
    return Membership.objects.filter(merchant_id=merchant_id, is_active=True).order_by(
        "display_name", "user_id"
    )


def membership_names(*, merchant_id: int, user_ids: list[int]) -> dict[int, str]:
    """Display names of these users' active memberships (absent: no such membership)."""
    return dict(
        membership_list_for_merchant(merchant_id=merchant_id)
        .filter(user_id__in=user_ids)
        .values_list("user_id", "display_name")
    )


# --- Webhook subscriptions --------------------------------------------------------------------

_webhook_snapshot: dict = {"at": None, "kinds": {}}
_webhook_lock = threading.Lock()


def merchant_webhook_kinds(*, merchant_id: int) -> frozenset[str]:
    """The event kinds some active webhook endpoint of this merchant subscribes to
    (Merchant.webhook_kinds). Asked for every domain event and every message, so it reads a
    per-process snapshot of all merchants that have any, refreshed at most every
    WEBHOOK_SUBSCRIPTIONS_REFRESH seconds: one query per interval, none per message. A new
    subscription therefore takes effect within that interval in other processes (the webhooks
    services drop the snapshot of their own process at once)."""
    now = time.monotonic()
    snapshot = _webhook_snapshot
    ttl = settings.WEBHOOK_SUBSCRIPTIONS_REFRESH
    if snapshot["at"] is None or now - snapshot["at"] >= ttl:
        with _webhook_lock:
            if snapshot["at"] is None or now - snapshot["at"] >= ttl:
                rows = Merchant.objects.exclude(webhook_kinds="").values_list("pk", "webhook_kinds")
                snapshot["kinds"] = {pk: frozenset(kinds.split(",")) for pk, kinds in rows}
                snapshot["at"] = time.monotonic()
    return snapshot["kinds"].get(merchant_id, frozenset())


def merchant_webhook_kinds_forget() -> None:
    """Drop this process's snapshot: the next read loads it again."""
    _webhook_snapshot["at"] = None
