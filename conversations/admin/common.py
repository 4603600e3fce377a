"""What the conversation admins share: members' display names as one subquery and as a list
column."""

from django.contrib import admin
from django.db.models import OuterRef, Subquery

from merchants.models import Membership


def member_name(user_field: str) -> Subquery:
    """The display name the merchant gave the user in `user_field` (agents know each other by
    it; the login name means nothing to them), as one subquery instead of a query per row."""
    return Subquery(
        Membership.objects.filter(
            merchant_id=OuterRef("merchant_id"), user_id=OuterRef(user_field)
        ).values("display_name")[:1]
    )


def name_column(user_field: str, label):
    @admin.display(description=label, ordering=f"{user_field}_name")
    def column(self, obj):
        return getattr(obj, f"{user_field}_name", None) or getattr(obj, user_field) or "—"

    return column
