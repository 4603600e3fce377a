import fnmatch
import hashlib
import secrets
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
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
        if not (origin.startswith(("http://", "https://"))):
            raise ValidationError(
                _("%(origin)s: an origin starts with http:// or https://"),
                params={"origin": origin},
            )
        if "/" in origin.split("://", 1)[1].rstrip("/"):
            raise ValidationError(
                _("%(origin)s: an origin has no path (scheme://host[:port] only)"),
                params={"origin": origin},
            )


# What a merchant may let visitors and agents attach, by what the server reads in the file (not
# its name): conversations/attachments.py maps each detected type to one of these.
ATTACHMENT_TYPES = {
    "image": _("Images (JPEG, PNG, GIF, WebP)"),
    "pdf": _("PDF"),
    "office": _("Office documents (Word, Excel, PowerPoint, OpenDocument)"),
    "text": _("Plain text and CSV"),
    "archive": _("Archives (ZIP, 7z, RAR, gzip)"),
    "media": _("Audio and video (MP3, MP4, WebM, Ogg)"),
}
ATTACHMENT_TYPES_DEFAULT = "image,pdf,office,text,archive"


def validate_attachment_types(value: str) -> None:
    for item in value.split(","):
        if item.strip() and item.strip() not in ATTACHMENT_TYPES:
            raise ValidationError(
                _("%(item)s: not one of %(known)s"),
                params={"item": item.strip(), "known": ", ".join(ATTACHMENT_TYPES)},
            )


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(_("Unknown time zone: %(tz)s"), params={"tz": value})


