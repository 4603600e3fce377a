"""Webhook reads, scoped by merchant."""

from __future__ import annotations

from django.db.models import QuerySet

from kefu.errors import NotFound

from .models import WebhookDelivery, WebhookEndpoint


def endpoint_list(*, merchant_id: int) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(merchant_id=merchant_id).order_by("id")


def endpoint_get(*, merchant_id: int, endpoint_id: int) -> WebhookEndpoint:
    try:
        return WebhookEndpoint.objects.get(merchant_id=merchant_id, pk=endpoint_id)
    except (WebhookEndpoint.DoesNotExist, ValueError, TypeError):
        raise NotFound("Webhook endpoint not found.") from None


def delivery_list(*, merchant_id: int, endpoint_id: int) -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.filter(merchant_id=merchant_id, endpoint_id=endpoint_id)
