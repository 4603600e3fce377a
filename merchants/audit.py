"""The audit log: one AuditEntry per back-office, workspace or API action that matters for
accountability (docs/security.md, "Customer data"). Every change made through the admin is
recorded by merchants.admin_scoping (with Django's change message); services record their own
actions (exports, erasures, retention runs, API token creation) with `audit_record`."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from .models import ApiToken, AuditEntry

# Actions written by services; admin changes are "admin.add" / "admin.change" / "admin.delete".
VISITOR_EXPORTED = "visitor.exported"
VISITOR_ERASED = "visitor.erased"
RETENTION_RUN = "retention.run"
TOKEN_CREATED = "token.created"
WEBHOOK_SECRET_ROTATED = "webhook.secret_rotated"


def actor_label(actor) -> str:
    """A readable name that outlives the account: a user's username, a token's name and prefix,
    or a process ("retention")."""
    if actor is None:
        return ""
    if isinstance(actor, ApiToken):
        return f"API token {actor.name} ({actor.prefix}…)"[:150]
    if isinstance(actor, get_user_model()):
        return actor.get_username()[:150]
    return str(actor)[:150]


def audit_record(
    *, merchant_id: int, action: str, actor=None, target: str = "", detail: dict | None = None
) -> AuditEntry:
    """`actor`: a user, an ApiToken, a process name (str) or None."""
    user = actor if isinstance(actor, get_user_model()) and actor.pk else None
    return AuditEntry.objects.create(
        merchant_id=merchant_id,
        actor=user,
        actor_label=actor_label(actor),
        action=action,
        target=target[:200],
        detail=detail or {},
    )


def request_actor(request):
    """Who makes this request: the signed-in user, or the API token acting for the merchant."""
    if isinstance(getattr(request, "auth", None), ApiToken):
        return request.auth
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else None
