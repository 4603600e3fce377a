"""REST API under /api/v1/ for integrators (Bearer API token) and the agent workspace (session
plus the `X-Kefu-Merchant` header). The default DRF classes in settings authenticate and decide
the merchant (merchants.permissions.request_merchant_id); views read through selectors, write
through services and render with the socket's shapes (serializers.py)."""

from __future__ import annotations

import datetime
import json
import uuid

from django.http import HttpResponse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import exceptions, generics, serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from kefu.errors import KefuError, NotFound
from kefu.pagination import KeysetPagination
from kefu.parsers import JSONParser
from knowledge.formats import write_table
from merchants import audit
from merchants.models import Merchant
from merchants.permissions import request_merchant_id
from merchants.selectors import membership_get_by_user_id

from .. import attachments, selectors, services
from ..models import Conversation
from ..serializers import (
    AttachmentSerializer,
    AttachmentUploadSerializer,
    AttributeDefinitionSerializer,
    BlockByIdentitySerializer,
    BlockSerializer,
    CannedResponseSerializer,
    CannedResponseWriteSerializer,
    ClaimSerializer,
    ConversationCreateSerializer,
    ConversationFilterSerializer,
    ConversationLabelsOutSerializer,
    ConversationLabelsSerializer,
    ConversationSerializer,
    ConversationStartedSerializer,
    InboxCountsSerializer,
    LabelSerializer,
    LabelWriteSerializer,
    MessageCreateSerializer,
    MessageFilterSerializer,
    MessageHitSerializer,
    MessageSearchSerializer,
    MessageSerializer,
    NoteCreateSerializer,
    NoteSerializer,
    PrioritySerializer,
    QueueSerializer,
    RoutingEventSerializer,
    SnoozeSerializer,
    StatusSerializer,
    TeamSerializer,
    TransferSerializer,
    VisitorCreateSerializer,
    VisitorProfileSerializer,
    VisitorSerializer,
    VisitorUpdateSerializer,
)
from ..services import privacy

# --- Pagination ---------------------------------------------------------------------------------


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


class VisitorPagination(KeysetPagination):
    ordering = ("-last_seen_at", "-id")


# --- Views ----------------------------------------------------------------------------------------


def _query(serializer_class, request) -> dict:
    params = serializer_class(data=request.query_params)
    params.is_valid(raise_exception=True)
    return params.validated_data


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
            self._validated = _query(ConversationFilterSerializer, self.request)
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
        params = _body(ConversationCreateSerializer, request)
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
        params = _query(MessageSearchSerializer, request)
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
        after_seq = _query(MessageFilterSerializer, self.request).get("after_seq")
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


class AttachmentUpload(generics.GenericAPIView):
    """Upload an image or file into a conversation, then send it: POST .../messages/ with
    `attachment_id`. Images are re-encoded (EXIF removed) and get a thumbnail."""

    parser_classes = [MultiPartParser]
    serializer_class = AttachmentUploadSerializer

    @extend_schema(
        tags=["messages"],
        summary="Upload an attachment",
        request={"multipart/form-data": AttachmentUploadSerializer},
        responses={
            201: AttachmentSerializer,
            200: OpenApiResponse(
                AttachmentSerializer,
                "The `upload_id` was used before with the same file: the stored upload.",
            ),
            400: OpenApiResponse(
                description="Field errors, or `code`: file_empty, file_too_large, file_type, "
                "file_damaged, upload_id_conflict."
            ),
        },
    )
    def post(self, request, pk: int):
        merchant_id = request_merchant_id(request)
        attachments.refuse_declared_size(
            request, attachments.max_bytes_for(Merchant.objects.get(pk=merchant_id))
        )
        data = AttachmentUploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        params = data.validated_data
        if request.kefu_membership is not None:
            sender = services.Sender.agent(request.kefu_membership)
        else:
            sender = services.Sender.api_token(request.auth)
        attachment, created = services.attachment_upload(
            merchant_id=merchant_id,
            uploader_key=sender.key,
            upload_id=params["upload_id"],
            upload=params["file"],
            conversation_id=pk,
        )
        return Response(
            AttachmentSerializer(attachment).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


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
        params = _body(VisitorCreateSerializer, request)
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
        changes = _body(VisitorUpdateSerializer, request)
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


@extend_schema(tags=["canned responses"])
def _canned_actor(request) -> services.CannedActor:
    membership = request.kefu_membership  # None for a token: it acts for the whole merchant
    if membership is None:
        return services.CannedActor(user_id=None, is_manager=True)
    return services.CannedActor(user_id=membership.user_id, is_manager=membership.is_manager)


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
            merchant_id=merchant_id, user_id=_canned_actor(self.request).user_id
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
            merchant_id=merchant_id, actor=_canned_actor(request), **data.validated_data
        )
        return Response(CannedResponseSerializer(row).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["canned responses"])
