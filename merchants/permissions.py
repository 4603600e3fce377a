from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, permissions

from .models import ApiToken
from .selectors import membership_get


def request_merchant_id(request) -> int:
    """The merchant an API request acts for, or raise.

    Token requests act for the token's merchant. Session requests (the agent workspace) name the
    merchant in the `X-Kefu-Merchant` header and must be an active member of it.
    """
    cached = getattr(request, "_kefu_merchant_id", None)
    if cached is not None:
        return cached
    if isinstance(request.auth, ApiToken):
        if (
            request.auth.scope == ApiToken.Scope.READ_ONLY
            and request.method not in permissions.SAFE_METHODS
        ):
            # Every API view asks this function for its merchant first, so this one check
            # covers every endpoint, those added later too.
            raise exceptions.PermissionDenied(_("This API token is read-only."))
        merchant_id = request.auth.merchant_id
        request.kefu_membership = None
    elif request.user and request.user.is_authenticated:
        raw = request.headers.get("X-Kefu-Merchant", "")
        if not raw.isdigit():
            raise exceptions.PermissionDenied(_("Send the X-Kefu-Merchant header."))
        membership = membership_get(merchant_id=int(raw), user=request.user)
        if membership is None:
            raise exceptions.PermissionDenied(_("You are not a member of this merchant."))
        merchant_id = membership.merchant_id
        request.kefu_membership = membership
    else:
        raise exceptions.NotAuthenticated()
    request._kefu_merchant_id = merchant_id
    return merchant_id


class HasMerchant(permissions.BasePermission):
    def has_permission(self, request, view):
        request_merchant_id(request)
        return True
