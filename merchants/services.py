"""Writes for merchants, memberships and API tokens."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction

from kefu.transactions import on_commit_robust

from .models import ApiToken, Membership, Merchant
from .selectors import merchant_webhook_kinds_forget
from .signals import access_revoked, capacity_freed


@transaction.atomic
def api_token_create(
    *, merchant: Merchant, name: str, scope: str = ApiToken.Scope.READ_WRITE
) -> tuple[ApiToken, str]:
    """Create a token; returns it with the raw key, which is shown once and never stored."""
    raw = ApiToken.generate()
    token = ApiToken(merchant=merchant, name=name, scope=scope)
    token.set_key(raw)
    token.save()
    return token, raw


@transaction.atomic
def membership_add(
    *,
    merchant: Merchant,
    username: str,
    password: str | None,
    role: str,
    display_name: str,
    email: str = "",
    is_staff: bool = False,
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


@transaction.atomic
def membership_set_away(*, merchant_id: int, user_id: int, away: bool) -> Membership:
    """An agent switches "away" on or off (their workspace). Back from away, they can take
    queued conversations: capacity_freed is sent after the commit."""
    membership = (
        Membership.objects.select_for_update()
        .select_related("merchant")
        .get(merchant_id=merchant_id, user_id=user_id, is_active=True)
    )
    if membership.is_away != away:
        membership.is_away = away
        membership.save(update_fields=["is_away"])
        if not away:
            _capacity_freed_on_commit(merchant_id)
    return membership


@transaction.atomic
def membership_update(*, membership: Membership, teams_changed: bool = False) -> Membership:
    """Store an edited membership whose new field values are already set on `membership` (the
    admin form sets them; it saves the teams itself and says whether they changed). When the
    edit lets the agent take queued conversations they could not before, capacity_freed is
    sent after the commit (so the router sees the new values and the teams)."""
    stored = Membership.objects.select_for_update().get(pk=membership.pk)
    membership.save()
    if teams_changed or membership_may_take_more(before=stored, after=membership):
        _capacity_freed_on_commit(membership.merchant_id)
    if stored.is_active and not membership.is_active:
        _access_revoked_on_commit(membership.merchant_id, membership.user_id)
    return membership


@transaction.atomic
def membership_delete(*, membership: Membership) -> None:
    """Remove a user from a merchant; their open workspace sockets close after the commit."""
    merchant_id, user_id = membership.merchant_id, membership.user_id
    membership.delete()
    _access_revoked_on_commit(merchant_id, user_id)


def memberships_revoke_for_user(*, user_id: int) -> None:
    """The user was deactivated (or is being deleted): after the commit, close their sockets in
    every merchant they work for. Call inside the transaction that makes the change."""
    for merchant_id in Membership.objects.filter(user_id=user_id).values_list(
        "merchant_id", flat=True
    ):
        _access_revoked_on_commit(merchant_id, user_id)


def _access_revoked_on_commit(merchant_id: int, user_id: int) -> None:
    # After the commit: a socket closed earlier could reconnect and still find the membership.
    on_commit_robust(
        access_revoked.send, sender=Membership, merchant_id=merchant_id, user_id=user_id
    )


def membership_may_take_more(*, before: Membership, after: Membership) -> bool:
    """Whether the change from `before` to `after` can let the agent take queued conversations
    they could not before: more capacity, back from away, or reactivated. (Other teams too,
    which the caller of membership_update says.)"""
    raised = after.max_concurrent > (before.max_concurrent or 0)
    back = before.is_away and not after.is_away
    active = not before.is_active and after.is_active
    return bool(raised or back or active)


def _capacity_freed_on_commit(merchant_id: int) -> None:
    # After the commit, so the receiver (the queue drain) reads the new capacity; robust, so a
    # failing drain never undoes the change (the beat sweep drains every minute anyway).
    on_commit_robust(capacity_freed.send, sender=Membership, merchant_id=merchant_id)


def merchant_webhook_kinds_set(*, merchant_id: int, kinds: set[str]) -> None:
    """Record which event kinds the merchant's active webhook endpoints subscribe to (called by
    webhooks.services inside its transaction, after every endpoint change). This process's
    snapshot is dropped after the commit; the others reload theirs within
    WEBHOOK_SUBSCRIPTIONS_REFRESH seconds (selectors.merchant_webhook_kinds)."""
    Merchant.objects.filter(pk=merchant_id).update(webhook_kinds=",".join(sorted(kinds)))
    transaction.on_commit(merchant_webhook_kinds_forget)
