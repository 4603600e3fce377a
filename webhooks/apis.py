"""Webhook endpoints and their delivery log under /api/v1/webhooks/: for API tokens and for
the merchant's owners and admins (agents get 403). Writes go through services."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, generics, status
from rest_framework.response import Response

from kefu.pagination import KeysetPagination
from kefu.parsers import JSONParser
from merchants import audit
from merchants.permissions import request_merchant_id

from . import selectors, services
from .serializers import (
    DeliverySerializer,
    EndpointCreatedSerializer,
    EndpointRotatedSerializer,
    EndpointSerializer,
    EndpointWriteSerializer,
)


def _manager_merchant_id(request) -> int:
    """The merchant, for a token or a session of an owner or admin; 403 for an agent."""
    merchant_id = request_merchant_id(request)
    membership = request.kefu_membership  # None for a token: it acts for the whole merchant
    if membership is not None and not membership.is_manager:
        raise exceptions.PermissionDenied(_("Webhooks are managed by owners and admins."))
    return merchant_id


def _body(request, partial: bool = False) -> dict:
    data = EndpointWriteSerializer(data=request.data, partial=partial)
    data.is_valid(raise_exception=True)
    return {k: v for k, v in data.validated_data.items() if k in request.data}


class DeliveryPagination(KeysetPagination):
    ordering = ("-id",)


@extend_schema(tags=["webhooks"])
class EndpointList(generics.ListAPIView):
    """The merchant's webhook endpoints (the secret is never listed)."""

    serializer_class = EndpointSerializer
    pagination_class = None
    parser_classes = [JSONParser]

    def get_queryset(self):
        return selectors.endpoint_list(merchant_id=_manager_merchant_id(self.request))

    @extend_schema(
        request=EndpointWriteSerializer,
        responses={
            201: EndpointCreatedSerializer,
            400: OpenApiResponse(description="Field errors (`url`, `events`)."),
        },
    )
    def post(self, request):
        merchant_id = _manager_merchant_id(request)
        endpoint = services.endpoint_create(merchant_id=merchant_id, **_body(request))
        return Response(EndpointCreatedSerializer(endpoint).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["webhooks"])
class EndpointDetail(generics.GenericAPIView):
    """One endpoint: read, change (PATCH), delete."""

    serializer_class = EndpointSerializer
    parser_classes = [JSONParser]

    def get(self, request, pk: int):
        endpoint = selectors.endpoint_get(merchant_id=_manager_merchant_id(request), endpoint_id=pk)
        return Response(EndpointSerializer(endpoint).data)

    @extend_schema(request=EndpointWriteSerializer)
    def patch(self, request, pk: int):
        merchant_id = _manager_merchant_id(request)
        changes = _body(request, partial=True)
        endpoint = services.endpoint_update(merchant_id=merchant_id, endpoint_id=pk, **changes)
        return Response(EndpointSerializer(endpoint).data)

    def delete(self, request, pk: int):
        services.endpoint_delete(merchant_id=_manager_merchant_id(request), endpoint_id=pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(
    tags=["webhooks"],
    summary="Rotate the endpoint's signing secret",
    request=None,
    responses={200: EndpointRotatedSerializer},
)
class EndpointSecretRotate(generics.GenericAPIView):
    """A new signing secret, returned this once. For WEBHOOK_SECRET_GRACE_HOURS (24) each
    delivery carries two signatures, with the new and the old secret, so your receiver can
    switch without refusing one; then only the new one (docs/webhooks.md)."""

    serializer_class = EndpointRotatedSerializer

    def post(self, request, pk: int):
        endpoint = services.endpoint_secret_rotate(
            merchant_id=_manager_merchant_id(request),
            endpoint_id=pk,
            actor=audit.request_actor(request),
        )
        return Response(EndpointRotatedSerializer(endpoint).data)


@extend_schema(tags=["webhooks"], summary="Deliveries to an endpoint, newest first")
class DeliveryList(generics.ListAPIView):
    serializer_class = DeliverySerializer
    pagination_class = DeliveryPagination

    def get_queryset(self):
        merchant_id = _manager_merchant_id(self.request)
        endpoint = selectors.endpoint_get(merchant_id=merchant_id, endpoint_id=self.kwargs["pk"])
        return selectors.delivery_list(merchant_id=merchant_id, endpoint_id=endpoint.pk)


@extend_schema(
    tags=["webhooks"],
    summary="Send a delivery again (same payload, same idempotency key)",
    request=None,
    responses={202: DeliverySerializer},
)
class DeliveryRedeliver(generics.GenericAPIView):
    serializer_class = DeliverySerializer

    def post(self, request, pk: int):
        delivery = services.redeliver(merchant_id=_manager_merchant_id(request), delivery_id=pk)
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
