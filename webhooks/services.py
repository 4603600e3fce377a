"""Webhook writes: endpoints, the fan-out of domain events into deliveries, the delivery
attempts, the sweep and redelivery. The design (why at least once, why the cursor waits for a
grace period, how the signature is made): docs/webhooks.md.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
import time
from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Exists, F, Max, OuterRef, Q
from django.utils import timezone, translation
from django.utils.translation import gettext

from conversations.models import Conversation, ConversationEvent, Message, Visitor
from kefu.errors import KefuError, NotFound
from kefu.transactions import on_commit_robust
from merchants import audit
from merchants.services import merchant_webhook_kinds_set
from notifications.services import managers_email

from . import http, schema
from .models import SUBSCRIBABLE, WebhookAttempt, WebhookDelivery, WebhookEndpoint, new_secret

logger = logging.getLogger(__name__)

Status = WebhookDelivery.Status
# Celery task names (webhooks/tasks.py), queued by name: the tasks import this module.
DELIVER_TASK = "webhooks.tasks.deliver"
FANOUT_TASK = "webhooks.tasks.fanout"
# An event's transaction has committed (or rolled back) this long after its `at`: the fan-out
# cursor only moves past events older than this, so one committing late, after a newer one, is
# still found (ids are taken at INSERT, not at COMMIT).
FANOUT_GRACE = timedelta(seconds=60)
FANOUT_BATCH = 500
# Events of one merchant within this many seconds share one fan-out task.
FANOUT_DELAY = 1
# A pending delivery whose task has not run this long after it was due was lost (a broker
# restart, a worker killed before it acknowledged): the sweep queues it again.
SWEEP_GRACE = timedelta(seconds=60)
SWEEP_BATCH = 1000
MAX_BACKOFF = 6 * 3600

SIGNATURE_HEADER = "X-Kefu-Signature"
TIMESTAMP_HEADER = "X-Kefu-Timestamp"
IDEMPOTENCY_HEADER = "X-Kefu-Idempotency-Key"
EVENT_HEADER = "X-Kefu-Event"


# --- Endpoints --------------------------------------------------------------------------------


def _clean(url: str | None, events: list[str] | None) -> None:
    if url is not None:
        try:
            http.check_url(url)
        except http.Refused as exc:
            raise KefuError("invalid_url", str(exc), field="url") from None
    if events is not None:
        unknown = sorted(set(events) - set(SUBSCRIBABLE))
        if unknown:
            raise KefuError(
                "invalid_events", f"Unknown event kinds: {', '.join(unknown)}.", field="events"
            )
        if not events:
            raise KefuError("invalid_events", "Subscribe to at least one event.", field="events")


def _kinds_sync(merchant_id: int) -> None:
    """Tell conversations which kinds this merchant's active endpoints want (Merchant flag)."""
    kinds: set[str] = set()
    for events in WebhookEndpoint.objects.filter(
        merchant_id=merchant_id, is_active=True
    ).values_list("events", flat=True):
        kinds.update(events)
    merchant_webhook_kinds_set(merchant_id=merchant_id, kinds=kinds)


@transaction.atomic
def endpoint_create(
    *,
    merchant_id: int,
    url: str,
    events: list[str],
    description: str = "",
    is_active: bool = True,
) -> WebhookEndpoint:
    """A new endpoint; its `secret` is for the caller to show once. It receives the events
    that happen from now on."""
    _clean(url, events)
    newest = ConversationEvent.objects.filter(merchant_id=merchant_id).aggregate(m=Max("id"))["m"]
    endpoint = WebhookEndpoint.objects.create(
        merchant_id=merchant_id,
        url=url,
        events=sorted(set(events)),
        description=description,
        is_active=is_active,
        cursor=newest or 0,
    )
    _kinds_sync(merchant_id)
    return endpoint


@transaction.atomic
def endpoint_update(*, merchant_id: int, endpoint_id: int, **changes) -> WebhookEndpoint:
    """Change url, events, description or is_active. Turning an endpoint on again clears its
    failure run."""
    endpoint = endpoint_get_locked(merchant_id=merchant_id, endpoint_id=endpoint_id)
    _clean(changes.get("url"), changes.get("events"))
    if "events" in changes:
        changes["events"] = sorted(set(changes["events"]))
    if changes.get("is_active") and not endpoint.is_active:
        changes.update(failures_in_a_row=0, disabled_at=None, disabled_reason="")
    for name, value in changes.items():
        setattr(endpoint, name, value)
    endpoint.save()
    _kinds_sync(merchant_id)
    return endpoint


