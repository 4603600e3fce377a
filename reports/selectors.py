"""Reads of the reports app: figures for a merchant and a range of local days, from the rollup
tables only (a year is a few thousand rows, whatever the number of messages). Every read names
the merchant and goes to settings.REPORTS_DB_ALIAS (a replica when one is configured)."""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Case, IntegerField, Sum, Value, When
from django.utils.translation import gettext as _

from conversations.bot import HANDOVER_REASONS
from conversations.models import Conversation, Label
from merchants.models import Membership, Team

from .models import DayDuration, DayFigures, Dimension
from .rollup import NONE_KEY

COUNTS = (
    "started",
    "answered",
    "missed",
    "waiting",
    "bot_handled",
    "bot_resolved",
    "handed_over",
    "resolved",
    "rated",
    "rating_sum",
    "satisfied",
)
BREAKDOWNS = (
    Dimension.AGENT,
    Dimension.TEAM,
    Dimension.LABEL,
    Dimension.SOURCE,
    Dimension.PAGE,
)


@dataclass(frozen=True)
class Period:
    start: dt.date  # first local day
    end: dt.date  # last local day, inclusive

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Period:
        """The same number of days just before."""
        end = self.start - dt.timedelta(days=1)
        return Period(end - dt.timedelta(days=self.days - 1), end)


def quantile(histogram: list[tuple[int, int]], q: float) -> int | None:
    """Nearest rank: the ceil(q * n)-th smallest value (1-based) of a histogram of whole
    seconds; so the median of an even count is the lower middle value. None when empty."""
    n = sum(count for _, count in histogram)
    if n == 0:
        return None
    rank = max(1, math.ceil(q * n))
    seen = 0
    for seconds, count in sorted(histogram):
        seen += count
        if seen >= rank:
            return seconds
    return None  # unreachable: seen ends at n >= rank


def figures(counts: dict, frt: list[tuple[int, int]], res: list[tuple[int, int]]) -> dict:
    """The figures of one group from its summed counts and duration histograms."""
    c = {name: int(counts.get(name) or 0) for name in COUNTS}
    started = c["started"]
    return {
        **{name: c[name] for name in COUNTS if name not in ("rating_sum", "satisfied")},
        "answer_rate": _ratio(c["answered"], started),
        "missed_rate": _ratio(c["missed"], started),
        "bot_resolved_share": _ratio(c["bot_resolved"], started),
        "handover_rate": _ratio(c["handed_over"], c["bot_handled"]),
        "satisfaction": round(c["rating_sum"] / c["rated"], 2) if c["rated"] else None,
        "satisfied_share": _ratio(c["satisfied"], c["rated"]),
        "first_response_median": quantile(frt, 0.5),
        "first_response_p90": quantile(frt, 0.9),
        "resolution_median": quantile(res, 0.5),
        "resolution_p90": quantile(res, 0.9),
    }


def _ratio(part: int, whole: int) -> float | None:
    # A share in percent with one decimal; None (shown as "-") when there is nothing to divide.
    return round(100 * part / whole, 1) if whole else None


def _sums():
    return {name: Sum(name) for name in COUNTS}


def _db() -> str:
    return settings.REPORTS_DB_ALIAS