class Merchant(models.Model):
    """The tenant. Every tenant-owned row points here."""

    name = models.CharField(_("name"), max_length=200)
    widget_key = models.CharField(
        _("widget key"),
        max_length=64,
        unique=True,
        default=new_widget_key,
        help_text=_("Public key used in the embed snippet."),
    )
    identity_secret = models.CharField(
        _("identity secret"),
        max_length=64,
        default=new_identity_secret,
        help_text=_(
            "Signs visitor identities sent by the merchant's site (HMAC-SHA256 of the user id)."
        ),
    )
    allowed_origins = models.TextField(
        _("allowed site origins"),
        blank=True,
        validators=[validate_origins],
        help_text=_("One per line, e.g. https://shop.example.com; *.example.com patterns allowed."),
    )
    welcome_message = models.TextField(_("welcome message"), blank=True)
    timezone = models.CharField(
        _("time zone"), max_length=64, default="Asia/Shanghai", validators=[validate_timezone]
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    # --- Routing (conversations.routing) ---
    class RoutingMethod(models.TextChoices):
        LEAST_BUSY = "least_busy", _("Least busy (open conversations relative to capacity)")
        ROUND_ROBIN = "round_robin", _("Round robin (longest since last assignment)")

    routing_method = models.CharField(
        _("routing method"),
        max_length=20,
        choices=RoutingMethod.choices,
        default=RoutingMethod.LEAST_BUSY,
    )
    sticky_agent = models.BooleanField(
        _("return visitors to their previous agent"),
        default=True,
        help_text=_("When that agent is online and has capacity."),
    )
    accept_timeout_seconds = models.PositiveIntegerField(
        _("acceptance timeout (seconds)"),
        default=60,
        help_text=_(
            "Move a conversation to the next agent when the assigned agent has not replied "
            "in this time. 0 turns it off."
        ),
    )
    max_reassignments = models.PositiveSmallIntegerField(
        _("moves before returning to the queue"),
        default=2,
        help_text=_(
            "After this many timeouts the conversation goes back to the head of the queue "
            "and supervisors are alerted."
        ),
    )
    auto_resolve_minutes = models.PositiveIntegerField(
        _("auto-resolve after silence (minutes)"), default=30, help_text=_("0 turns it off.")
    )
    business_hours_enabled = models.BooleanField(
        _("use business hours"),
        default=False,
        help_text=_("Outside the hours below the widget offers a leave-a-message form."),
    )
    offline_form_enabled = models.BooleanField(
        _("leave-a-message form when nobody is available"), default=True
    )
    escalation_delay_seconds = models.PositiveIntegerField(
        _("SMS / email escalation delay (seconds)"),
        default=120,
        help_text=_(
            "A new, queued or unanswered conversation is escalated to on-duty agents by "
            "SMS and/or email (per their preference) after this delay."
        ),
    )

    # --- Inbox (the workspace's waiting time colours) ---
    wait_warn_seconds = models.PositiveIntegerField(
        _("waiting time warning (seconds)"),
        default=120,
        help_text=_("An inbox row turns amber when the visitor has waited this long for a reply."),
    )
    wait_alert_seconds = models.PositiveIntegerField(
        _("waiting time alert (seconds)"),
        default=300,
        help_text=_("An inbox row turns red when the visitor has waited this long for a reply."),
    )

    # --- Attachments (conversations.attachments) ---
    attachment_max_mb = models.PositiveSmallIntegerField(
        _("largest attachment (MB)"),
        default=10,
        validators=[MinValueValidator(1), MaxValueValidator(1024)],
        help_text=_("Files larger than this are refused. The server's ATTACHMENT_MAX_MB caps it."),
    )
    attachment_types = models.CharField(
        _("allowed attachment types"),
        max_length=200,
        default=ATTACHMENT_TYPES_DEFAULT,
        blank=True,
        validators=[validate_attachment_types],
        help_text=_(
            "Comma-separated: image, pdf, office, text, archive, media. Empty turns attachments "
            "off. The type is read from the file's content, not its name."
        ),
    )

    # --- Bot (conversations.bot) ---
    class BotMode(models.TextChoices):
        OFF = "off", _("Off")
        BOT_FIRST = "bot_first", _("Bot answers first")
        OUTSIDE_HOURS = "outside_hours", _("Bot only outside business hours")

    bot_mode = models.CharField(
        _("bot mode"), max_length=20, choices=BotMode.choices, default=BotMode.OFF
    )
    bot_name = models.CharField(_("bot name"), max_length=100, blank=True)
    # Bumped by every knowledge-base write; the trainer builds a model for a version.
    kb_version = models.PositiveIntegerField(default=0, editable=False)

    # --- Customer data (conversations.services.privacy, docs/security.md "Customer data") ---
    class RetentionAction(models.TextChoices):
        ANONYMISE = "anonymise", _("Anonymise (keep the figures, remove the person)")
        DELETE = "delete", _("Delete")

    retention_days = models.PositiveIntegerField(
        _("keep conversations for (days)"),
        null=True,
        blank=True,
        help_text=_(
            "Conversations resolved longer ago than this are anonymised or deleted within the hour, "
            "with their messages and files. Empty: kept until you erase them."
        ),
    )
    retention_action = models.CharField(
        _("after that"),
        max_length=10,
        choices=RetentionAction.choices,
        default=RetentionAction.ANONYMISE,
    )
    truncate_visitor_ip = models.BooleanField(
        _("store shortened visitor IP addresses"),
        default=False,
        help_text=_("Keep only the network part (IPv4 /24, IPv6 /48) of a visitor's address."),
    )
    # --- Webhooks (kept by webhooks.services) ---
    # The event kinds some active webhook endpoint of this merchant subscribes to, comma
    # separated ("" = none). conversations records a message.created event only when it is
    # listed, and reads it from a per-process snapshot (selectors.merchant_webhook_kinds), so a
    # merchant without webhooks costs the message path nothing.
    webhook_kinds = models.CharField(max_length=500, blank=True, default="", editable=False)

    # --- Satisfaction rating (conversations.services.rating, docs/widget.md) ---
    class RatingScale(models.TextChoices):
        OFF = "off", _("Off")
        STARS = "stars", _("1 to 5 stars")
        THREE = "three", _("Satisfied / neutral / dissatisfied")

    rating_scale = models.CharField(
        _("satisfaction rating"),
        max_length=10,
        choices=RatingScale.choices,
        default=RatingScale.STARS,
        help_text=_(
            "What the widget asks when a conversation is resolved. Satisfied, neutral and "
            "dissatisfied are stored as 5, 3 and 1."
        ),
    )

    # --- Pre-chat form (widget/prechat.py, docs/widget.md) ---
    class PrechatField(models.TextChoices):
        OFF = "off", _("Not asked")
        OPTIONAL = "optional", _("Optional")
        REQUIRED = "required", _("Required")

    prechat_name = models.CharField(
        _("pre-chat form: name"), max_length=10, choices=PrechatField.choices, default="off"
    )
    prechat_email = models.CharField(
        _("pre-chat form: email"), max_length=10, choices=PrechatField.choices, default="off"
    )
    prechat_phone = models.CharField(
        _("pre-chat form: phone"), max_length=10, choices=PrechatField.choices, default="off"
    )
    prechat_custom = models.TextField(
        _("pre-chat form: other questions"),
        blank=True,
        help_text=_(
            "One question per line (at most 5), for example “Order number”; end a line with * "
            "to make it required. Visitors your site identifies never see the form."
        ),
    )

    class Meta:
        verbose_name = _("merchant")
        verbose_name_plural = _("merchants")
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    def clean(self):
        super().clean()
        if self.wait_alert_seconds < self.wait_warn_seconds:
            raise ValidationError(
                {"wait_alert_seconds": _("The alert comes at or after the warning.")}
            )

    def origin_patterns(self) -> list[str]:
        return [normalize_origin(o) for o in self.allowed_origins.splitlines() if o.strip()]

    def attachment_type_set(self) -> set[str]:
        return {t.strip() for t in self.attachment_types.split(",") if t.strip()}

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
    max_concurrent = models.PositiveSmallIntegerField(_("max concurrent conversations"), default=10)
    is_active = models.BooleanField(_("active"), default=True)
    # The agent's manual "away" switch; online/offline itself comes from live sockets.
    is_away = models.BooleanField(_("away"), default=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    teams = models.ManyToManyField(
        "Team", blank=True, related_name="members", verbose_name=_("teams")
    )
    # Round robin picks the eligible agent assigned longest ago.
    last_assigned_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Escalation preferences (in-app notifications are always on).
    phone = models.CharField(_("mobile phone"), max_length=32, blank=True)
    notify_by_sms = models.BooleanField(_("escalate by SMS"), default=False)
    notify_by_email = models.BooleanField(_("escalate by email"), default=False)

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

    class Scope(models.TextChoices):
        READ_ONLY = "read_only", _("Read only")
        READ_WRITE = "read_write", _("Read and write")

    # Checked on every API request (merchants.permissions.request_merchant_id): a read-only
    # token may only GET, HEAD and OPTIONS. Tokens made before scopes existed keep writing.
    scope = models.CharField(
        _("scope"), max_length=10, choices=Scope.choices, default=Scope.READ_WRITE
    )
    # Requests per minute (merchants.throttling); blank: API_RATE_LIMIT.
    rate_limit = models.PositiveIntegerField(
        _("requests per minute"),
        null=True,
        blank=True,
        help_text=_("Blank: the server's default (API_RATE_LIMIT)."),
    )

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


class Team(models.Model):
    """A skill group. Agents can belong to several; a conversation may be routed to one."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="teams")
    name = models.CharField(_("name"), max_length=100)
    description = models.CharField(_("description"), max_length=300, blank=True)
    # Blank: use the merchant's routing method.
    routing_method = models.CharField(
        _("routing method"), max_length=20, choices=Merchant.RoutingMethod.choices, blank=True
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("team")
        verbose_name_plural = _("teams")
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "name"], name="team_unique_name")
        ]

    def __str__(self) -> str:
        return self.name


class BusinessHours(models.Model):
    """One opening interval on a weekday (several per day allowed), in the merchant's time zone."""

    class Weekday(models.IntegerChoices):
        MONDAY = 0, _("Monday")
        TUESDAY = 1, _("Tuesday")
        WEDNESDAY = 2, _("Wednesday")
        THURSDAY = 3, _("Thursday")
        FRIDAY = 4, _("Friday")
        SATURDAY = 5, _("Saturday")
        SUNDAY = 6, _("Sunday")

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="business_hours")
    weekday = models.PositiveSmallIntegerField(_("weekday"), choices=Weekday.choices)
    opens = models.TimeField(_("opens"))
    closes = models.TimeField(_("closes"))

    class Meta:
        verbose_name = _("business hours")
        verbose_name_plural = _("business hours")
        ordering = ["weekday", "opens"]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.opens:%H:%M}-{self.closes:%H:%M}"

    def clean(self):
        if self.opens is not None and self.closes is not None and self.closes <= self.opens:
            raise ValidationError({"closes": _("Closing time must be after opening time.")})


