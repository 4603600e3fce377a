"""Conversations and their messages: the inbox list, its counts, message search, one
conversation, reading and sending messages (also starting a conversation through the API)."""

from __future__ import annotations

import uuid

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from kefu.errors import KefuError, NotFound
from kefu.pagination import KeysetPagination
from kefu.parsers import JSONParser
from merchants.permissions import request_merchant_id
from merchants.selectors import membership_get_by_user_id

from .. import selectors, services
from ..models import Conversation
from ..serializers import (
    ConversationCreateSerializer,
    ConversationFilterSerializer,
    ConversationSerializer,
    ConversationStartedSerializer,
    InboxCountsSerializer,
    MessageCreateSerializer,
    MessageFilterSerializer,
    MessageHitSerializer,
    MessageSearchSerializer,
    MessageSerializer,
)
from .common import validated_body, validated_query


class ConversationPagination(KeysetPagination):
    # Newest activity first; the `conv_inbox` index serves it.
    ordering = ("-last_message_at", "-id")


class ConversationWaitingPagination(KeysetPagination):
    # Longest waiting for an answer first; answered ones (NULL) last, newest first among them
    # would need a second key: they follow by id.
    ordering = ("awaiting_reply_since", "id")
    nulls_high = ("awaiting_reply_since",)


class ConversationPriorityPagination(KeysetPagination):
    ordering = ("-priority", "awaiting_reply_since", "id")
    nulls_high = ("awaiting_reply_since",)


CONVERSATION_SORTS = {
    "newest": ConversationPagination,
    "waiting": ConversationWaitingPagination,
    "priority": ConversationPriorityPagination,
}


class MessagePagination(KeysetPagination):
    ordering = ("seq",)


@extend_schema_view(
    get=extend_schema(tags=["conversations"], parameters=[ConversationFilterSerializer])
)
class ConversationList(generics.ListAPIView):
    """Conversations: a view of the inbox, a team, search text; newest activity first, or the
    longest waiting, or by priority (`sort`)."""

    serializer_class = ConversationSerializer
    pagination_class = ConversationPagination
    parser_classes = [JSONParser]

    def _params(self) -> dict:
        if not hasattr(self, "_validated"):
            self._validated = validated_query(ConversationFilterSerializer, self.request)
        return self._validated

    @property
    def paginator(self):
        if not hasattr(self, "_paginator"):
            self._paginator = CONVERSATION_SORTS[self._params()["sort"]]()
        return self._paginator

    def get_queryset(self):
        params = self._params()
        merchant_id = request_merchant_id(self.request)
        membership = self.request.kefu_membership  # None for a token
        if params.get("view") == "mine" and membership is None:
            raise serializers.ValidationError(
                {"view": [_("“mine” needs a login session: a token is nobody's.")]}
            )
        label_id = params.get("label")
        if label_id is not None:
            # An unknown id or another merchant's label: a 400, not an empty list.
            try:
                services.labels_resolve(merchant_id=merchant_id, label_ids=[label_id])
            except KefuError as exc:
                raise serializers.ValidationError({"label": [exc.message]}) from None
        return selectors.conversation_list(
            merchant_id=merchant_id,
            status=params.get("status"),
            view=params.get("view"),
            user_id=membership.user_id if membership else None,
            team_id=params.get("team"),
            terms=params.get("q"),
            label_id=label_id,
        )

    @extend_schema(
        tags=["conversations"],
        summary="Start a conversation (outbound, or on behalf of a visitor)",
        request=ConversationCreateSerializer,
        responses={
            201: ConversationStartedSerializer,
            200: OpenApiResponse(
                ConversationStartedSerializer,
                "The visitor already had an ongoing conversation: the message went there "
                "(or `client_msg_id` was used before and nothing new was sent).",
            ),
            400: OpenApiResponse(
                description="Field errors (`visitor_id`, `user_id`, ...), or `code`: "
                "message_empty, message_too_long, client_msg_id_conflict."
            ),
        },
    )
    def post(self, request):
        merchant_id = request_merchant_id(request)
        params = validated_body(ConversationCreateSerializer, request)
        try:
            selectors.visitor_get(merchant_id=merchant_id, visitor_id=params["visitor_id"])
        except NotFound:
            raise serializers.ValidationError({"visitor_id": [_("No such visitor.")]}) from None
        if params["direction"] == "inbound":
            if params.get("user_id") is not None:
                raise serializers.ValidationError(
                    {"user_id": [_("Only for outbound conversations.")]}
                )
            message, created = services.message_send_by_visitor(
                merchant_id=merchant_id,
                visitor_id=params["visitor_id"],
                client_msg_id=params.get("client_msg_id") or f"api-{uuid.uuid4().hex}",
                body=params["body"],
                source=Conversation.Source.API,
            )
            started = created and message.seq == 1
        else:
            sender = MessageListCreate._sender(request, merchant_id, params.get("user_id"))
            _conversation, message, started = services.conversation_start_outbound(
                merchant_id=merchant_id,
                visitor_id=params["visitor_id"],
                sender=sender,
                body=params["body"],
                client_msg_id=params.get("client_msg_id"),
            )
        conversation = selectors.conversation_get(
            merchant_id=merchant_id, conversation_id=message.conversation_id
        )
        return Response(
            {
                "conversation": ConversationSerializer(conversation).data,
                "message": MessageSerializer(message).data,
            },
            status=status.HTTP_201_CREATED if started else status.HTTP_200_OK,
        )


