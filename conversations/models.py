from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from merchants.models import Merchant


class Visitor(models.Model):
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="visitors")
    # Random id the widget keeps in the visitor's browser; it is what makes a visitor "the same".
    anonymous_id = models.CharField(_("anonymous id"), max_length=64)
    name = models.CharField(_("name"), max_length=200, blank=True)
    email = models.EmailField(_("email"), blank=True)
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    # The merchant's own user id, set only through a signed identity (see widget bootstrap).
    external_id = models.CharField(_("external id"), max_length=128, blank=True)
    attributes = models.JSONField(_("custom attributes"), default=dict, blank=True)
    first_seen_at = models.DateTimeField(_("first seen"), auto_now_add=True)
    last_seen_at = models.DateTimeField(_("last seen"), auto_now_add=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=500, blank=True)
    page_url = models.CharField(_("current page URL"), max_length=2000, blank=True)
    page_title = models.CharField(_("current page title"), max_length=500, blank=True)
    # --- Customer profile (issue 13): what the widget reported at bootstrap, and blocking ---
    referrer = models.CharField(_("referrer"), max_length=2000, blank=True)
    language = models.CharField(_("language"), max_length=35, blank=True)
    # A blocked visitor cannot write (conversations.services.customers.visitor_block).
    blocked_at = models.DateTimeField(_("blocked at"), null=True, blank=True)
    blocked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("blocked by"),
    )
    block_reason = models.CharField(_("reason for blocking"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("visitor")
        verbose_name_plural = _("visitors")
        constraints = [
            models.UniqueConstraint(fields=["merchant", "anonymous_id"], name="visitor_unique_anon")
        ]
        indexes = [
            models.Index(fields=["merchant", "external_id"], name="visitor_external"),
            models.Index(fields=["merchant", "-last_seen_at"], name="visitor_recent"),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        return self.name or self.email or f"#{self.anonymous_id[:8]}"


class VisitorPageView(models.Model):
    """The visitor's page trail: one row per page the widget reported."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="+")
    visitor = models.ForeignKey(Visitor, on_delete=models.CASCADE, related_name="page_views")
    url = models.CharField(_("URL"), max_length=2000)
    title = models.CharField(_("title"), max_length=500, blank=True)
    viewed_at = models.DateTimeField(_("viewed at"), auto_now_add=True)

    class Meta:
        verbose_name = _("page view")
        verbose_name_plural = _("page views")
        indexes = [
            models.Index(fields=["merchant", "visitor", "-viewed_at"], name="pageview_trail")
        ]

    def __str__(self) -> str:
        return self.url


class Label(models.Model):
    """A merchant-defined tag for conversations (name and colour); agents add and remove them,
    views and reports group by them."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="labels")
    name = models.CharField(_("name"), max_length=50)
    colour = models.CharField(_("colour"), max_length=7, default="#64748b")
    description = models.CharField(_("description"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("label")
        verbose_name_plural = _("labels")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "name"], name="label_name_per_merchant")
        ]

    def __str__(self) -> str:
        return self.name


class AttributeDefinition(models.Model):
    """A custom attribute the merchant keeps about its customers (plan, city, signup date...).
    The values live in Visitor.attributes under `key`, checked against `kind` by
    conversations.services.customers.attribute_value_clean."""

    class Kind(models.TextChoices):
        TEXT = "text", _("Text")
        NUMBER = "number", _("Number")
        DATE = "date", _("Date")
        CHOICE = "choice", _("Choice")

    merchant = models.ForeignKey(
        Merchant, on_delete=models.CASCADE, related_name="attribute_definitions"
    )
    key = models.SlugField(
        _("key"), max_length=50, help_text=_("The name the site and the API use, e.g. plan.")
    )
    name = models.CharField(_("name"), max_length=100, help_text=_("What agents see."))
    kind = models.CharField(_("type"), max_length=10, choices=Kind.choices, default=Kind.TEXT)
    choices = models.JSONField(
        _("choices"),
        default=list,
        blank=True,
        help_text=_('For the choice type: the allowed values, e.g. ["free", "pro"].'),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("custom attribute")
        verbose_name_plural = _("custom attributes")
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "key"], name="attribute_key_per_merchant")
        ]

    def __str__(self) -> str:
        return self.name