@transaction.atomic
def endpoint_secret_rotate(*, merchant_id: int, endpoint_id: int, actor=None) -> WebhookEndpoint:
    """Give the endpoint a new signing secret (on the returned endpoint: the caller shows it
    once). For WEBHOOK_SECRET_GRACE_HOURS deliveries carry a signature with the old secret
    too, so the receiver can switch while nothing it receives is refused; rotating again in
    that time ends the grace of the older secret (only the one just replaced still signs).
    Recorded in the merchant's audit log (never the secrets)."""
    endpoint = endpoint_get_locked(merchant_id=merchant_id, endpoint_id=endpoint_id)
    grace = timedelta(hours=settings.WEBHOOK_SECRET_GRACE_HOURS)
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = timezone.now() + grace
    endpoint.secret = new_secret()
    endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at"])
    audit.audit_record(
        merchant_id=merchant_id,
        action=audit.WEBHOOK_SECRET_ROTATED,
        actor=actor,
        target=f"webhook endpoint #{endpoint.pk} {endpoint.url}",
        detail={"old_secret_valid_until": endpoint.previous_secret_expires_at.isoformat()},
    )
    return endpoint


def expired_secrets_forget(*, now=None) -> int:
    """Drop rotated-out secrets whose grace is over (the sweep): a secret that no longer signs
    is not kept."""
    now = now or timezone.now()
    return WebhookEndpoint.objects.filter(previous_secret_expires_at__lte=now).update(
        previous_secret="", previous_secret_expires_at=None
    )


@transaction.atomic
def endpoint_delete(*, merchant_id: int, endpoint_id: int) -> None:
    endpoint = endpoint_get_locked(merchant_id=merchant_id, endpoint_id=endpoint_id)
    endpoint.delete()
    _kinds_sync(merchant_id)


def endpoint_get_locked(*, merchant_id: int, endpoint_id: int) -> WebhookEndpoint:
    try:
        return WebhookEndpoint.objects.select_for_update().get(
            merchant_id=merchant_id, pk=endpoint_id
        )
    except (WebhookEndpoint.DoesNotExist, ValueError, TypeError):
        raise NotFound("Webhook endpoint not found.") from None


# --- Fan-out: events become deliveries ----------------------------------------------------------


def _queue(delivery_ids: list[int], countdown: float = 0) -> None:
    task = current_app.tasks[DELIVER_TASK]
    for delivery_id in delivery_ids:
        task.apply_async(kwargs={"delivery_id": delivery_id}, countdown=countdown)


@transaction.atomic
def fanout(*, merchant_id: int, now=None) -> list[int]:
    """Create a delivery for every event an active endpoint of the merchant subscribes to and
    has none for yet, and queue them after the commit. Safe to run twice or at once: the
    endpoint rows are locked, and an existing delivery is never made again. Returns the new
    deliveries' ids."""
    now = now or timezone.now()
    settled = now - FANOUT_GRACE
    created: list[int] = []
    more = False
    endpoints = list(
        WebhookEndpoint.objects.select_for_update()
        .filter(merchant_id=merchant_id, is_active=True)
        .order_by("id")
    )
    for endpoint in endpoints:
        done = WebhookDelivery.objects.filter(endpoint=endpoint, event=OuterRef("pk"))
        rows = list(
            ConversationEvent.objects.filter(
                merchant_id=merchant_id, id__gt=endpoint.cursor, kind__in=endpoint.events
            )
            .exclude(Exists(done))
            .order_by("id")
            .values_list("id", "kind")[:FANOUT_BATCH]
        )
        if rows:
            WebhookDelivery.objects.bulk_create(
                [
                    WebhookDelivery(
                        merchant_id=merchant_id,
                        endpoint=endpoint,
                        event_id=event_id,
                        kind=kind,
                        next_attempt_at=now,
                    )
                    for event_id, kind in rows
                ]
            )
            created += list(
                WebhookDelivery.objects.filter(
                    endpoint=endpoint, event_id__in=[r[0] for r in rows]
                ).values_list("id", flat=True)
            )
        # The cursor passes only events old enough that no lower id can still commit.
        cursor = ConversationEvent.objects.filter(
            merchant_id=merchant_id, id__gt=endpoint.cursor, at__lte=settled
        ).aggregate(m=Max("id"))["m"]
        if len(rows) == FANOUT_BATCH:
            more = True
            cursor = min(cursor or 0, rows[-1][0])
        if cursor and cursor > endpoint.cursor:
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(cursor=cursor)
    if created:
        on_commit_robust(_queue, sorted(created))
    if more:
        on_commit_robust(
            current_app.tasks[FANOUT_TASK].apply_async, kwargs={"merchant_id": merchant_id}
        )
    return created