def report_summary(*, merchant_id: int, period: Period) -> dict:
    """Totals of the period and of the previous one, the daily series, the weekday x hour
    heat map and the hand-over reasons. Three queries."""
    previous = period.previous()
    rows = (
        DayFigures.objects.using(_db())
        .filter(
            merchant_id=merchant_id,
            dimension=Dimension.ALL,
            day__gte=previous.start,
            day__lte=period.end,
        )
        .values("day", *COUNTS)
    )
    totals = {"current": defaultdict(int), "previous": defaultdict(int)}
    by_day = {}
    for row in rows:
        which = "current" if row["day"] >= period.start else "previous"
        for name in COUNTS:
            totals[which][name] += row[name]
        if which == "current":
            by_day[row["day"]] = row
    histograms = {
        (which, metric): [] for which in ("current", "previous") for metric in ("frt", "res")
    }
    for row in (
        DayDuration.objects.using(_db())
        .filter(
            merchant_id=merchant_id,
            dimension=Dimension.ALL,
            day__gte=previous.start,
            day__lte=period.end,
        )
        .annotate(
            current=Case(
                When(day__gte=period.start, then=Value(1)),
                default=Value(0),
                output_field=IntegerField(),
            )
        )
        .values("current", "metric", "seconds")
        .annotate(n=Sum("count"))
        .order_by()
    ):
        which = "current" if row["current"] else "previous"
        histograms[(which, row["metric"])].append((row["seconds"], row["n"]))
    heatmap = [[0] * 24 for _ in range(7)]
    reasons = []
    for row in (
        DayFigures.objects.using(_db())
        .filter(
            merchant_id=merchant_id,
            dimension__in=(Dimension.HOUR, Dimension.REASON),
            day__gte=period.start,
            day__lte=period.end,
        )
        .values("dimension", "key")
        .annotate(started=Sum("started"), handed_over=Sum("handed_over"))
        .order_by()
    ):
        if row["dimension"] == Dimension.HOUR:
            weekday, hour = (int(part) for part in row["key"].split(":"))
            heatmap[weekday][hour] = row["started"]
        else:
            code = row["key"]
            label = HANDOVER_REASONS.get(code)
            reasons.append(
                {
                    "reason": code,
                    "label": _(label) if label else code,
                    "count": row["handed_over"],
                }
            )
    reasons.sort(key=lambda r: (-r["count"], r["reason"]))
    daily = []
    day = period.start
    while day <= period.end:
        row = by_day.get(day, {})
        daily.append(
            {
                "day": day,
                **{
                    name: row.get(name, 0)
                    for name in ("started", "answered", "missed", "waiting", "bot_resolved")
                },
            }
        )
        day += dt.timedelta(days=1)
    return {
        "current": figures(
            totals["current"],
            histograms[("current", "frt")],
            histograms[("current", "res")],
        ),
        "previous": figures(
            totals["previous"],
            histograms[("previous", "frt")],
            histograms[("previous", "res")],
        ),
        "previous_period": previous,
        "daily": daily,
        "heatmap": heatmap,
        "reasons": reasons,
    }


def report_breakdown(*, merchant_id: int, period: Period, by: str) -> list[dict]:
    """One row of figures per agent, team, label, channel or page, most conversations first.
    Three queries (the names: one more for agents, teams and labels)."""
    counts = {
        row["key"]: row
        for row in DayFigures.objects.using(_db())
        .filter(
            merchant_id=merchant_id,
            dimension=by,
            day__gte=period.start,
            day__lte=period.end,
        )
        .values("key")
        .annotate(**_sums())
        .order_by()
    }
    histograms = defaultdict(list)
    for row in (
        DayDuration.objects.using(_db())
        .filter(
            merchant_id=merchant_id,
            dimension=by,
            day__gte=period.start,
            day__lte=period.end,
        )
        .values("key", "metric", "seconds")
        .annotate(n=Sum("count"))
        .order_by()
    ):
        histograms[(row["key"], row["metric"])].append((row["seconds"], row["n"]))
    names = _names(merchant_id, by, list(counts))
    rows = [
        {
            "key": key,
            **names.get(key, {"name": key}),
            **figures(row, histograms[(key, "frt")], histograms[(key, "res")]),
        }
        for key, row in counts.items()
    ]
    rows.sort(key=lambda r: (-r["started"], str(r["name"])))
    return rows


def _names(merchant_id: int, by: str, keys: list[str]) -> dict[str, dict]:
    """Display names of the keys; the merchant's own rows only (a key is a bare id)."""
    ids = [int(k) for k in keys if k.isdigit()]
    names: dict[str, dict] = {}
    none = {Dimension.AGENT: _("Unassigned"), Dimension.TEAM: _("No team")}
    if by == Dimension.AGENT and ids:
        for user_id, name in (
            Membership.objects.using(_db())
            .filter(merchant_id=merchant_id, user_id__in=ids)
            .values_list("user_id", "display_name")
        ):
            names[str(user_id)] = {"name": name}
    elif by == Dimension.TEAM and ids:
        for team_id, name in (
            Team.objects.using(_db())
            .filter(merchant_id=merchant_id, pk__in=ids)
            .values_list("id", "name")
        ):
            names[str(team_id)] = {"name": name}
    elif by == Dimension.LABEL and ids:
        for label_id, name, colour in (
            Label.objects.using(_db())
            .filter(merchant_id=merchant_id, pk__in=ids)
            .values_list("id", "name", "colour")
        ):
            names[str(label_id)] = {"name": name, "colour": colour}
    elif by == Dimension.SOURCE:
        names = {value: {"name": str(label)} for value, label in Conversation.Source.choices}
    elif by == Dimension.PAGE:
        names = {key: {"name": key} for key in keys}
    for key in keys:
        if key == NONE_KEY:
            names[key] = {
                "name": none.get(by)
                or (_("No label") if by == Dimension.LABEL else _("Unknown page"))
            }
        elif key not in names:
            # A deleted agent, team or label keeps its figures under its id.
            names[key] = {"name": f"#{key}"}
    return names
