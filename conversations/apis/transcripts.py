"""Exporting a conversation's transcript."""

from __future__ import annotations

import datetime
import json

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, serializers

from knowledge.formats import write_table
from merchants.permissions import request_merchant_id

from .. import selectors
from ..serializers import ConversationSerializer, MessageSerializer, VisitorSerializer


class TranscriptQuerySerializer(serializers.Serializer):
    # Not `format`: DRF reads that one to pick a renderer.
    as_ = serializers.ChoiceField(
        choices=["json", "csv"], required=False, default="json", help_text="json or csv."
    )

    def to_internal_value(self, data):
        return super().to_internal_value({"as_": data["as"]} if "as" in data else {})


TRANSCRIPT_COLUMNS = ["seq", "created_at", "sender_kind", "sender_name", "private", "kind", "body"]


@extend_schema(
    tags=["conversations"],
    summary="A conversation's transcript as a file (JSON or CSV), private notes included",
    parameters=[
        OpenApiParameter("as", str, enum=["json", "csv"], description="File type; json if absent.")
    ],
    responses={
        (200, "application/json"): OpenApiResponse(
            OpenApiTypes.OBJECT, "`{conversation, visitor, messages}` in the API's shapes."
        ),
        (200, "text/csv"): OpenApiResponse(
            OpenApiTypes.STR, "One row per message: " + ", ".join(TRANSCRIPT_COLUMNS) + "."
        ),
        400: OpenApiResponse(description="Field errors (`as`)."),
        404: OpenApiResponse(description="No such conversation for this merchant."),
    },
)
class ConversationTranscript(generics.GenericAPIView):
    """Everything said in one conversation, oldest first, as a download. Visitor and agent
    text is data: in CSV a cell that Excel would run as a formula is prefixed with `'`."""

    serializer_class = ConversationSerializer

    def get(self, request, pk: int):
        params = TranscriptQuerySerializer(data=request.query_params)
        if not params.is_valid():
            raise serializers.ValidationError({"as": params.errors.get("as_", [])})
        merchant_id = request_merchant_id(request)
        conversation = selectors.conversation_get(merchant_id=merchant_id, conversation_id=pk)
        messages = list(selectors.message_list(merchant_id=merchant_id, conversation_id=pk))
        as_ = params.validated_data["as_"]
        if as_ == "csv":
            records = [
                {
                    "seq": m.seq,
                    "created_at": m.created_at.astimezone(datetime.UTC).isoformat(),
                    "sender_kind": m.sender_kind,
                    "sender_name": m.sender_name,
                    "private": m.is_private,
                    "kind": m.kind,
                    "body": m.body,
                }
                for m in messages
            ]
            body = write_table(
                fmt="csv", kind="transcript", columns=TRANSCRIPT_COLUMNS, records=records
            )
            response = HttpResponse(body, content_type="text/csv; charset=utf-8")
        else:
            data = {
                "conversation": ConversationSerializer(conversation).data,
                "visitor": VisitorSerializer(conversation.visitor).data,
                "messages": MessageSerializer(messages, many=True).data,
            }
            response = HttpResponse(
                json.dumps(data, ensure_ascii=False, indent=1),
                content_type="application/json",
            )
        name = f"conversation-{conversation.pk}.{as_}"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