def fanout_soon(*, merchant_id: int) -> None:
    """Queue a fan-out for the merchant in FANOUT_DELAY seconds (the event_recorded receiver),
    unless one is already queued: a busy merchant's hundred messages a second make one task a
    second, not a hundred. Nothing is missed: an event whose signal finds the key committed
    before the signal, so before the queued fan-out runs (the key lives as long as the
    countdown)."""
    key = f"{settings.REDIS_KEY_PREFIX}:webhooks:fanout:{merchant_id}"
    if not cache.add(key, 1, timeout=FANOUT_DELAY):
        return
    current_app.tasks[FANOUT_TASK].apply_async(
        kwargs={"merchant_id": merchant_id}, countdown=FANOUT_DELAY
    )


# --- Payloads -----------------------------------------------------------------------------------


def _conversation_data(conversation: Conversation) -> schema.ConversationData:
    return schema.ConversationData(
        id=conversation.pk,
        status=conversation.status,
        visitor_id=conversation.visitor_id,
        assignee_id=conversation.assignee_id,
        team_id=conversation.team_id,
        source=conversation.source,
        created_at=conversation.created_at,
        resolved_at=conversation.resolved_at,
        rating=conversation.rating,
        labels=sorted(label.name for label in conversation.labels.all()),
    )


def _visitor_data(visitor: Visitor) -> schema.VisitorData:
    return schema.VisitorData(
        id=visitor.pk,
        external_id=visitor.external_id,
        name=visitor.name,
        email=visitor.email,
        phone=visitor.phone,
        attributes=visitor.attributes or {},
    )


