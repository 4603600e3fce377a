"""Reads of the reports app: figures for a merchant and a range of local days, from the rollup
tables only (a year is a few thousand rows, whatever the number of messages). Every read names
the merchant and goes to settings.REPORTS_DB_ALIAS (a replica when one is configured)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q
from django.utils.translation import gettext as _

from conversations.bot import HANDOVER_REASONS
from conversations.models import Conversation, Label
from merchants.models import Membership, Team

from . import samples
from .models import DayFigures, Dimension, MonthFigures
from .rollup import COUNTS, NONE_KEY, month_of

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


def figures(counts: dict, frt, res) -> dict:
    """The figures of one group from its summed counts and its duration samples (arrays)."""
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
        "first_response_median": samples.quantile(frt, 0.5),
        "first_response_p90": samples.quantile(frt, 0.9),
        "resolution_median": samples.quantile(res, 0.5),
        "resolution_p90": samples.quantile(res, 0.9),
    }


def _ratio(part: int, whole: int) -> float | None:
    # A share in percent with one decimal; None (shown as "-") when there is nothing to divide.
    return round(100 * part / whole, 1) if whole else None


def _db() -> str:
    return settings.REPORTS_DB_ALIAS


def report_summary(*, merchant_id: int, period: Period) -> dict:
    """Totals of the period and of the previous one, the daily series, the weekday x hour
    heat map and the hand-over reasons. One query: the "all" rows of both periods."""
    previous = period.previous()
    rows = (
        DayFigures.objects.using(_db())
        .filter(
            merchant_id=merchant_id,
            dimension=Dimension.ALL,
            day__gte=previous.start,
            day__lte=period.end,
        )
        .values("day", "frt", "res", "hours", "reasons", *COUNTS)
    )
    totals = {"current": defaultdict(int), "previous": defaultdict(int)}
    blobs = {(which, m): [] for which in totals for m in ("frt", "res")}
    by_day = {}
    heatmap = [[0] * 24 for _ in range(7)]
    by_reason: dict[str, int] = defaultdict(int)
    for row in rows:
        which = "current" if row["day"] >= period.start else "previous"
        for name in COUNTS:
            totals[which][name] += row[name]
        blobs[(which, "frt")].append(row["frt"])
        blobs[(which, "res")].append(row["res"])
        if which == "current":
            by_day[row["day"]] = row
            weekday = heatmap[row["day"].weekday()]
            for hour, started in enumerate(row["hours"] or ()):
                weekday[hour] += started
            for code, handed_over in (row["reasons"] or {}).items():
                by_reason[code] += handed_over
    reasons = [
        {
            "reason": code,
            "label": _(HANDOVER_REASONS[code]) if code in HANDOVER_REASONS else code,
            "count": count,
        }
        for code, count in by_reason.items()
    ]
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
            samples.join(blobs[("current", "frt")]),
            samples.join(blobs[("current", "res")]),
        ),
        "previous": figures(
            totals["previous"],
            samples.join(blobs[("previous", "frt")]),
            samples.join(blobs[("previous", "res")]),
        ),
        "previous_period": previous,
        "daily": daily,
        "heatmap": heatmap,
        "reasons": reasons,
    }


def report_breakdown(*, merchant_id: int, period: Period, by: str) -> list[dict]:
    """One row of figures per agent, team, label, channel or page, most conversations first.
    One query (and one for the names of agents, teams and labels): the month rows of the whole
    local months inside the period and the day rows of the days at its edges, so a year of
    40 pages reads about 1,500 rows instead of 14,600."""
    counts: dict[str, dict] = defaultdict(lambda: defaultdict(int))
    blobs: dict[str, dict] = defaultdict(lambda: {"frt": [], "res": []})
    for row in _breakdown_rows(merchant_id, period, by):
        key, frt, res = row[:3]
        group = counts[key]
        for name, value in zip(COUNTS, row[3:], strict=True):
            group[name] += value
        blobs[key]["frt"].append(frt)
        blobs[key]["res"].append(res)
    names = _names(merchant_id, by, list(counts))
    rows = [
        {
            "key": key,
            **names.get(key, {"name": key}),
            **figures(
                group,
                samples.join(blobs[key]["frt"]),
                samples.join(blobs[key]["res"]),
            ),
        }
        for key, group in counts.items()
    ]
    rows.sort(key=lambda r: (-r["started"], str(r["name"])))
    return rows


def whole_months(period: Period) -> tuple[dt.date, dt.date] | None:
    """[first, last] local days of the whole months inside the period, or None."""
    first = month_of(period.start)
    if first != period.start:
        first = month_of(first + dt.timedelta(days=32))
    after = month_of(period.end + dt.timedelta(days=1))  # the month after the last whole one
    if after <= first:
        return None
    return first, after - dt.timedelta(days=1)


def _breakdown_rows(merchant_id: int, period: Period, by: str):
    """(key, frt, res, *COUNTS) of every row the period is made of, in one query."""
    columns = ("key", "frt", "res", *COUNTS)
    days = DayFigures.objects.using(_db()).filter(merchant_id=merchant_id, dimension=by)
    months = whole_months(period)
    if months is None:
        return days.filter(day__gte=period.start, day__lte=period.end).values_list(*columns)
    first, last = months
    edges = days.filter(
        Q(day__gte=period.start, day__lt=first) | Q(day__gt=last, day__lte=period.end)
    ).values_list(*columns)
    inside = (
        MonthFigures.objects.using(_db())
        .filter(merchant_id=merchant_id, dimension=by, month__gte=first, month__lte=last)
        .values_list(*columns)
    )
    return edges.union(inside, all=True)


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
