"""Visitors and their customer data (issue 13): the list, one visitor, export and erasure
(owners, admins and API tokens), the profile, notes, attribute values and blocking (every agent
of the merchant)."""

from __future__ import annotations

from django.http import HttpResponse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, generics, serializers, status
from rest_framework.response import Response

from kefu.pagination import KeysetPagination
from kefu.parsers import JSONParser
from merchants import audit
from merchants.permissions import request_merchant_id

from .. import selectors, services
from ..serializers import (
    BlockByIdentitySerializer,
    BlockSerializer,
    NoteCreateSerializer,
    NoteSerializer,
    VisitorCreateSerializer,
    VisitorProfileSerializer,
    VisitorSerializer,
    VisitorUpdateSerializer,
)
from ..services import privacy
from .common import canned_actor, validated_body


class VisitorPagination(KeysetPagination):
    ordering = ("-last_seen_at", "-id")


@extend_schema(tags=["visitors"])
class VisitorList(generics.ListAPIView):
    """Visitors, most recently seen first; POST creates a contact (docs/api.md, "Contacts")."""

    serializer_class = VisitorSerializer
    pagination_class = VisitorPagination
    parser_classes = [JSONParser]

    def get_queryset(self):
        return selectors.visitor_list(merchant_id=request_merchant_id(self.request))

    @extend_schema(
        summary="Create a contact",
        request=VisitorCreateSerializer,
        responses={
            201: VisitorSerializer,
            200: OpenApiResponse(
                VisitorSerializer,
                "The merchant already has a visitor with this `external_id`: that visitor, "
                "unchanged (PATCH /api/v1/visitors/{id}/ changes it).",
            ),
            400: OpenApiResponse(
                description="Field errors (`email`, `external_id`, `attributes.<key>`...), "
                "`code` unknown_attribute for a key the merchant has not defined."
            ),
        },
    )
    def post(self, request):
        params = validated_body(VisitorCreateSerializer, request)
        visitor, created = services.visitor_create(
            merchant_id=request_merchant_id(request), **params
        )
        return Response(
            VisitorSerializer(visitor).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


@extend_schema(tags=["visitors"])
class VisitorDetail(generics.RetrieveAPIView):
    """One visitor (contact); PATCH changes contact fields and merges custom attributes."""

    serializer_class = VisitorSerializer
    parser_classes = [JSONParser]

    def get_object(self):
        return selectors.visitor_get(
            merchant_id=request_merchant_id(self.request), visitor_id=self.kwargs["pk"]
        )

    @extend_schema(
        request=VisitorUpdateSerializer,
        responses={200: VisitorSerializer, 400: OpenApiResponse(description="Field errors.")},
    )
    def patch(self, request, pk: int):
        merchant_id = request_merchant_id(request)
        selectors.visitor_get(merchant_id=merchant_id, visitor_id=pk)  # 404 before 400
        changes = validated_body(VisitorUpdateSerializer, request)
        visitor = services.visitor_update(merchant_id=merchant_id, visitor_id=pk, **changes)
        return Response(VisitorSerializer(visitor).data)


def _manager_or_token(request) -> int:
    """Customer-data actions are for owners, admins and API tokens, not for every agent."""
    merchant_id = request_merchant_id(request)
    membership = request.kefu_membership
    if membership is not None and not membership.is_manager:
        raise exceptions.PermissionDenied(
            _("Only owners and admins can export or erase a visitor.")
        )
    return merchant_id


class VisitorEraseSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=privacy.MODES)


