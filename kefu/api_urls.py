"""The REST API for integrators, under /api/v1/."""

from django.urls import path, re_path

from conversations import apis
from kefu.api import not_found
from reports import apis as report_apis
from webhooks import apis as webhook_apis

urlpatterns = [
    path("conversations/", apis.ConversationList.as_view(), name="api-conversations"),
    path("conversations/counts/", apis.InboxCounts.as_view(), name="api-inbox-counts"),
    path("search/messages/", apis.MessageSearch.as_view(), name="api-message-search"),
    path("conversations/<int:pk>/", apis.ConversationDetail.as_view(), name="api-conversation"),
    path("conversations/<int:pk>/messages/", apis.MessageListCreate.as_view(), name="api-messages"),
    path(
        "conversations/<int:pk>/attachments/",
        apis.AttachmentUpload.as_view(),
        name="api-attachments",
    ),
    path(
        "conversations/<int:pk>/transcript/",
        apis.ConversationTranscript.as_view(),
        name="api-transcript",
    ),
    path("visitors/", apis.VisitorList.as_view(), name="api-visitors"),
    path("visitors/<int:pk>/", apis.VisitorDetail.as_view(), name="api-visitor"),
    path("visitors/<int:pk>/export/", apis.VisitorExport.as_view(), name="api-visitor-export"),
    path("visitors/<int:pk>/erase/", apis.VisitorErase.as_view(), name="api-visitor-erase"),
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
    path("conversations/<int:pk>/snooze/", apis.ConversationSnooze.as_view(), name="api-snooze"),
    path(
        "conversations/<int:pk>/unsnooze/",
        apis.ConversationUnsnooze.as_view(),
        name="api-unsnooze",
    ),
    path(
        "conversations/<int:pk>/priority/",
        apis.ConversationPriority.as_view(),
        name="api-priority",
    ),
    # Reports (reports/apis.py, docs/reports.md)
    path("reports/summary/", report_apis.ReportSummary.as_view(), name="api-report-summary"),
    path("reports/breakdown/", report_apis.ReportBreakdown.as_view(), name="api-report-breakdown"),
    path("reports/export/", report_apis.ReportExport.as_view(), name="api-report-export"),
    # Webhooks: endpoints, their delivery log, redelivery (docs/webhooks.md)
    path("webhooks/", webhook_apis.EndpointList.as_view(), name="api-webhooks"),
    path("webhooks/<int:pk>/", webhook_apis.EndpointDetail.as_view(), name="api-webhook"),
    path(
        "webhooks/<int:pk>/rotate-secret/",
        webhook_apis.EndpointSecretRotate.as_view(),
        name="api-webhook-rotate-secret",
    ),
    path(
        "webhooks/<int:pk>/deliveries/",
        webhook_apis.DeliveryList.as_view(),
        name="api-webhook-deliveries",
    ),
    path(
        "webhook-deliveries/<int:pk>/redeliver/",
        webhook_apis.DeliveryRedeliver.as_view(),
        name="api-webhook-redeliver",
    ),
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