class Holiday(models.Model):
    """A date that overrides the weekly hours: closed all day, or open only opens-closes."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="holidays")
    date = models.DateField(_("date"))
    name = models.CharField(_("name"), max_length=100, blank=True)
    opens = models.TimeField(
        _("opens"), null=True, blank=True, help_text=_("Blank: closed all day.")
    )
    closes = models.TimeField(_("closes"), null=True, blank=True)

    class Meta:
        verbose_name = _("holiday")
        verbose_name_plural = _("holidays")
        ordering = ["date"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "date"], name="holiday_unique_date")
        ]

    def __str__(self) -> str:
        return f"{self.date} {self.name}"

    def clean(self):
        if (self.opens is None) != (self.closes is None):
            raise ValidationError(_("Give both opening and closing time, or neither."))
        if self.opens is not None and self.closes <= self.opens:
            raise ValidationError({"closes": _("Closing time must be after opening time.")})


class AuditEntry(models.Model):
    """Who did what in the back office, the workspace or the API: exports, erasures, retention
    runs, settings, roles and tokens (merchants.audit). Read-only in the admin; removed with
    the merchant only."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="+")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("who"),
    )
    # "alice", "API token ci (kf_abc…)", "retention": kept when the user is deleted.
    actor_label = models.CharField(_("who"), max_length=150, blank=True)
    action = models.CharField(_("action"), max_length=40)
    target = models.CharField(_("what"), max_length=200, blank=True)
    detail = models.JSONField(_("detail"), default=dict, blank=True)
    at = models.DateTimeField(_("at"), auto_now_add=True)

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit log")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["merchant", "at"], name="audit_merchant_at")]

    def __str__(self) -> str:
        return f"{self.actor_label} {self.action} {self.target}"
