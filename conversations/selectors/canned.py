"""Quick replies a user may see (docs/desk.md)."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from kefu.errors import NotFound

from ..models import CannedResponse


def canned_response_get(*, merchant_id: int, user_id: int | None, pk: int) -> CannedResponse:
    """One reply the user may see (shared, or their own); NotFound otherwise."""
    row = canned_response_list(merchant_id=merchant_id, user_id=user_id).filter(pk=pk).first()
    if row is None:
        raise NotFound("Quick reply not found.")
    return row


def canned_response_list(
    *, merchant_id: int, user_id: int | None = None
) -> QuerySet[CannedResponse]:
    """Merchant-wide replies plus `user_id`'s own (None: an API token, shared ones only),
    most used first."""
    mine = Q(owner__isnull=True) | Q(owner_id=user_id) if user_id else Q(owner__isnull=True)
    return CannedResponse.objects.filter(mine, merchant_id=merchant_id).order_by(
        "-usage_count", "shortcut", "id"
    )
