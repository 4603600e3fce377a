"""Quick replies (canned responses): the list, one reply, counting a use (docs/desk.md)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.response import Response

from merchants.permissions import request_merchant_id

from .. import selectors, services
from ..serializers import CannedResponseSerializer, CannedResponseWriteSerializer
from .common import canned_actor


@extend_schema(tags=["canned responses"])
class CannedResponseList(generics.ListAPIView):
    """Quick replies: the merchant-wide ones and the signed-in agent's own, most used first.
    Not paginated: the workspace loads the whole set for its `/` picker, and a merchant keeps
    tens of them, not thousands."""

    serializer_class = CannedResponseSerializer
    pagination_class = None

    def get_queryset(self):
        merchant_id = request_merchant_id(self.request)
        return selectors.canned_response_list(
            merchant_id=merchant_id, user_id=canned_actor(self.request).user_id
        )

    @extend_schema(
        request=CannedResponseWriteSerializer,
        responses={
            201: CannedResponseSerializer,
            400: OpenApiResponse(description="Field errors, or `code`: shortcut_taken."),
            403: OpenApiResponse(description="Shared replies are for owners and admins."),
        },
    )
    def post(self, request):
        merchant_id = request_merchant_id(request)
        data = CannedResponseWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        row = services.canned_response_create(
            merchant_id=merchant_id, actor=canned_actor(request), **data.validated_data
        )
        return Response(CannedResponseSerializer(row).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["canned responses"])
class CannedResponseDetail(generics.GenericAPIView):
    """One quick reply: read, edit (PATCH), delete. Another agent's personal reply is 404."""

    serializer_class = CannedResponseSerializer

    def get(self, request, pk: int):
        merchant_id = request_merchant_id(request)
        row = selectors.canned_response_get(
            merchant_id=merchant_id, user_id=canned_actor(request).user_id, pk=pk
        )
        return Response(CannedResponseSerializer(row).data)

    @extend_schema(request=CannedResponseWriteSerializer)
    def patch(self, request, pk: int):
        merchant_id = request_merchant_id(request)
        data = CannedResponseWriteSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        changes = {k: v for k, v in data.validated_data.items() if k in request.data}
        changes.pop("personal", None)  # a reply does not change hands
        row = services.canned_response_update(
            merchant_id=merchant_id, actor=canned_actor(request), pk=pk, **changes
        )
        return Response(CannedResponseSerializer(row).data)

    def delete(self, request, pk: int):
        merchant_id = request_merchant_id(request)
        services.canned_response_delete(merchant_id=merchant_id, actor=canned_actor(request), pk=pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(
    tags=["canned responses"],
    request=None,
    responses={200: OpenApiResponse(description='`{"usage_count": n}`')},
)
class CannedResponseUse(generics.GenericAPIView):
    """The agent inserted this reply: count it (the picker lists the most used first)."""

    serializer_class = CannedResponseSerializer

    def post(self, request, pk: int):
        merchant_id = request_merchant_id(request)
        count = services.canned_response_used(
            merchant_id=merchant_id, actor=canned_actor(request), pk=pk
        )
        return Response({"usage_count": count})
