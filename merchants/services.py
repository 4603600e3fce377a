"""Writes for merchants, memberships and API tokens."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction

from .models import ApiToken, Membership, Merchant


@transaction.atomic
def api_token_create(*, merchant: Merchant, name: str) -> tuple[ApiToken, str]:
    """Create a token; returns it with the raw key, which is shown once and never stored."""
    raw = ApiToken.generate()
    token = ApiToken(merchant=merchant, name=name)
    token.set_key(raw)
    token.save()
    return token, raw


@transaction.atomic
def membership_add(
    *, merchant: Merchant, username: str, password: str | None, role: str, display_name: str,
    email: str = "", is_staff: bool = False,
) -> Membership:
    User = get_user_model()
    user, created = User.objects.get_or_create(username=username, defaults={"email": email})
    if created or password:
        if password:
            user.set_password(password)
        user.is_staff = user.is_staff or is_staff
        user.save()
    membership, _ = Membership.objects.update_or_create(
        merchant=merchant, user=user, defaults={"role": role, "display_name": display_name}
    )
    return membership


def membership_set_away(*, merchant_id: int, user_id: int, away: bool) -> Membership:
    membership = Membership.objects.select_related("merchant").get(
        merchant_id=merchant_id, user_id=user_id, is_active=True
    )
    if membership.is_away != away:
        membership.is_away = away
        membership.save(update_fields=["is_away"])
    return membership