class CustomerNote(models.Model):
    """A note agents keep about a customer (not about one conversation): shown in the visitor
    pane of every conversation of theirs. Never shown to the visitor."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="+")
    visitor = models.ForeignKey(Visitor, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("author"),
    )
    # The author's display name when written, so the pane needs no join per note.
    author_name = models.CharField(_("author"), max_length=100, blank=True)
    body = models.TextField(_("note"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("customer note")
        verbose_name_plural = _("customer notes")
        indexes = [models.Index(fields=["merchant", "visitor", "-id"], name="customer_note_list")]

    def __str__(self) -> str:
        return self.body[:50]


class Conversation(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        PENDING = "pending", _("Pending")
        RESOLVED = "resolved", _("Resolved")
        CLOSED = "closed", _("Closed")

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="conversations")
    visitor = models.ForeignKey(Visitor, on_delete=models.CASCADE, related_name="conversations")
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.OPEN
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_conversations",
        verbose_name=_("assignee"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    first_response_at = models.DateTimeField(_("first response at"), null=True, blank=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    # Denormalised from the last message so the inbox is one query.
    last_message_at = models.DateTimeField(_("last message at"), null=True, blank=True)
    last_message_preview = models.CharField(_("last message"), max_length=200, blank=True)
    last_message_sender_kind = models.CharField(max_length=10, blank=True)
    # Highest `seq` handed out; the row lock on this conversation serialises sequence numbers.
    last_seq = models.PositiveIntegerField(default=0)
    agent_last_read_seq = models.PositiveIntegerField(default=0)
    visitor_last_read_seq = models.PositiveIntegerField(default=0)
    # Highest seq already emailed to the visitor (notifications.tasks.visitor_reply_email).
    visitor_emailed_seq = models.PositiveIntegerField(default=0)
    unread_agent_count = models.PositiveIntegerField(
        _("unread by agents"), default=0, help_text=_("Visitor messages no agent has read.")
    )
    unread_visitor_count = models.PositiveIntegerField(
        _("unread by visitor"), default=0, help_text=_("Replies the visitor has not read.")
    )

    class Source(models.TextChoices):
        CHAT = "chat", _("Live chat")
        OFFLINE_FORM = "offline_form", _("Left a message")
        API = "api", _("API")

    source = models.CharField(
        _("source"), max_length=20, choices=Source.choices, default=Source.CHAT
    )
    # --- Routing (conversations.routing) ---
    team = models.ForeignKey(
        "merchants.Team",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="conversations",
        verbose_name=_("team"),
    )
    # Higher is served first from the queue (e.g. raised by strongly negative sentiment).
    priority = models.SmallIntegerField(_("priority"), default=0)
    # Set while waiting in the queue; the queue is ordered by (-priority, queued_at, id).
    queued_at = models.DateTimeField(_("queued at"), null=True, blank=True)
    assigned_at = models.DateTimeField(_("assigned at"), null=True, blank=True)
    # Acceptance timeouts since the conversation last left the queue.
    routing_attempts = models.PositiveSmallIntegerField(default=0)
    # Oldest visitor message no agent has answered yet (None once answered).
    awaiting_reply_since = models.DateTimeField(null=True, blank=True)
    # --- Snooze (services.snooze): out of the open views until `snoozed_until` (None: until
    # the visitor writes again; a visitor message wakes either kind). Set while snoozed.
    snoozed_at = models.DateTimeField(_("snoozed at"), null=True, blank=True)
    snoozed_until = models.DateTimeField(_("snoozed until"), null=True, blank=True)
    # --- Bot (conversations.bot) ---
    bot_active = models.BooleanField(_("bot is answering"), default=False)
    bot_state = models.JSONField(default=dict, blank=True)
    intent = models.CharField(_("detected intent"), max_length=100, blank=True)
    handed_over_at = models.DateTimeField(_("handed over at"), null=True, blank=True)
    # Satisfaction, on one scale whatever the merchant shows: 1-5 (a three-level 满意/一般/不满意
    # survey stores 5/3/1), so reports compare merchants and periods directly.
    labels = models.ManyToManyField(
        Label, blank=True, related_name="conversations", verbose_name=_("labels")
    )
    rating = models.PositiveSmallIntegerField(_("satisfaction rating"), null=True, blank=True)
    rating_comment = models.CharField(_("rating comment"), max_length=1000, blank=True)
    rated_at = models.DateTimeField(_("rated at"), null=True, blank=True)
    # Set when retention or an erasure anonymised it: its texts are gone, its figures stay.
    erased_at = models.DateTimeField(_("anonymised at"), null=True, blank=True)
    # --- The post-commit step (conversations.pipeline) ---
    # Every message up to this seq has been through the step (bot turn, router) or needed none;
    # equal to last_seq while nothing waits for it. Advanced under this row's lock, in the
    # transaction that holds the step's writes, so a second run finds nothing to do.
    pipeline_seq = models.PositiveIntegerField(default=0)
    # Since when a stored visitor message waits for the step (None: nothing waits); the beat
    # sweep runs the step for rows waiting past a grace period (their process died).
    pipeline_pending_since = models.DateTimeField(null=True, blank=True)
    # Seq of the visitor message that last reopened this conversation: the step tells the
    # router "reopened" for that message.
    pipeline_reopened_seq = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")
        indexes = [
            models.Index(fields=["merchant", "queued_at"], name="conv_queue"),
            models.Index(fields=["merchant", "-last_message_at", "-id"], name="conv_inbox"),
            models.Index(
                fields=["merchant", "status", "-last_message_at"], name="conv_inbox_status"
            ),
            models.Index(fields=["merchant", "assignee", "status"], name="conv_assignee"),
            models.Index(fields=["merchant", "visitor", "-id"], name="conv_visitor"),
            models.Index(fields=["pipeline_pending_since"], name="conv_pipeline_pending"),
            # The beat task that wakes timed snoozes (tasks.snooze_wake).
            models.Index(fields=["snoozed_until"], name="conv_snoozed_until"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.visitor_id} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in (self.Status.OPEN, self.Status.PENDING)

    @property
    def rated_since_resolved(self) -> bool:
        """The visitor rated it after it was last resolved (one rating per resolution: a
        reopened conversation resolved again may be rated again)."""
        return self.rated_at is not None and (
            self.resolved_at is None or self.rated_at >= self.resolved_at
        )


class Message(models.Model):
    class SenderKind(models.TextChoices):
        VISITOR = "visitor", _("Visitor")
        AGENT = "agent", _("Agent")
        BOT = "bot", _("Bot")
        SYSTEM = "system", _("System")

    class Kind(models.TextChoices):
        TEXT = "text", _("Text")
        IMAGE = "image", _("Image")
        FILE = "file", _("File")
        EVENT = "event", _("Event")

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    # Per-conversation, starts at 1, grows by 1, no gaps: clients resume from it.
    seq = models.PositiveIntegerField()
    sender_kind = models.CharField(_("sender kind"), max_length=10, choices=SenderKind.choices)
    sender_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Who sent it, as one value ("visitor", "agent:12", "bot", "system"): the idempotency key is
    # unique per (conversation, sender), and a NULL user column could not take part in that.
    sender_key = models.CharField(max_length=32)
    # Display name at the time of sending, so history lists need no join per row.
    sender_name = models.CharField(_("sender name"), max_length=100, blank=True)
    body = models.TextField(_("body"))
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.TEXT)
    client_msg_id = models.CharField(max_length=64, null=True, blank=True)
    is_private = models.BooleanField(_("private note"), default=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    # Visitor messages: knowledge.sentiment's score in [-1, 1] and its label.
    sentiment_score = models.FloatField(_("sentiment score"), null=True, blank=True)
    sentiment_label = models.CharField(_("sentiment"), max_length=10, blank=True)
    # Structured extras, e.g. a bot answer's confidence, intent and clarifying choices.
    meta = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["conversation_id", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["conversation", "seq"], name="message_unique_seq"),
            models.UniqueConstraint(
                fields=["conversation", "sender_key", "client_msg_id"],
                name="message_unique_client_id",
            ),
        ]
        indexes = [
            models.Index(fields=["merchant", "-created_at"], name="message_recent"),
            # A merchant's messages newest first by id: search reads its newest messages
            # first (conversations/search.py), and other merchants' newer ids must not be
            # scanned on the way.
            models.Index(fields=["merchant", "-id"], name="message_merchant_id"),
        ]

    def __str__(self) -> str:
        return f"{self.conversation_id}#{self.seq}"


def attachment_path(instance: "Attachment", filename: str) -> str:
    """A random key per file, under the merchant's folder: nothing of the user's file name
    reaches the storage (no path tricks, no guessable keys)."""
    import secrets

    from django.utils import timezone

    ext = filename.rsplit(".", 1)[-1][:8].lower() if "." in filename else "bin"
    if not ext.isalnum():
        ext = "bin"
    return f"attachments/{instance.merchant_id}/{timezone.now():%Y/%m}/{secrets.token_urlsafe(18)}.{ext}"


def _attachment_storage():
    from .attachments import attachment_storage

    return attachment_storage()


class Attachment(models.Model):
    """An uploaded image or file. Uploaded over HTTP first (conversations.services.attachments),
    then sent as the attachment of one message through the ordinary message path, which sets
    `message`. Its files go with the row (the post_delete handler in attachments' services)."""

    class Kind(models.TextChoices):
        IMAGE = "image", _("Image")
        FILE = "file", _("File")

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="+")
    # Agents upload into a conversation; a visitor's upload may come before their first message,
    # so it belongs to the visitor until it is sent.
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    visitor = models.ForeignKey(
        Visitor, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    message = models.OneToOneField(
        Message, on_delete=models.CASCADE, null=True, blank=True, related_name="attachment"
    )
    # Who uploaded it ("visitor:12", "agent:5", "api:3"); with `upload_id` (the client's id for
    # this upload) it makes a retried upload return the stored row instead of a copy.
    uploader_key = models.CharField(max_length=32)
    upload_id = models.CharField(max_length=64)
    # sha256 of the bytes as uploaded: a retry with the same upload_id must carry the same file.
    upload_sha256 = models.CharField(max_length=64)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    # Decided from the content (conversations.attachments.inspect), never from the name.
    category = models.CharField(_("type"), max_length=20)
    content_type = models.CharField(_("content type"), max_length=100)
    name = models.CharField(_("file name"), max_length=200)
    size = models.PositiveBigIntegerField(_("size (bytes)"))
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    file = models.FileField(max_length=300, upload_to=attachment_path, storage=_attachment_storage)
    thumbnail = models.FileField(
        max_length=300, upload_to=attachment_path, storage=_attachment_storage, blank=True
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "uploader_key", "upload_id"], name="attachment_unique_upload"
            )
        ]
        indexes = [models.Index(fields=["message", "created_at"], name="attachment_unsent")]

    def __str__(self) -> str:
        return self.name


