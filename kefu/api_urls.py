"""The REST API for integrators, under /api/v1/."""

from django.urls import path, re_path

from conversations import apis
from kefu.api import not_found

urlpatterns = [
    path("conversations/", apis.ConversationList.as_view(), name="api-conversations"),
    path("conversations/<int:pk>/", apis.ConversationDetail.as_view(), name="api-conversation"),
    path("conversations/<int:pk>/messages/", apis.MessageListCreate.as_view(), name="api-messages"),
    path("visitors/", apis.VisitorList.as_view(), name="api-visitors"),
    path("visitors/<int:pk>/", apis.VisitorDetail.as_view(), name="api-visitor"),
    path("canned-responses/", apis.CannedResponseList.as_view(), name="api-canned-responses"),
    path(
        "canned-responses/<int:pk>/",
        apis.CannedResponseDetail.as_view(),
        name="api-canned-response",
    ),
    path(
        "canned-responses/<int:pk>/use/",
        apis.CannedResponseUse.as_view(),
        name="api-canned-response-use",
    ),
    # Routing: teams, queue, claim / transfer / status, routing timeline
    path("teams/", apis.TeamList.as_view(), name="api-teams"),
    path("queue/", apis.QueueView.as_view(), name="api-queue"),
    path(
        "conversations/<int:pk>/routing-events/",
        apis.RoutingEventList.as_view(),
        name="api-routing-events",
    ),
    path("conversations/<int:pk>/claim/", apis.ConversationClaim.as_view(), name="api-claim"),
    path(
        "conversations/<int:pk>/transfer/",
        apis.ConversationTransfer.as_view(),
        name="api-transfer",
    ),
    path("conversations/<int:pk>/status/", apis.ConversationStatus.as_view(), name="api-status"),
    # Customers (issue 13): labels, profiles, notes, custom attributes, blocking
    path("labels/", apis.LabelList.as_view(), name="api-labels"),
    path("labels/<int:pk>/", apis.LabelDetail.as_view(), name="api-label"),
    path(
        "conversations/<int:pk>/labels/",
        apis.ConversationLabels.as_view(),
        name="api-conversation-labels",
    ),
    path("visitors/block/", apis.VisitorBlockByIdentity.as_view(), name="api-visitor-block-id"),
    path("visitors/<int:pk>/profile/", apis.VisitorProfile.as_view(), name="api-visitor-profile"),
    path("visitors/<int:pk>/notes/", apis.VisitorNotes.as_view(), name="api-visitor-notes"),
    path(
        "visitors/<int:pk>/notes/<int:note_id>/",
        apis.VisitorNoteDetail.as_view(),
        name="api-visitor-note",
    ),
    path(
        "visitors/<int:pk>/attributes/",
        apis.VisitorAttributes.as_view(),
        name="api-visitor-attributes",
    ),
    path("visitors/<int:pk>/block/", apis.VisitorBlock.as_view(), name="api-visitor-block"),
    path("attributes/", apis.AttributeDefinitionList.as_view(), name="api-attributes"),
    path(
        "attributes/<int:pk>/",
        apis.AttributeDefinitionDetail.as_view(),
        name="api-attribute",
    ),
    # Last: anything else here (a non-numeric id, a typo) is a JSON 404, not an HTML page.
    re_path(r"", not_found),
]