def payload_build(event: ConversationEvent) -> schema.Event:
    """The payload of an event, read with the event's merchant as scope when it is built (the
    event rows hold ids and figures, never visitor text)."""
    merchant_id = event.merchant_id
    facts = event.data or {}
    conversation = None
    if event.conversation_id is not None:
        conversation = Conversation.objects.select_related("visitor").get(
            merchant_id=merchant_id, pk=event.conversation_id
        )
    common = {
        "id": event.pk,
        "type": event.kind,
        "created_at": event.at,
        "merchant_id": merchant_id,
        "actor_user_id": event.actor_id,
    }
    Kind = ConversationEvent.Kind
    kind = event.kind
    if kind == Kind.VISITOR_IDENTIFIED:
        visitor = Visitor.objects.get(merchant_id=merchant_id, pk=event.visitor_id)
        data = {"visitor": _visitor_data(visitor)}
    else:
        data = {"conversation": _conversation_data(conversation)}
        if kind == Kind.CONVERSATION_CREATED:
            data["visitor"] = _visitor_data(conversation.visitor)
        elif kind == Kind.CONVERSATION_ASSIGNED:
            data.update(
                to_user_id=facts.get("to_user_id"),
                team_id=facts.get("team_id"),
                rule=facts.get("rule", ""),
            )
        elif kind == Kind.CONVERSATION_TRANSFERRED:
            data.update(
                from_user_id=facts.get("from_user_id"),
                to_user_id=facts.get("to_user_id"),
                team_id=facts.get("team_id"),
                rule=facts.get("rule", ""),
            )
        elif kind == Kind.MESSAGE_CREATED:
            message = Message.objects.get(merchant_id=merchant_id, pk=facts["message_id"])
            data["message"] = schema.MessageData(
                id=message.pk,
                seq=message.seq,
                sender_kind=message.sender_kind,
                sender_name=message.sender_name,
                sender_user_id=message.sender_user_id,
                body=message.body,
                private=message.is_private,
                created_at=message.created_at,
            )
        elif kind == Kind.RATED:
            data.update(
                rating=facts.get("rating", conversation.rating),
                comment=conversation.rating_comment,
            )
        elif kind == Kind.LABELS_CHANGED:
            data.update(added=list(facts.get("added", [])), removed=list(facts.get("removed", [])))
    return schema.BY_TYPE[kind].model_validate({**common, "data": data})


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """One signature: v1=hex(HMAC-SHA256(secret, "<timestamp>.<body>"))."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def signature_header(secrets: list[str], timestamp: str, body: bytes) -> str:
    """The signature header's value: one `v1=` signature per secret, comma-separated, the
    current secret's first (two only during a rotation's grace period)."""
    return ",".join(sign(secret, timestamp, body) for secret in secrets)


# --- Delivery -----------------------------------------------------------------------------------


def _lease_seconds() -> float:
    # Longer than any attempt can take (connect and read each time out after WEBHOOK_TIMEOUT).
    return 2 * settings.WEBHOOK_TIMEOUT + 5


def backoff(attempts: int) -> float:
    """Seconds before the next attempt after `attempts` failed ones: doubling from
    WEBHOOK_RETRY_BASE, capped, with ±25% jitter so failed receivers are not hit in waves."""
    delay = min(settings.WEBHOOK_RETRY_BASE * 2 ** (attempts - 1), MAX_BACKOFF)
    return delay * random.uniform(0.75, 1.25)


def _claim(delivery_id: int) -> WebhookDelivery | None:
    """Take the delivery for one attempt: a pending one that is due, or one whose previous
    attempt's worker died (lease expired). A conditional UPDATE, so two workers handed the
    same delivery (a redelivered task, the sweep) cannot both send it at once."""
    now = timezone.now()
    lease = now + timedelta(seconds=_lease_seconds())
    claimed = (
        WebhookDelivery.objects.filter(pk=delivery_id)
        .filter(
            Q(status=Status.PENDING, next_attempt_at__lte=now + timedelta(seconds=1))
            | Q(status=Status.SENDING, lease_until__lt=now)
        )
        .update(status=Status.SENDING, lease_until=lease)
    )
    if not claimed:
        return None
    return WebhookDelivery.objects.select_related("endpoint", "event").get(pk=delivery_id)


def deliver(*, delivery_id: int) -> str | None:
    """One attempt of a delivery, if it is due; records it and schedules the next one or
    gives up. Returns the delivery's status afterwards (None: nothing to do)."""
    delivery = _claim(delivery_id)
    if delivery is None:
        return None
    endpoint = delivery.endpoint
    if not endpoint.is_active:
        return _record(delivery, ok=False, error=gettext("The endpoint is disabled."), final=True)
    if not delivery.payload:
        try:
            payload = payload_build(delivery.event)
        except (Conversation.DoesNotExist, Visitor.DoesNotExist, Message.DoesNotExist):
            return _record(delivery, ok=False, error="The event's data was deleted.", final=True)
        delivery.payload = payload.model_dump_json()
        WebhookDelivery.objects.filter(pk=delivery.pk).update(payload=delivery.payload)
    body = delivery.payload.encode()
    timestamp = str(int(time.time()))
    headers = {
        EVENT_HEADER: delivery.kind,
        IDEMPOTENCY_HEADER: delivery.idempotency_key,
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: signature_header(
            endpoint.signing_secrets(timezone.now()), timestamp, body
        ),
    }
    try:
        response = http.post(endpoint.url, body, headers, timeout=settings.WEBHOOK_TIMEOUT)
    except http.Refused as exc:
        return _record(delivery, ok=False, error=f"Refused: {exc}")
    except OSError as exc:
        return _record(delivery, ok=False, error=f"{exc.__class__.__name__}: {exc}")
    ok = 200 <= response.status < 300
    error = ""
    if 300 <= response.status < 400:
        error = "Redirects are not followed."
    return _record(
        delivery,
        ok=ok,
        status_code=response.status,
        excerpt=response.excerpt,
        duration_ms=response.duration_ms,
        error=error,
    )