class CannedResponseDetail(generics.GenericAPIView):
    """One quick reply: read, edit (PATCH), delete. Another agent's personal reply is 404."""

    serializer_class = CannedResponseSerializer

    def get(self, request, pk: int):
        merchant_id = request_merchant_id(request)
        row = selectors.canned_response_get(
            merchant_id=merchant_id, user_id=_canned_actor(request).user_id, pk=pk
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
            merchant_id=merchant_id, actor=_canned_actor(request), pk=pk, **changes
        )
        return Response(CannedResponseSerializer(row).data)

    def delete(self, request, pk: int):
        merchant_id = request_merchant_id(request)
        services.canned_response_delete(
            merchant_id=merchant_id, actor=_canned_actor(request), pk=pk
        )
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
            merchant_id=merchant_id, actor=_canned_actor(request), pk=pk
        )
        return Response({"usage_count": count})


# --- Routing: teams, queue, timeline, claim / transfer / status --------------------------------


class RoutingEventPagination(KeysetPagination):
    ordering = ("id",)


def _acting_user(request, merchant_id: int, user_id: int | None, *, required: bool) -> int | None:
    """Who acts: a session acts as its user; a token names an active member in `user_id`."""
    membership = request.kefu_membership  # None for a token
    if membership is not None:
        if user_id is not None and user_id != membership.user_id:
            raise serializers.ValidationError(
                {"user_id": [_("With a login session you can only act as yourself.")]}
            )
        return membership.user_id
    if user_id is None:
        if required:
            raise serializers.ValidationError(
                {"user_id": [_("Required with an API token: the agent who acts.")]}
            )
        return None
    if membership_get_by_user_id(merchant_id=merchant_id, user_id=user_id) is None:
        raise serializers.ValidationError(
            {"user_id": [_("Not an active member of this merchant.")]}
        )
    return user_id


def _body(serializer_class, request) -> dict:
    data = serializer_class(data=request.data)
    data.is_valid(raise_exception=True)
    return data.validated_data


ACTION_ERRORS = {
    400: OpenApiResponse(
        description="Field errors, or `code`: conversation_closed, agent_unavailable."
    ),
    403: OpenApiResponse(
        description="`code` forbidden: not an agent of this merchant, or an "
        "agent moving someone else's conversation (owners and admins may)."
    ),
    404: OpenApiResponse(description="No such conversation for this merchant."),
}


@extend_schema(tags=["routing"], responses=TeamSerializer(many=True))
class TeamList(generics.GenericAPIView):
    """Active teams (skill groups) with their members' user ids, for transfers."""

    serializer_class = TeamSerializer
    pagination_class = None

    def get(self, request):
        teams = selectors.teams_out(merchant_id=request_merchant_id(request))
        return Response(TeamSerializer(teams, many=True).data)


@extend_schema(tags=["routing"], responses=QueueSerializer)
class QueueView(generics.GenericAPIView):
    """Conversations waiting for an agent, in serving order (priority, then longest waiting);
    the same shape as the socket's `queue.changed` frame."""

    serializer_class = QueueSerializer
    pagination_class = None

    def get(self, request):
        frame = selectors.queue_frame(merchant_id=request_merchant_id(request))
        return Response(QueueSerializer(frame).data)


