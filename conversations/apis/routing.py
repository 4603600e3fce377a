"""Routing: teams, the queue, a conversation's routing timeline, and the manual actions (claim,
transfer, status, snooze, priority) (docs/routing.md)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers
from rest_framework.response import Response

from kefu.pagination import KeysetPagination
from kefu.parsers import JSONParser
from merchants.permissions import request_merchant_id
from merchants.selectors import membership_get_by_user_id

from .. import selectors, services
from ..serializers import (
    ClaimSerializer,
    ConversationSerializer,
    PrioritySerializer,
    QueueSerializer,
    RoutingEventSerializer,
    SnoozeSerializer,
    StatusSerializer,
    TeamSerializer,
    TransferSerializer,
)
from .common import validated_body


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
        params = validated_body(ClaimSerializer, request)
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
        params = validated_body(TransferSerializer, request)
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
        params = validated_body(StatusSerializer, request)
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
        params = validated_body(SnoozeSerializer, request)
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
        params = validated_body(PrioritySerializer, request)
        actor = _acting_user(request, merchant_id, params.get("user_id"), required=False)
        return services.conversation_set_priority(
            merchant_id=merchant_id,
            conversation_id=pk,
            actor_user_id=actor,
            priority=params["priority"],
        )
