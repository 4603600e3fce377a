import fnmatch
import hashlib
import secrets
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _


def new_widget_key() -> str:
    return secrets.token_urlsafe(16)


def new_identity_secret() -> str:
    return secrets.token_urlsafe(32)


def normalize_origin(origin: str) -> str:
    return origin.strip().rstrip("/").lower()


def validate_origins(value: str) -> None:
    for line in value.splitlines():
        origin = line.strip()
        if not origin:
            continue
        if not (origin.startswith("http://") or origin.startswith("https://")):
            raise ValidationError(
                _("%(origin)s: an origin starts with http:// or https://"), params={"origin": origin}
            )
        if "/" in origin.split("://", 1)[1].rstrip("/"):
            raise ValidationError(
                _("%(origin)s: an origin has no path (scheme://host[:port] only)"),
                params={"origin": origin},
            )


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(_("Unknown time zone: %(tz)s"), params={"tz": value})


class Merchant(models.Model):
    """The tenant. Every tenant-owned row points here."""

    name = models.CharField(_("name"), max_length=200)
    widget_key = models.CharField(
        _("widget key"), max_length=64, unique=True, default=new_widget_key,
        help_text=_("Public key used in the embed snippet."),
    )
    identity_secret = models.CharField(
        _("identity secret"), max_length=64, default=new_identity_secret,
        help_text=_("Signs visitor identities sent by the merchant's site (HMAC-SHA256 of the user id)."),
    )
    allowed_origins = models.TextField(
        _("allowed site origins"), blank=True, validators=[validate_origins],
        help_text=_("One per line, e.g. https://shop.example.com; *.example.com patterns allowed."),
    )
    welcome_message = models.TextField(_("welcome message"), blank=True)
    timezone = models.CharField(
        _("time zone"), max_length=64, default="Asia/Shanghai", validators=[validate_timezone]
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("merchant")
        verbose_name_plural = _("merchants")
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    def origin_patterns(self) -> list[str]:
        return [normalize_origin(o) for o in self.allowed_origins.splitlines() if o.strip()]

    def origin_allowed(self, origin: str | None) -> bool:
        if not origin:
            return False
        origin = normalize_origin(origin)
        return any(fnmatch.fnmatchcase(origin, pattern) for pattern in self.origin_patterns())


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", _("Owner")
        ADMIN = "admin", _("Admin")
        AGENT = "agent", _("Agent")

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(_("role"), max_length=10, choices=Role.choices, default=Role.AGENT)
    display_name = models.CharField(_("display name"), max_length=100)
    max_concurrent = models.PositiveSmallIntegerField(
        _("max concurrent conversations"), default=10
    )
    is_active = models.BooleanField(_("active"), default=True)
    # The agent's manual "away" switch; online/offline itself comes from live sockets.
    is_away = models.BooleanField(_("away"), default=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(fields=["merchant", "user"], name="membership_unique_user")
        ]

    def __str__(self) -> str:
        return f"{self.display_name} @ {self.merchant_id}"

    @property
    def is_manager(self) -> bool:
        return self.role in (self.Role.OWNER, self.Role.ADMIN)


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiToken(models.Model):
    """A per-merchant API key. Only its SHA-256 is stored; the key is shown once at creation."""

    PREFIX = "kf_"

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(_("prefix"), max_length=12, editable=False)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True, editable=False)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @classmethod
    def generate(cls) -> str:
        return cls.PREFIX + secrets.token_urlsafe(30)

    def set_key(self, raw: str) -> None:
        self.prefix = raw[:10]
        self.digest = hash_token(raw)
