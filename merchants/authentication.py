from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from kefu import ratelimit

from .models import ApiToken, hash_token


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer kf_...`: a per-merchant API token. Sets request.auth to the token;
    request.user stays anonymous (integrations act for the merchant, not a person)."""

    keywords = ("bearer", "token")

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower().decode(errors="replace") not in self.keywords:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(_("Invalid token header."))
        raw = header[1].decode(errors="replace")
        # Token guessing: after API_TOKEN_FAILURES_PER_ADDRESS wrong tokens from one address,
        # its requests are refused (429) before any token is looked at, right ones included.
        failures = ratelimit.setting("API_TOKEN_FAILURES_PER_ADDRESS")
        address = request.META.get("REMOTE_ADDR") or "unknown"
        wait = ratelimit.hit(failures, address, count=False)
        if wait:
            raise exceptions.Throttled(wait)
        token = (
            ApiToken.objects.select_related("merchant")
            .filter(digest=hash_token(raw), is_active=True, merchant__is_active=True)
            .first()
        )
        if token is None:
            ratelimit.hit(failures, address)
            raise exceptions.AuthenticationFailed(_("Invalid or revoked API token."))
        # One write at most per minute per token, not one per request.
        now = timezone.now()
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        from django.contrib.auth.models import AnonymousUser

        return AnonymousUser(), token

    def authenticate_header(self, request):
        return "Bearer"