@extend_schema(
    tags=["visitors"],
    responses={
        (200, "application/zip"): OpenApiResponse(
            description="visitor.json: profile, page trail, every conversation and message."
        )
    },
)
class VisitorExport(generics.GenericAPIView):
    """Everything held about one visitor, as a ZIP archive (recorded in the audit log)."""

    def get(self, request, pk: int):
        merchant_id = _manager_or_token(request)
        name, data = privacy.visitor_export(
            merchant_id=merchant_id, visitor_id=pk, actor=audit.request_actor(request)
        )
        response = HttpResponse(data, content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


@extend_schema(
    tags=["visitors"],
    request=VisitorEraseSerializer,
    responses={200: OpenApiResponse(description="What was erased: mode, conversations, messages.")},
)
class VisitorErase(generics.GenericAPIView):
    """Erase one visitor: `delete` removes them with their conversations, `anonymise` removes
    every text and contact detail and keeps the figures (recorded in the audit log)."""

    parser_classes = [JSONParser]
    serializer_class = VisitorEraseSerializer  # OPTIONS describes the body with it

    def post(self, request, pk: int):
        merchant_id = _manager_or_token(request)
        data = VisitorEraseSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        counts = privacy.visitor_erase(
            merchant_id=merchant_id,
            visitor_id=pk,
            actor=audit.request_actor(request),
            mode=data.validated_data["mode"],
        )
        return Response(counts)


def _actor_name(request) -> str:
    membership = request.kefu_membership
    return membership.display_name if membership else request.auth.name


@extend_schema(tags=["visitors"], summary="Customer profile for the visitor pane")
class VisitorProfile(generics.GenericAPIView):
    serializer_class = VisitorProfileSerializer

    def get(self, request, pk: int):
        profile = selectors.visitor_profile(merchant_id=request_merchant_id(request), visitor_id=pk)
        return Response(VisitorProfileSerializer(profile).data)


@extend_schema(
    tags=["visitors"],
    summary="Write a note about the customer",
    request=NoteCreateSerializer,
    responses={201: NoteSerializer},
)
class VisitorNotes(generics.GenericAPIView):
    parser_classes = [JSONParser]
    serializer_class = NoteSerializer

    def post(self, request, pk: int):
        params = validated_body(NoteCreateSerializer, request)
        note = services.customer_note_create(
            merchant_id=request_merchant_id(request),
            visitor_id=pk,
            author_id=canned_actor(request).user_id,
            author_name=_actor_name(request),
            body=params["body"],
        )
        return Response(NoteSerializer(note).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["visitors"], summary="Delete a note (its author, an owner or an admin)")
class VisitorNoteDetail(generics.GenericAPIView):
    serializer_class = NoteSerializer

    def delete(self, request, pk: int, note_id: int):
        actor = canned_actor(request)
        services.customer_note_delete(
            merchant_id=request_merchant_id(request),
            visitor_id=pk,
            note_id=note_id,
            user_id=actor.user_id,
            is_manager=actor.is_manager,
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(
    tags=["visitors"],
    summary="Set custom attribute values",
    request={"application/json": {"type": "object", "additionalProperties": True}},
    responses={
        200: OpenApiResponse(description="The visitor's attributes afterwards."),
        400: OpenApiResponse(description="`attributes.<key>`: unknown key or invalid value."),
    },
)
class VisitorAttributes(generics.GenericAPIView):
    """`{"plan": "pro", "orders": 3, "since": "2024-05-01"}`; null removes a value. Each key
    must be a custom attribute of the merchant; values are checked against its type."""

    parser_classes = [JSONParser]
    serializer_class = VisitorProfileSerializer

    def patch(self, request, pk: int):
        if not isinstance(request.data, dict):
            raise serializers.ValidationError({"attributes": ["Expected an object."]})
        visitor, _errors = services.visitor_attributes_set(
            merchant_id=request_merchant_id(request), visitor_id=pk, values=request.data
        )
        return Response({"attributes": visitor.attributes})


def _blocked_out(visitors) -> dict:
    return {
        "visitor_ids": [v.pk for v in visitors],
        "blocked": visitors[0].blocked_at is not None,
        "block_reason": visitors[0].block_reason,
    }


BLOCK_RESPONSES = {
    # A schema, not only a description: schemathesis checks the body against it.
    200: inline_serializer(
        "BlockState",
        {
            "visitor_ids": serializers.ListField(child=serializers.IntegerField()),
            "blocked": serializers.BooleanField(),
            "block_reason": serializers.CharField(allow_blank=True),
        },
    ),
    404: OpenApiResponse(description="No such visitor for this merchant."),
}


@extend_schema(tags=["visitors"], request=BlockSerializer, responses=BLOCK_RESPONSES)
class VisitorBlock(generics.GenericAPIView):
    """POST blocks (the visitor can no longer write; the widget shows the chat as closed),
    DELETE unblocks."""

    serializer_class = BlockSerializer

    def post(self, request, pk: int):
        params = validated_body(BlockSerializer, request)
        rows = services.visitor_block(
            merchant_id=request_merchant_id(request),
            actor_user_id=canned_actor(request).user_id,
            reason=params["reason"],
            visitor_id=pk,
        )
        return Response(_blocked_out(rows))

    def delete(self, request, pk: int):
        rows = services.visitor_unblock(merchant_id=request_merchant_id(request), visitor_id=pk)
        return Response(_blocked_out(rows))


@extend_schema(tags=["visitors"], request=BlockByIdentitySerializer, responses=BLOCK_RESPONSES)
class VisitorBlockByIdentity(generics.GenericAPIView):
    """Block (POST) or unblock (DELETE, `external_id` in the body) the customer with this
    signed identity id."""

    parser_classes = [JSONParser]
    serializer_class = BlockByIdentitySerializer

    @extend_schema(operation_id="v1_visitors_block_by_identity_create")
    def post(self, request):
        params = validated_body(BlockByIdentitySerializer, request)
        rows = services.visitor_block(
            merchant_id=request_merchant_id(request),
            actor_user_id=canned_actor(request).user_id,
            reason=params["reason"],
            external_id=params["external_id"],
        )
        return Response(_blocked_out(rows))

    # The body (`external_id`) is input too: drf-spectacular leaves a DELETE's body out unless
    # it is named, and the 400 it can give was undocumented (found by schemathesis).
    @extend_schema(
        operation_id="v1_visitors_block_by_identity_destroy",
        request=BlockByIdentitySerializer,
        responses={**BLOCK_RESPONSES, 400: OpenApiResponse(description="`external_id` missing.")},
    )
    def delete(self, request):
        params = validated_body(BlockByIdentitySerializer, request)
        rows = services.visitor_unblock(
            merchant_id=request_merchant_id(request), external_id=params["external_id"]
        )
        return Response(_blocked_out(rows))