@extend_schema(tags=["routing"], summary="Routing decisions of a conversation, oldest first")
class RoutingEventList(generics.ListAPIView):
    serializer_class = RoutingEventSerializer
    pagination_class = RoutingEventPagination

    def get_queryset(self):
        merchant_id = request_merchant_id(self.request)
        # 404 for a conversation of another merchant, not an empty list.
        conversation = selectors.conversation_get(
            merchant_id=merchant_id, conversation_id=self.kwargs["pk"]
        )
        return selectors.routing_event_list(
            merchant_id=merchant_id, conversation_id=conversation.pk
        )


class ConversationAction(generics.GenericAPIView):
    """POST on a conversation through a routing service; answers with the conversation."""

    parser_classes = [JSONParser]
    serializer_class = ConversationSerializer

    def post(self, request, pk: int):
        merchant_id = request_merchant_id(request)
        # Another merchant's conversation is a 404 whatever the body says.
        selectors.conversation_get(merchant_id=merchant_id, conversation_id=pk)
        conversation = self.act(request, merchant_id, pk)
        return Response(ConversationSerializer(conversation).data)


@extend_schema(
    tags=["routing"],
    summary="Take a queued or unassigned conversation",
    request=ClaimSerializer,
    responses={
        200: ConversationSerializer,
        **ACTION_ERRORS,
        409: OpenApiResponse(
            description="`code` already_assigned: someone else "
            "has it (the loser of a race gets this)."
        ),
    },
)
class ConversationClaim(ConversationAction):
    """The agent takes the conversation (from the queue, or unassigned). Two claiming at once:
    one gets it, the other a 409."""

    def act(self, request, merchant_id: int, pk: int):
        params = _body(ClaimSerializer, request)
        user_id = _acting_user(request, merchant_id, params.get("user_id"), required=True)
        return services.conversation_claim(
            merchant_id=merchant_id, conversation_id=pk, user_id=user_id
        )


@extend_schema(
    tags=["routing"],
    summary="Transfer to an agent or a team, with a note",
    request=TransferSerializer,
    responses={200: ConversationSerializer, **ACTION_ERRORS},
)
class ConversationTransfer(ConversationAction):
    """Hand the conversation to an agent (`to_user_id`) or let a team's routing pick one
    (`to_team_id`); the note is kept as a private note. Agents move their own conversations,
    owners and admins anyone's."""

    def act(self, request, merchant_id: int, pk: int):
        params = _body(TransferSerializer, request)
        actor = _acting_user(request, merchant_id, params.get("user_id"), required=True)
        return services.conversation_transfer(
            merchant_id=merchant_id,
            conversation_id=pk,
            actor_user_id=actor,
            to_user_id=params.get("to_user_id"),
            to_team_id=params.get("to_team_id"),
            note=params["note"],
        )


@extend_schema(
    tags=["routing"],
    summary="Resolve or reopen",
    request=StatusSerializer,
    responses={200: ConversationSerializer, **ACTION_ERRORS},
)
class ConversationStatus(ConversationAction):
    """Resolve (frees the agent's slot and serves the queue) or reopen."""

    def act(self, request, merchant_id: int, pk: int):
        params = _body(StatusSerializer, request)
        actor = _acting_user(request, merchant_id, params.get("user_id"), required=False)
        return services.conversation_set_status(
            merchant_id=merchant_id,
            conversation_id=pk,
            actor_user_id=actor,
            status=params["status"],
        )


@extend_schema(
    tags=["conversations"],
    summary="Snooze until a time, or until the visitor writes again",
    request=SnoozeSerializer,
    responses={200: ConversationSerializer, **ACTION_ERRORS},
)
class ConversationSnooze(ConversationAction):
    """Out of the open views until `until` (or, without it, until the visitor writes); a
    visitor message wakes it either way. Any agent of the merchant may."""

    def act(self, request, merchant_id: int, pk: int):
        params = _body(SnoozeSerializer, request)
        actor = _acting_user(request, merchant_id, params.get("user_id"), required=False)
        return services.conversation_snooze(
            merchant_id=merchant_id, conversation_id=pk, actor_user_id=actor, until=params["until"]
        )


