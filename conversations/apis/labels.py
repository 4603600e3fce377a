"""Labels and custom attribute definitions (issue 13): managing them is for owners, admins and
API tokens (common.canned_actor says who manages); applying labels to a conversation is for
every agent of the merchant."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.response import Response

from kefu.parsers import JSONParser
from merchants.permissions import request_merchant_id

from .. import selectors, services
from ..serializers import (
    AttributeDefinitionSerializer,
    ConversationLabelsOutSerializer,
    ConversationLabelsSerializer,
    LabelSerializer,
    LabelWriteSerializer,
)
from .common import canned_actor, validated_body


@extend_schema(tags=["labels"])
class LabelList(generics.ListAPIView):
    """The merchant's labels by name. Not paginated: a merchant keeps tens of them."""

    serializer_class = LabelSerializer
    pagination_class = None

    def get_queryset(self):
        return selectors.label_list(merchant_id=request_merchant_id(self.request))

    @extend_schema(
        request=LabelWriteSerializer,
        responses={
            201: LabelSerializer,
            400: OpenApiResponse(description="Field errors, or `code`: label_name_taken."),
            403: OpenApiResponse(description="Labels are managed by owners and admins."),
        },
    )
    def post(self, request):
        merchant_id = request_merchant_id(request)
        params = validated_body(LabelWriteSerializer, request)
        label = services.label_create(
            merchant_id=merchant_id, is_manager=canned_actor(request).is_manager, **params
        )
        return Response(LabelSerializer(label).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["labels"])
class LabelDetail(generics.GenericAPIView):
    """One label: read, edit (PATCH), delete (it leaves every conversation)."""

    serializer_class = LabelSerializer

    def get(self, request, pk: int):
        label = selectors.label_get(merchant_id=request_merchant_id(request), label_id=pk)
        return Response(LabelSerializer(label).data)

    @extend_schema(request=LabelWriteSerializer)
    def patch(self, request, pk: int):
        merchant_id = request_merchant_id(request)
        data = LabelWriteSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        label = services.label_update(
            merchant_id=merchant_id,
            is_manager=canned_actor(request).is_manager,
            label_id=pk,
            **data.validated_data,
        )
        return Response(LabelSerializer(label).data)

    def delete(self, request, pk: int):
        services.label_delete(
            merchant_id=request_merchant_id(request),
            is_manager=canned_actor(request).is_manager,
            label_id=pk,
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(
    tags=["labels"],
    summary="Add and remove labels on a conversation",
    request=ConversationLabelsSerializer,
    responses={
        200: ConversationLabelsOutSerializer,
        400: OpenApiResponse(description="Field errors, or `code` unknown_label."),
        404: OpenApiResponse(description="No such conversation for this merchant."),
    },
)
class ConversationLabels(generics.GenericAPIView):
    """Every agent may label. Answers with the conversation's label ids afterwards."""

    parser_classes = [JSONParser]
    serializer_class = ConversationLabelsSerializer

    def post(self, request, pk: int):
        merchant_id = request_merchant_id(request)
        params = validated_body(ConversationLabelsSerializer, request)
        label_ids = services.conversation_labels_change(
            merchant_id=merchant_id,
            conversation_id=pk,
            add=params["add"],
            remove=params["remove"],
            actor_user_id=canned_actor(request).user_id,
        )
        return Response({"label_ids": label_ids})


@extend_schema(tags=["visitors"])
class AttributeDefinitionList(generics.ListAPIView):
    """The merchant's custom attributes (text, number, date, choice). Not paginated."""

    serializer_class = AttributeDefinitionSerializer
    pagination_class = None

    def get_queryset(self):
        return selectors.attribute_definition_list(merchant_id=request_merchant_id(self.request))

    @extend_schema(
        request=AttributeDefinitionSerializer,
        responses={201: AttributeDefinitionSerializer, 403: OpenApiResponse()},
    )
    def post(self, request):
        params = validated_body(AttributeDefinitionSerializer, request)
        row = services.attribute_definition_create(
            merchant_id=request_merchant_id(request),
            is_manager=canned_actor(request).is_manager,
            key=params["key"],
            name=params["name"],
            kind=params.get("kind", "text"),
            choices=params.get("choices") or [],
        )
        return Response(AttributeDefinitionSerializer(row).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["visitors"])
class AttributeDefinitionDetail(generics.GenericAPIView):
    serializer_class = AttributeDefinitionSerializer

    def delete(self, request, pk: int):
        services.attribute_definition_delete(
            merchant_id=request_merchant_id(request),
            is_manager=canned_actor(request).is_manager,
            definition_id=pk,
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
