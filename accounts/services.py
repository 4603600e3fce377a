"""Writes for user accounts that other apps must hear about."""

from __future__ import annotations

from django.db import transaction

from merchants.services import memberships_revoke_for_user

from .models import User


@transaction.atomic
def user_update(*, user: User) -> User:
    """Store an edited user whose new field values are already set (the admin form sets them).
    Deactivating closes their open workspace sockets in every merchant after the commit: the
    session stops working at the next HTTP request, a socket would live on."""
    was_active = User.objects.select_for_update().filter(pk=user.pk, is_active=True).exists()
    user.save()
    if was_active and not user.is_active:
        memberships_revoke_for_user(user_id=user.pk)
    return user


@transaction.atomic
def user_delete(*, user: User) -> None:
    memberships_revoke_for_user(user_id=user.pk)  # read before the memberships cascade away
    user.delete()