class CannedResponse(models.Model):
    """A quick reply (快捷回复): merchant-wide when `owner` is empty, else one agent's own.
    Written through conversations.services.canned, which keeps `search_key` current."""

    merchant = models.ForeignKey(
        Merchant, on_delete=models.CASCADE, related_name="canned_responses"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("owner"),
        help_text=_("Empty: every agent of the merchant may use it. Else only this agent."),
    )
    shortcut = models.SlugField(_("shortcut"), max_length=50, allow_unicode=True)
    title = models.CharField(_("title"), max_length=100, blank=True)
    text = models.TextField(_("text"))
    # Pinyin of shortcut and title, full and initials ("tuikuanshuoming tksm"): computed once
    # when the reply is saved, so the picker filters Chinese by pinyin without a library.
    search_key = models.CharField(max_length=500, blank=True, editable=False)
    usage_count = models.PositiveIntegerField(_("times used"), default=0, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("canned response")
        verbose_name_plural = _("canned responses")
        ordering = ["-usage_count", "shortcut"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "shortcut"], name="canned_unique_shortcut")
        ]

    def __str__(self) -> str:
        return f"/{self.shortcut}"


class RoutingEvent(models.Model):
    """One routing decision with its reason, shown in the conversation timeline and in admin."""

    class Kind(models.TextChoices):
        ASSIGNED = "assigned", _("Assigned")
        QUEUED = "queued", _("Queued")
        CLAIMED = "claimed", _("Claimed")
        TRANSFERRED = "transferred", _("Transferred")
        REASSIGNED = "reassigned", _("Reassigned")
        TIMEOUT = "timeout", _("Acceptance timeout")
        RESOLVED = "resolved", _("Resolved")
        REOPENED = "reopened", _("Reopened")
        HANDOVER = "handover", _("Handed over by the bot")
        OFFLINE = "offline", _("Left a message")

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="routing_events"
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    # Machine-readable rule ("sticky", "least_busy", "timeout", ...) plus its figures in `detail`;
    # `reason` is the human sentence, rendered in the merchant's language when it was decided.
    rule = models.CharField(_("rule"), max_length=30, blank=True)
    reason = models.CharField(_("reason"), max_length=300)
    # How to say `reason` in another language (kefu.localized.Localized.spec()): each agent
    # reads it in theirs. Empty for reasons stored as plain text (shown as they are).
    reason_i18n = models.JSONField(default=dict, blank=True, editable=False)
    detail = models.JSONField(default=dict, blank=True)
    from_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("from"),
    )
    to_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("to"),
    )
    team = models.ForeignKey(
        "merchants.Team",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("team"),
    )
    # Who did it; None when the router decided on its own.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
    )
    created_at = models.DateTimeField(_("at"), auto_now_add=True)

    class Meta:
        verbose_name = _("routing event")
        verbose_name_plural = _("routing events")
        ordering = ["conversation_id", "id"]
        indexes = [models.Index(fields=["merchant", "conversation", "id"], name="routing_timeline")]

    def __str__(self) -> str:
        return self.reason