@extend_schema(tags=["conversations"], responses=InboxCountsSerializer)
class InboxCounts(generics.GenericAPIView):
    """How many conversations each inbox view holds now, and the open ones per team (the
    workspace's live counts; "mine" only with a login session)."""

    serializer_class = InboxCountsSerializer
    pagination_class = None

    def get(self, request):
        membership = request.kefu_membership
        counts = selectors.inbox_counts(
            merchant_id=request_merchant_id(request),
            user_id=membership.user_id if membership else None,
        )
        return Response(counts)


@extend_schema(
    tags=["messages"],
    parameters=[MessageSearchSerializer],
    responses={
        # Found by schemathesis: the body is a page, not a bare list.
        200: inline_serializer(
            "MessageSearchPage",
            {
                "next": serializers.URLField(allow_null=True),
                "results": MessageHitSerializer(many=True),
            },
        ),
        400: OpenApiResponse(description="`q`: empty, too long, or without a letter or digit."),
    },
)
class MessageSearch(generics.GenericAPIView):
    """Messages of the merchant holding every word of `q` (Chinese and English, substrings),
    newest first, with the ranges to highlight: `{"next": url or null, "results": [...]}`."""

    serializer_class = MessageHitSerializer
    pagination_class = None

    def get(self, request):
        params = validated_query(MessageSearchSerializer, request)
        hits, before = selectors.message_search(
            merchant_id=request_merchant_id(request),
            terms=params["q"],
            before_id=params.get("before"),
            limit=params["page_size"],
        )
        next_url = (
            replace_query_param(request.build_absolute_uri(), "before", before) if before else None
        )
        return Response({"next": next_url, "results": MessageHitSerializer(hits, many=True).data})


@extend_schema(tags=["conversations"])
class ConversationDetail(generics.RetrieveAPIView):
    serializer_class = ConversationSerializer

    def get_object(self):
        return selectors.conversation_get(
            merchant_id=request_merchant_id(self.request),
            conversation_id=self.kwargs["pk"],
            with_labels=True,
        )


@extend_schema_view(
    get=extend_schema(
        tags=["messages"],
        parameters=[MessageFilterSerializer],
        summary="Messages of a conversation, oldest first (private notes included)",
    ),
)
class MessageListCreate(generics.ListCreateAPIView):
    pagination_class = MessagePagination
    parser_classes = [JSONParser]

    def get_serializer_class(self):
        # POST reads MessageCreate and answers with Message (see post()); OPTIONS shows the input.
        return MessageCreateSerializer if self.request.method == "POST" else MessageSerializer

    def get_queryset(self):
        merchant_id = request_merchant_id(self.request)
        # 404 for a conversation of another merchant, not an empty list.
        conversation = selectors.conversation_get(
            merchant_id=merchant_id, conversation_id=self.kwargs["pk"]
        )
        messages = selectors.message_list(merchant_id=merchant_id, conversation_id=conversation.pk)
        after_seq = validated_query(MessageFilterSerializer, self.request).get("after_seq")
        if after_seq is not None:
            messages = messages.filter(seq__gt=after_seq)
        return messages

    @extend_schema(
        tags=["messages"],
        summary="Send a reply or a private note",
        request=MessageCreateSerializer,
        responses={
            201: MessageSerializer,
            200: OpenApiResponse(
                MessageSerializer,
                "The `client_msg_id` was used before with "
                "the same body: the stored message, nothing new was sent.",
            ),
            400: OpenApiResponse(
                description="Field errors, or `code`: message_empty, "
                "message_too_long, client_msg_id_conflict, conversation_closed."
            ),
        },
    )
    def post(self, request, pk: int):
        merchant_id = request_merchant_id(request)
        data = MessageCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        params = data.validated_data
        message, created = services.message_send_by_agent(
            merchant_id=merchant_id,
            conversation_id=pk,
            sender=self._sender(request, merchant_id, params.get("user_id")),
            client_msg_id=params.get("client_msg_id"),
            body=params["body"],
            private=params["private"],
            attachment_id=params.get("attachment_id"),
        )
        return Response(
            MessageSerializer(message).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    @staticmethod
    def _sender(request, merchant_id: int, user_id: int | None) -> services.Sender:
        membership = request.kefu_membership  # None for a token
        if user_id is None or (membership is not None and user_id == membership.user_id):
            # A token writes under its own name; a session as its user.
            return (
                services.Sender.agent(membership)
                if membership
                else (services.Sender.api_token(request.auth))
            )
        if membership is not None:
            # Agents must not put words in a colleague's mouth; integrations may (they act
            # for the whole merchant).
            raise serializers.ValidationError(
                {"user_id": [_("With a login session you can only send as yourself.")]}
            )
        target = membership_get_by_user_id(merchant_id=merchant_id, user_id=user_id)
        if target is None:
            raise serializers.ValidationError(
                {"user_id": [_("Not an active member of this merchant.")]}
            )
        return services.Sender.agent(target)
