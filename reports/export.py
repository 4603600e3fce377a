"""Every report table as CSV or XLSX: the same rows the page shows, with translated headers.
Cells are values, never formulas (a page URL or a name may start with "=")."""

from __future__ import annotations

import csv
import io

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from knowledge.formats import FORMULA_START

from .models import Dimension
from .selectors import Period, report_breakdown, report_summary

TABLES = (
    "summary",
    "daily",
    "heatmap",
    "reasons",
    *(d.value for d in Dimension if d.value != "all"),
)

FIGURE_COLUMNS = (
    ("started", gettext_lazy("Started")),
    ("answered", gettext_lazy("Answered")),
    ("missed", gettext_lazy("Missed")),
    ("waiting", gettext_lazy("Waiting")),
    ("bot_resolved", gettext_lazy("Resolved by the bot")),
    ("handed_over", gettext_lazy("Handed over")),
    ("answer_rate", gettext_lazy("Answer rate %")),
    ("missed_rate", gettext_lazy("Missed %")),
    ("bot_resolved_share", gettext_lazy("Bot-resolved %")),
    ("handover_rate", gettext_lazy("Hand-over rate %")),
    ("first_response_median", gettext_lazy("First response median (s)")),
    ("first_response_p90", gettext_lazy("First response p90 (s)")),
    ("resolution_median", gettext_lazy("Resolution median (s)")),
    ("resolution_p90", gettext_lazy("Resolution p90 (s)")),
    ("rated", gettext_lazy("Ratings")),
    ("satisfaction", gettext_lazy("Satisfaction (1-5)")),
    ("satisfied_share", gettext_lazy("Satisfied %")),
)
WEEKDAYS = (
    gettext_lazy("Monday"),
    gettext_lazy("Tuesday"),
    gettext_lazy("Wednesday"),
    gettext_lazy("Thursday"),
    gettext_lazy("Friday"),
    gettext_lazy("Saturday"),
    gettext_lazy("Sunday"),
)


def table(*, merchant_id: int, period: Period, name: str) -> tuple[list[str], list[list]]:
    """(headers, rows) of one report table."""
    if name in ("summary", "daily", "heatmap", "reasons"):
        summary = report_summary(merchant_id=merchant_id, period=period)
        if name == "summary":
            previous = summary["previous_period"]
            headers = [
                _("Figure"),
                f"{period.start} - {period.end}",
                f"{previous.start} - {previous.end}",
            ]
            rows = [
                [str(label), summary["current"][key], summary["previous"][key]]
                for key, label in FIGURE_COLUMNS
            ]
            return headers, rows
        if name == "daily":
            keys = ("started", "answered", "missed", "waiting", "bot_resolved")
            labels = dict(FIGURE_COLUMNS)
            return [_("Day"), *(str(labels[k]) for k in keys)], [
                [row["day"].isoformat(), *(row[k] for k in keys)] for row in summary["daily"]
            ]
        if name == "heatmap":
            return [_("Weekday"), *(f"{h:02d}:00" for h in range(24))], [
                [str(WEEKDAYS[i]), *summary["heatmap"][i]] for i in range(7)
            ]
        return [_("Reason"), _("Code"), _("Handed over")], [
            [r["label"], r["reason"], r["count"]] for r in summary["reasons"]
        ]
    rows = report_breakdown(merchant_id=merchant_id, period=period, by=name)
    return [str(Dimension(name).label), *(str(label) for _k, label in FIGURE_COLUMNS)], [
        [row["name"], *(row[key] for key, _label in FIGURE_COLUMNS)] for row in rows
    ]


def _text(value):
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        # CSV injection: Excel hides the apostrophe and shows the text as text.
        return "'" + value
    return value


def as_csv(headers: list[str], rows: list[list]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([_text(h) for h in headers])
    for row in rows:
        writer.writerow([_text(v) for v in row])
    # With a BOM, so Excel opens Chinese text as UTF-8.
    return out.getvalue().encode("utf-8-sig")


def as_xlsx(title: str, headers: list[str], rows: list[list]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title[:31])

    def cells(values):
        out = []
        for value in values:
            if isinstance(value, str):
                value = ILLEGAL_CHARACTERS_RE.sub("", value)
            cell = WriteOnlyCell(sheet, "" if value is None else value)
            if isinstance(value, str):
                cell.data_type = "s"  # text stays text: openpyxl would make "=..." a formula
            out.append(cell)
        return out

    sheet.append(cells(headers))
    for row in rows:
        sheet.append(cells(row))
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