@extend_schema(
    tags=["conversations"],
    summary="Wake a snoozed conversation",
    request=None,
    responses={200: ConversationSerializer, **ACTION_ERRORS},
)
class ConversationUnsnooze(ConversationAction):
    def act(self, request, merchant_id: int, pk: int):
        actor = _acting_user(request, merchant_id, None, required=False)
        return services.conversation_unsnooze(
            merchant_id=merchant_id, conversation_id=pk, actor_user_id=actor
        )


@extend_schema(
    tags=["conversations"],
    summary="Set the priority (0 normal, 10 high, 20 urgent)",
    request=PrioritySerializer,
    responses={200: ConversationSerializer, **ACTION_ERRORS},
)
class ConversationPriority(ConversationAction):
    def act(self, request, merchant_id: int, pk: int):
        params = _body(PrioritySerializer, request)
        actor = _acting_user(request, merchant_id, params.get("user_id"), required=False)
        return services.conversation_set_priority(
            merchant_id=merchant_id,
            conversation_id=pk,
            actor_user_id=actor,
            priority=params["priority"],
        )


# --- Transcript export ------------------------------------------------------------------------


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


# --- Customers: labels, custom attributes, profiles, notes, blocking (issue 13) -----------------
# Managing labels and attribute definitions: owners, admins, API tokens (_canned_actor says who
# manages). Applying labels, notes, attribute values, blocking: every agent of the merchant.


def _actor_name(request) -> str:
    membership = request.kefu_membership
    return membership.display_name if membership else request.auth.name


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
        params = _body(LabelWriteSerializer, request)
        label = services.label_create(
            merchant_id=merchant_id, is_manager=_canned_actor(request).is_manager, **params
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
            is_manager=_canned_actor(request).is_manager,
            label_id=pk,
            **data.validated_data,
        )
        return Response(LabelSerializer(label).data)

    def delete(self, request, pk: int):
        services.label_delete(
            merchant_id=request_merchant_id(request),
            is_manager=_canned_actor(request).is_manager,
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
        params = _body(ConversationLabelsSerializer, request)
        label_ids = services.conversation_labels_change(
            merchant_id=merchant_id,
            conversation_id=pk,
            add=params["add"],
            remove=params["remove"],
            actor_user_id=_canned_actor(request).user_id,
        )
        return Response({"label_ids": label_ids})


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
        params = _body(NoteCreateSerializer, request)
        note = services.customer_note_create(
            merchant_id=request_merchant_id(request),
            visitor_id=pk,
            author_id=_canned_actor(request).user_id,
            author_name=_actor_name(request),
            body=params["body"],
        )
        return Response(NoteSerializer(note).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["visitors"], summary="Delete a note (its author, an owner or an admin)")
class VisitorNoteDetail(generics.GenericAPIView):
    serializer_class = NoteSerializer

    def delete(self, request, pk: int, note_id: int):
        actor = _canned_actor(request)
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
        params = _body(BlockSerializer, request)
        rows = services.visitor_block(
            merchant_id=request_merchant_id(request),
            actor_user_id=_canned_actor(request).user_id,
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
        params = _body(BlockByIdentitySerializer, request)
        rows = services.visitor_block(
            merchant_id=request_merchant_id(request),
            actor_user_id=_canned_actor(request).user_id,
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
        params = _body(BlockByIdentitySerializer, request)
        rows = services.visitor_unblock(
            merchant_id=request_merchant_id(request), external_id=params["external_id"]
        )
        return Response(_blocked_out(rows))


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
        params = _body(AttributeDefinitionSerializer, request)
        row = services.attribute_definition_create(
            merchant_id=request_merchant_id(request),
            is_manager=_canned_actor(request).is_manager,
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
            is_manager=_canned_actor(request).is_manager,
            definition_id=pk,
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