class ConversationEvent(models.Model):
    """One lifecycle fact (docs/architecture.md, "Domain events"), written in the same
    transaction as the change by conversations.events.record_event. Webhooks deliver these rows
    and reports aggregate them: a fact that committed is never lost to a consumer, and one that
    rolled back is never seen."""

    class Kind(models.TextChoices):
        CONVERSATION_CREATED = "conversation.created", _("Conversation created")
        CONVERSATION_ASSIGNED = "conversation.assigned", _("Conversation assigned")
        CONVERSATION_TRANSFERRED = "conversation.transferred", _("Conversation transferred")
        CONVERSATION_RESOLVED = "conversation.resolved", _("Conversation resolved")
        CONVERSATION_REOPENED = "conversation.reopened", _("Conversation reopened")
        FIRST_REPLY = "conversation.first_reply", _("First reply")
        HANDED_OVER = "conversation.handed_over", _("Handed over by the bot")
        RATED = "conversation.rated", _("Rating submitted")
        LABELS_CHANGED = "conversation.labels_changed", _("Labels changed")
        MESSAGE_CREATED = "message.created", _("Message created")
        VISITOR_IDENTIFIED = "visitor.identified", _("Visitor identified")

    id = models.BigAutoField(primary_key=True)
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, null=True, blank=True, related_name="events"
    )
    # No database constraint: checking one would take a shared lock on the visitor row while
    # the agent path holds the conversation's, the reverse of the visitor path's order
    # (services.store), and deadlock. Django still cascades the delete.
    visitor = models.ForeignKey(
        Visitor,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
    )
    kind = models.CharField(_("kind"), max_length=40, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
    )
    # The fact's figures (agent, team, rule, rating, ...): JSON-safe, no visitor text.
    data = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(_("at"), db_index=False)

    class Meta:
        verbose_name = _("conversation event")
        verbose_name_plural = _("conversation events")
        ordering = ["id"]
        indexes = [
            models.Index(fields=["merchant", "kind", "at"], name="event_kind_at"),
            models.Index(fields=["merchant", "at"], name="event_at"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.conversation_id or self.visitor_id}"
