"""The knowledge base the bot answers from. Every row belongs to one merchant; every write goes
through knowledge.services, which bumps Merchant.kb_version so the trainer knows to rebuild."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from merchants.models import Merchant


class Category(models.Model):
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="kb_categories")
    name = models.CharField(_("name"), max_length=100)
    sort_order = models.IntegerField(_("order"), default=0)

    class Meta:
        verbose_name = _("category")
        verbose_name_plural = _("categories")
        ordering = ["sort_order", "name"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "name"], name="kb_category_unique_name")
        ]

    def __str__(self) -> str:
        return self.name


class Faq(models.Model):
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="faqs")
    category = models.ForeignKey(
        Category,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="faqs",
        verbose_name=_("category"),
    )
    question = models.CharField(_("standard question"), max_length=500)
    # One per line.
    similar_questions = models.TextField(_("similar questions"), blank=True)
    # Safe rich text: sanitised with nh3 on every write (knowledge.services), so stored HTML is
    # already clean; the plain-text form goes to channels that cannot show HTML.
    answer = models.TextField(_("answer"))
    keywords = models.CharField(_("keywords"), max_length=500, blank=True)
    is_enabled = models.BooleanField(_("enabled"), default=True)
    valid_from = models.DateTimeField(_("valid from"), null=True, blank=True)
    valid_until = models.DateTimeField(_("valid until"), null=True, blank=True)
    hits = models.PositiveIntegerField(_("times answered"), default=0)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("FAQ entry")
        verbose_name_plural = _("FAQ entries")
        ordering = ["id"]
        indexes = [models.Index(fields=["merchant", "is_enabled"], name="faq_enabled")]

    def __str__(self) -> str:
        return self.question

    @staticmethod
    def valid_at(now) -> models.Q:
        """Entries the bot may answer with at `now`: enabled and inside their validity dates
        (what training learns and what answering re-checks)."""
        return (
            models.Q(is_enabled=True)
            & (models.Q(valid_from__isnull=True) | models.Q(valid_from__lte=now))
            & (models.Q(valid_until__isnull=True) | models.Q(valid_until__gt=now))
        )


class Intent(models.Model):
    class Action(models.TextChoices):
        ANSWER = "answer", _("Answer")
        HANDOVER = "handover", _("Hand over to a human")

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="intents")
    name = models.CharField(_("name"), max_length=100)
    # One example phrase per line.
    examples = models.TextField(_("example phrases"))
    answer = models.TextField(_("answer"), blank=True)
    action = models.CharField(
        _("action"), max_length=20, choices=Action.choices, default=Action.ANSWER
    )
    # [{"name": "order_no", "prompt": "...", "pattern": "^\\d{10}$", "reprompt": "..."}]
    slots = models.JSONField(_("slots to fill"), default=list, blank=True)
    is_enabled = models.BooleanField(_("enabled"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("intent")
        verbose_name_plural = _("intents")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "name"], name="intent_unique_name")
        ]

    def __str__(self) -> str:
        return self.name


class Synonym(models.Model):
    """Words that mean the same; they are rewritten to `word` before matching."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="synonyms")
    word = models.CharField(_("word"), max_length=100)
    # Comma or newline separated.
    synonyms = models.TextField(_("synonyms"))

    class Meta:
        verbose_name = _("synonym")
        verbose_name_plural = _("synonyms")
        ordering = ["word"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "word"], name="synonym_unique_word")
        ]

    def __str__(self) -> str:
        return self.word


class DictionaryWord(models.Model):
    """A merchant word jieba must keep whole (product names, brand terms)."""

    merchant = models.ForeignKey(
        Merchant, on_delete=models.CASCADE, related_name="dictionary_words"
    )
    word = models.CharField(_("word"), max_length=100)
    frequency = models.PositiveIntegerField(_("frequency"), null=True, blank=True)

    class Meta:
        verbose_name = _("dictionary word")
        verbose_name_plural = _("dictionary words")
        ordering = ["word"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "word"], name="dictword_unique_word")
        ]

    def __str__(self) -> str:
        return self.word


class UnansweredQuestion(models.Model):
    """A visitor question the bot could not answer with confidence: the raw material of the
    knowledge-gap report, grouped by similarity when admins look at it."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(
        "conversations.Conversation",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    text = models.CharField(_("question"), max_length=500)
    confidence = models.FloatField(_("best confidence"), default=0)
    # Set when an admin turned it into an FAQ entry or dismissed it.
    resolved_faq = models.ForeignKey(
        Faq, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    dismissed = models.BooleanField(_("dismissed"), default=False)
    created_at = models.DateTimeField(_("asked at"), auto_now_add=True)
    # Learnt from agents: after the hand-over an agent answered the conversation with this
    # entry's answer, so the visitor's wording is suggested as one of its similar questions.
    suggested_faq = models.ForeignKey(
        Faq,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("suggested FAQ entry"),
    )

    class Meta:
        verbose_name = _("unanswered question")
        verbose_name_plural = _("unanswered questions")
        indexes = [models.Index(fields=["merchant", "dismissed", "-created_at"], name="gap_open")]

    def __str__(self) -> str:
        return self.text


class BotModel(models.Model):
    """A trained model for one knowledge-base version of a merchant. Stored in the database so
    every daphne process and worker on every machine loads the same one."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="bot_models")
    kb_version = models.PositiveIntegerField()
    data = models.BinaryField()
    metrics = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("trained bot model")
        verbose_name_plural = _("trained bot models")
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "kb_version"], name="botmodel_unique_version"
            )
        ]

    def __str__(self) -> str:
        return f"{self.merchant_id} v{self.kb_version}"


class ImportJob(models.Model):
    """A large knowledge-base import run by the worker (knowledge.tasks.kb_import_task). Keeps the
    uploaded file until it has run, its progress (readable while the import's own transaction is
    still open: progress is written during validation, before that transaction starts) and the
    result shown on the admin's progress page."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        VALIDATING = "validating", _("Checking rows")
        WRITING = "writing", _("Saving")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=20)
    fmt = models.CharField(max_length=10)
    mode = models.CharField(max_length=10, default="upsert")
    filename = models.CharField(max_length=255, blank=True)
    data = models.BinaryField(default=b"")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    total_rows = models.PositiveIntegerField(default=0)
    done_rows = models.PositiveIntegerField(default=0)
    # {"created": n, "updated": n, "errors": [{"row", "field", "message"}, ...]}
    result = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("import")
        verbose_name_plural = _("imports")

    def __str__(self) -> str:
        return f"{self.kind} {self.filename} ({self.status})"


class FaqDuplicateDismissal(models.Model):
    """A pair of FAQ entries the merchant marked "not duplicates" on the duplicate-entries
    page: the pair is no longer suggested (knowledge.selectors.faq_duplicate_pairs). The lower
    id is faq_low, so a pair has one row whichever side was clicked."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="+")
    faq_low = models.ForeignKey(Faq, on_delete=models.CASCADE, related_name="+")
    faq_high = models.ForeignKey(Faq, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("duplicate entries")
        verbose_name_plural = _("duplicate entries")
        constraints = [
            models.UniqueConstraint(fields=["faq_low", "faq_high"], name="faq_dup_dismissal_unique")
        ]

    def __str__(self) -> str:
        return f"{self.faq_low_id} / {self.faq_high_id}"
