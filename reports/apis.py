"""The reports API under /api/v1/reports/: the figures the reports page draws, and every table
as CSV or XLSX. For API tokens and for the merchant's owners and admins; agents get 403
(docs/reports.md, "Who sees what")."""

from __future__ import annotations

import datetime as dt

from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, generics, serializers
from rest_framework.response import Response

from merchants.models import Merchant
from merchants.permissions import request_merchant_id

from . import export, selectors
from .rollup import merchant_zone

MAX_DAYS = 366
DEFAULT_DAYS = 7
FIRST_DAY = dt.date(2000, 1, 1)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
LAST_DAY = dt.date(2100, 12, 31)


class PeriodSerializer(serializers.Serializer):
    """`from` and `to`: local dates (YYYY-MM-DD) in the merchant's time zone, both included.
    Without them: the last seven days up to today."""

    def get_fields(self):
        return {
            "from": serializers.DateField(required=False, help_text=_("First day (YYYY-MM-DD).")),
            "to": serializers.DateField(required=False, help_text=_("Last day, included.")),
        }

    def validate(self, attrs):
        errors = {}
        for name in ("from", "to"):
            value = attrs.get(name)
            if value is not None and not FIRST_DAY <= value <= LAST_DAY:
                errors[name] = [_("Give a date between 2000-01-01 and 2100-12-31.")]
        if errors:
            raise serializers.ValidationError(errors)
        start, end = attrs.get("from"), attrs.get("to")
        if start is not None and end is not None:
            if end < start:
                raise serializers.ValidationError({"to": [_("The last day is before the first.")]})
            if (end - start).days + 1 > MAX_DAYS:
                raise serializers.ValidationError(
                    {"from": [_("A report covers at most 366 days.")]}
                )
        return attrs


class BreakdownQuerySerializer(PeriodSerializer):
    def get_fields(self):
        return {
            **super().get_fields(),
            "by": serializers.ChoiceField(choices=[d.value for d in selectors.BREAKDOWNS]),
        }


class ExportQuerySerializer(PeriodSerializer):
    def get_fields(self):
        return {
            **super().get_fields(),
            "table": serializers.ChoiceField(choices=list(export.TABLES)),
            "file": serializers.ChoiceField(choices=["csv", "xlsx"], default="csv"),
        }


def _merchant_id(request) -> int:
    merchant_id = request_merchant_id(request)
    membership = getattr(request, "kefu_membership", None)
    if membership is not None and not membership.is_manager:
        raise exceptions.PermissionDenied(_("Reports are for the merchant's owners and admins."))
    return merchant_id


def _period(request, serializer_class) -> tuple[int, selectors.Period, dict]:
    merchant_id = _merchant_id(request)
    params = serializer_class(data=request.query_params)
    params.is_valid(raise_exception=True)
    data = params.validated_data
    start, end = data.get("from"), data.get("to")
    if start is None or end is None:
        merchant = Merchant.objects.only("timezone").get(pk=merchant_id)
        today = timezone.localtime(timezone.now(), merchant_zone(merchant)).date()
        if end is None:
            end = min(today, start + dt.timedelta(days=DEFAULT_DAYS - 1)) if start else today
        if start is None:
            start = end - dt.timedelta(days=DEFAULT_DAYS - 1)
        if end < start:
            raise exceptions.ValidationError({"to": [_("The last day is before the first.")]})
    return merchant_id, selectors.Period(start, end), data


class FiguresSerializer(serializers.Serializer):
    started = serializers.IntegerField()
    answered = serializers.IntegerField()
    missed = serializers.IntegerField()
    waiting = serializers.IntegerField()
    bot_handled = serializers.IntegerField()
    bot_resolved = serializers.IntegerField()
    handed_over = serializers.IntegerField()
    resolved = serializers.IntegerField()
    rated = serializers.IntegerField()
    answer_rate = serializers.FloatField(allow_null=True, help_text=_("Percent of started."))
    missed_rate = serializers.FloatField(allow_null=True)
    bot_resolved_share = serializers.FloatField(allow_null=True)
    handover_rate = serializers.FloatField(
        allow_null=True, help_text=_("Percent of the conversations the bot answered.")
    )
    satisfaction = serializers.FloatField(allow_null=True, help_text=_("Mean rating, 1-5."))
    satisfied_share = serializers.FloatField(allow_null=True, help_text=_("Rated 4 or 5, %."))
    first_response_median = serializers.IntegerField(allow_null=True, help_text=_("Seconds."))
    first_response_p90 = serializers.IntegerField(allow_null=True)
    resolution_median = serializers.IntegerField(allow_null=True)
    resolution_p90 = serializers.IntegerField(allow_null=True)


class RangeSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()


class DaySerializer(serializers.Serializer):
    day = serializers.DateField()
    started = serializers.IntegerField()
    answered = serializers.IntegerField()
    missed = serializers.IntegerField()
    waiting = serializers.IntegerField()
    bot_resolved = serializers.IntegerField()


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField()
    label = serializers.CharField()
    count = serializers.IntegerField()


class SummarySerializer(serializers.Serializer):
    time_zone = serializers.CharField()
    period = RangeSerializer()
    previous_period = RangeSerializer()
    current = FiguresSerializer()
    previous = FiguresSerializer()
    daily = DaySerializer(many=True)
    heatmap = serializers.ListField(
        child=serializers.ListField(child=serializers.IntegerField()),
        help_text=_("Conversations started, [weekday 0 = Monday][hour 0-23], local time."),
    )
    reasons = ReasonSerializer(many=True)


class BreakdownRowSerializer(FiguresSerializer):
    key = serializers.CharField()
    name = serializers.CharField()
    colour = serializers.CharField(required=False)


class BreakdownSerializer(serializers.Serializer):
    by = serializers.CharField()
    period = RangeSerializer()
    rows = BreakdownRowSerializer(many=True)


@extend_schema(tags=["reports"], parameters=[PeriodSerializer], responses=SummarySerializer)
class ReportSummary(generics.GenericAPIView):
    """Totals of the period and of the previous period of the same length, the daily series,
    the weekday x hour heat map and the bot's hand-over reasons."""

    serializer_class = SummarySerializer
    pagination_class = None

    def get(self, request):
        merchant_id, period, _data = _period(request, PeriodSerializer)
        summary = selectors.report_summary(merchant_id=merchant_id, period=period)
        merchant = Merchant.objects.only("timezone").get(pk=merchant_id)
        summary.update(time_zone=merchant.timezone, period=period)
        return Response(SummarySerializer(summary).data)


@extend_schema(
    tags=["reports"], parameters=[BreakdownQuerySerializer], responses=BreakdownSerializer
)
class ReportBreakdown(generics.GenericAPIView):
    """The figures per agent, team, label, channel (source) or start page."""

    serializer_class = BreakdownSerializer
    pagination_class = None

    def get(self, request):
        merchant_id, period, data = _period(request, BreakdownQuerySerializer)
        rows = selectors.report_breakdown(merchant_id=merchant_id, period=period, by=data["by"])
        return Response(
            BreakdownSerializer({"by": data["by"], "period": period, "rows": rows}).data
        )


@extend_schema(
    tags=["reports"],
    parameters=[ExportQuerySerializer],
    # Per content type (schemathesis checks the type against the schema): CSV text or XLSX.
    responses={
        (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description=_("CSV or XLSX file.")),
        (200, XLSX): OpenApiResponse(OpenApiTypes.BINARY, description=_("CSV or XLSX file.")),
    },
)
class ReportExport(generics.GenericAPIView):
    """One report table as a CSV (UTF-8 with BOM) or XLSX file."""

    pagination_class = None

    def get(self, request):
        merchant_id, period, data = _period(request, ExportQuerySerializer)
        name = data["table"]
        headers, rows = export.table(merchant_id=merchant_id, period=period, name=name)
        filename = f"report-{name}-{period.start}-{period.end}.{data['file']}"
        if data["file"] == "xlsx":
            body = export.as_xlsx(name, headers, rows)
            content_type = XLSX
        else:
            body = export.as_csv(headers, rows)
            content_type = "text/csv; charset=utf-8"
        response = HttpResponse(body, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
