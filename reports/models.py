"""Rollup tables: the figures of docs/reports.md, per merchant, per local day of the
conversations' start, per dimension. Written only by reports.rollup (a whole day at a time, so
a re-run gives the same rows); read by reports.selectors."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from merchants.models import Merchant


class Dimension(models.TextChoices):
    ALL = "all", _("All conversations")
    AGENT = "agent", _("Agent")
    TEAM = "team", _("Team")
    LABEL = "label", _("Label")
    SOURCE = "source", _("Channel")
    PAGE = "page", _("Page")


class Figures(models.Model):
    """Counts, sums and duration samples of a group of conversations: what a day row and a
    month row both carry."""

    id = models.BigAutoField(primary_key=True)
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="+")
    dimension = models.CharField(max_length=10, choices=Dimension.choices)
    key = models.CharField(max_length=255)
    started = models.PositiveIntegerField(default=0)
    answered = models.PositiveIntegerField(default=0)
    missed = models.PositiveIntegerField(default=0)
    waiting = models.PositiveIntegerField(default=0)
    bot_handled = models.PositiveIntegerField(default=0)
    bot_resolved = models.PositiveIntegerField(default=0)
    handed_over = models.PositiveIntegerField(default=0)
    resolved = models.PositiveIntegerField(default=0)
    rated = models.PositiveIntegerField(default=0)
    rating_sum = models.PositiveIntegerField(default=0)
    satisfied = models.PositiveIntegerField(default=0)  # rated 4 or 5
    # Every first response time and resolution time of the group, in whole seconds, sorted,
    # as little-endian uint32 (reports.samples): concatenating the days of a range keeps every
    # value, so medians and p90 over any range are exact, from one row per day and group.
    frt = models.BinaryField(default=b"")
    res = models.BinaryField(default=b"")

    class Meta:
        abstract = True


class DayFigures(Figures):
    """The conversations that started on `day` (the merchant's local date) and fall under
    (dimension, key). The partition started = answered + bot_resolved + missed + waiting holds
    on every row."""

    day = models.DateField()
    # On the "all" row only, so the summary is one query over one row per day: conversations
    # started per local hour of the day ([24 counts]) and hand-overs per first reason code.
    hours = models.JSONField(default=list, blank=True)
    reasons = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "day", "dimension", "key"], name="report_day_key"
            )
        ]
        indexes = [models.Index(fields=["merchant", "dimension", "day"], name="report_dim_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.dimension}={self.key}"


class MonthFigures(Figures):
    """The breakdown dimensions' day rows of one local month (`month` is its first day) merged
    into one row per key, written with the day rows (reports.rollup.month_rollup): a
    breakdown over a year reads the whole months inside the range here and only the days at
    its edges from DayFigures. The "all" dimension has none (the summary needs its days)."""

    month = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "month", "dimension", "key"], name="report_month_key"
            )
        ]
        indexes = [models.Index(fields=["merchant", "dimension", "month"], name="report_dim_month")]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.dimension}={self.key}"


class RollupState(models.Model):
    """One row per merchant: its row lock serialises the rollups of that merchant (two
    workers rebuilding the same day would otherwise both delete and both insert), and it
    remembers the time zone the rows were bucketed in (a change rebuilds them)."""

    merchant = models.OneToOneField(
        Merchant, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    time_zone = models.CharField(max_length=64, blank=True)
    # The sweep's high-water mark: events recorded up to here are rolled up.
    swept_until = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.merchant_id} ({self.time_zone})"


class PendingRollup(models.Model):
    """A (merchant, local day) with facts not yet rolled up and one rebuild queued for them
    (reports.rollup.day_rollup_request; docs/reports.md, "Incremental")."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    requested_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["merchant", "day"], name="reports_pending_day")
        ]

    def __str__(self) -> str:
        return f"{self.merchant_id} {self.day}"