@transaction.atomic
def _record(
    delivery: WebhookDelivery,
    *,
    ok: bool,
    status_code: int | None = None,
    excerpt: str = "",
    duration_ms: int = 0,
    error: str = "",
    final: bool = False,
) -> str:
    now = timezone.now()
    WebhookAttempt.objects.create(
        merchant_id=delivery.merchant_id,
        delivery=delivery,
        at=now,
        succeeded=ok,
        status_code=status_code,
        error=error[:300],
        response_excerpt=excerpt[:500],
        duration_ms=duration_ms,
    )
    attempts = delivery.attempts + 1
    if ok:
        status, next_at = Status.SUCCEEDED, None
    elif final or attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
        status, next_at = Status.FAILED, None
    else:
        status, next_at = Status.PENDING, now + timedelta(seconds=backoff(attempts))
    # Only while it is still ours: the sweep may have handed it out again after our lease.
    mine = WebhookDelivery.objects.filter(
        pk=delivery.pk, status=Status.SENDING, lease_until=delivery.lease_until
    ).update(
        status=status,
        attempts=F("attempts") + 1,
        next_attempt_at=next_at,
        lease_until=None,
        last_status_code=status_code,
        delivered_at=now if ok else None,
    )
    if mine and next_at is not None:
        on_commit_robust(_queue, [delivery.pk], countdown=(next_at - now).total_seconds())
    if final:
        return status
    endpoints = WebhookEndpoint.objects.filter(pk=delivery.endpoint_id)
    if ok:
        endpoints.exclude(failures_in_a_row=0).update(failures_in_a_row=0)
    else:
        endpoints.update(failures_in_a_row=F("failures_in_a_row") + 1)
        _disable_if_failing(delivery.endpoint, now)
    return status


def _disable_if_failing(endpoint: WebhookEndpoint, now) -> None:
    limit = settings.WEBHOOK_DISABLE_AFTER
    with translation.override(settings.LANGUAGE_CODE):
        reason = gettext("%(count)d failed deliveries in a row.") % {"count": limit}
    # Conditional: of the workers that see the limit reached, one disables it and one email
    # goes out.
    disabled = WebhookEndpoint.objects.filter(
        pk=endpoint.pk, is_active=True, failures_in_a_row__gte=limit
    ).update(is_active=False, disabled_at=now, disabled_reason=reason)
    if not disabled:
        return
    _kinds_sync(endpoint.merchant_id)
    on_commit_robust(_tell_managers, endpoint.merchant_id, endpoint.url, reason)


def _tell_managers(merchant_id: int, url: str, reason: str) -> None:
    with translation.override(settings.LANGUAGE_CODE):
        subject = gettext("Webhook endpoint disabled: %(url)s") % {"url": url[:80]}
        body = gettext(
            "The webhook endpoint %(url)s was disabled: %(reason)s\n\n"
            "Check the delivery log in the back office (Webhooks), fix the receiver, then turn "
            "the endpoint on again and redeliver what failed."
        ) % {"url": url, "reason": reason}
    managers_email(merchant_id=merchant_id, subject=subject, body=body)


@transaction.atomic
def redeliver(*, merchant_id: int, delivery_id: int) -> WebhookDelivery:
    """Send a delivery again now (same payload, same idempotency key), whatever its state,
    unless an attempt is under way."""
    try:
        delivery = WebhookDelivery.objects.select_for_update().get(
            merchant_id=merchant_id, pk=delivery_id
        )
    except (WebhookDelivery.DoesNotExist, ValueError, TypeError):
        raise NotFound("Delivery not found.") from None
    if delivery.status != Status.SENDING:
        delivery.status = Status.PENDING
        delivery.next_attempt_at = timezone.now()
        delivery.save(update_fields=["status", "next_attempt_at"])
        on_commit_robust(_queue, [delivery.pk])
    return delivery


# --- Sweep --------------------------------------------------------------------------------------


def sweep(*, now=None) -> dict[str, int]:
    """Beat, every 30 s: fan out for every merchant with an active endpoint (events whose
    signal was lost: a process died between commit and signal), and queue again deliveries
    whose task was lost (due long ago, or an attempt whose worker died: lease expired)."""
    now = now or timezone.now()
    merchant_ids = set(
        WebhookEndpoint.objects.filter(is_active=True).values_list("merchant_id", flat=True)
    )
    fanned = sum(len(fanout(merchant_id=m, now=now)) for m in sorted(merchant_ids))
    lost = list(
        WebhookDelivery.objects.filter(
            Q(status=Status.PENDING, next_attempt_at__lte=now - SWEEP_GRACE)
            | Q(status=Status.SENDING, lease_until__lt=now)
        )
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[:SWEEP_BATCH]
    )
    _queue(lost)
    expired_secrets_forget(now=now)
    return {"fanned_out": fanned, "requeued": len(lost)}
