"""The customer-data lifecycle (PIPL / GDPR; docs/security.md, "Customer data"): everything held
about one visitor exported as one archive, a visitor erased (deleted, or anonymised so the
figures stay), and each merchant's retention applied by a nightly sweep in bounded batches.
Every export, erasure and retention run is in the merchant's audit log."""

from __future__ import annotations

import io
import json
import logging
import secrets
import zipfile
from datetime import timedelta

from django.db import transaction
from django.db.models.functions import Coalesce
from django.utils import timezone

from kefu.errors import KefuError, NotFound
from merchants import audit
from merchants.models import AuditEntry, Merchant

from .. import search
from ..models import Attachment, Conversation, Message, Visitor, VisitorPageView
from .attachments import attachments_delete

logger = logging.getLogger(__name__)

EXPORT_FORMAT = "mozhongkefu.visitor-export/1"
MODES = ("delete", "anonymise")
# Audit entries are kept at least this long, whatever the merchant's retention.
AUDIT_MIN_DAYS = 365
DONE = (Conversation.Status.RESOLVED, Conversation.Status.CLOSED)


def _visitor(merchant_id: int, visitor_id: int, *, lock: bool = False) -> Visitor:
    rows = Visitor.objects.filter(merchant_id=merchant_id, pk=visitor_id)
    if lock:
        rows = rows.select_for_update()
    visitor = rows.first()
    if visitor is None:
        raise NotFound("Visitor not found.")
    return visitor


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def visitor_export(*, merchant_id: int, visitor_id: int, actor) -> tuple[str, bytes]:
    """(file name, ZIP bytes): visitor.json with the profile, the page trail and every
    conversation with all its messages, private notes marked as such; files/ with every file
    sent in them."""
    visitor = _visitor(merchant_id, visitor_id)
    conversations = list(
        Conversation.objects.filter(merchant_id=merchant_id, visitor=visitor)
        .prefetch_related("labels")
        .order_by("id")
    )
    messages: dict[int, list[dict]] = {c.pk: [] for c in conversations}
    for m in Message.objects.filter(
        merchant_id=merchant_id, conversation__in=conversations
    ).order_by("conversation_id", "seq"):
        messages[m.conversation_id].append(
            {
                "seq": m.seq,
                "at": _iso(m.created_at),
                "from": m.sender_kind,
                "name": m.sender_name,
                "text": m.body,
                "kind": m.kind,
                "private_note": m.is_private,
            }
        )
    data = {
        "format": EXPORT_FORMAT,
        "exported_at": _iso(timezone.now()),
        "visitor": {
            "id": visitor.pk,
            "name": visitor.name,
            "email": visitor.email,
            "phone": visitor.phone,
            "external_id": visitor.external_id,
            "attributes": visitor.attributes,
            "first_seen_at": _iso(visitor.first_seen_at),
            "last_seen_at": _iso(visitor.last_seen_at),
            "ip": visitor.ip,
            "user_agent": visitor.user_agent,
            "page_url": visitor.page_url,
            "page_title": visitor.page_title,
        },
        "page_views": [
            {"at": _iso(v.viewed_at), "url": v.url, "title": v.title}
            for v in VisitorPageView.objects.filter(
                merchant_id=merchant_id, visitor=visitor
            ).order_by("viewed_at", "id")
        ],
        "conversations": [
            {
                "id": c.pk,
                "status": c.status,
                "started_at": _iso(c.created_at),
                "resolved_at": _iso(c.resolved_at),
                "rating": c.rating,
                "rating_comment": c.rating_comment,
                "labels": [label.name for label in c.labels.all()],
                "messages": messages[c.pk],
            }
            for c in conversations
        ],
    }
    files = list(
        Attachment.objects.filter(merchant_id=merchant_id, conversation__in=conversations)
        .exclude(message=None)
        .order_by("id")
    )
    data["files"] = [
        {
            "message_id": f.message_id,
            "name": f.name,
            "type": f.content_type,
            "size": f.size,
            "path": f"files/{f.pk}-{f.name}",
        }
        for f in files
    ]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("visitor.json", json.dumps(data, ensure_ascii=False, indent=2))
        for f in files:
            with f.file.open("rb") as stream:
                archive.writestr(f"files/{f.pk}-{f.name}", stream.read())
    audit.audit_record(
        merchant_id=merchant_id,
        action=audit.VISITOR_EXPORTED,
        actor=actor,
        target=f"visitor {visitor.pk}",
        detail={"conversations": len(conversations)},
    )
    return f"visitor-{visitor.pk}.zip", buffer.getvalue()


def _anonymise_conversations(conversation_ids: list[int]) -> int:
    """Texts gone, figures kept: message bodies, previews, rating comments. Returns how many
    messages were blanked."""
    now = timezone.now()
    search.index_remove(
        Message.objects.filter(conversation_id__in=conversation_ids).values_list("pk", flat=True)
    )
    # Files are personal data too: the rows go now, the files once this commits.
    for merchant_id in set(
        Conversation.objects.filter(pk__in=conversation_ids).values_list("merchant_id", flat=True)
    ):
        attachments_delete(merchant_id=merchant_id, conversation_ids=conversation_ids)
    count = Message.objects.filter(conversation_id__in=conversation_ids).update(
        body="", meta={}, sender_name=""
    )
    Conversation.objects.filter(pk__in=conversation_ids).update(
        last_message_preview="", rating_comment="", bot_state={}, erased_at=now
    )
    return count


def _anonymise_visitor(visitor: Visitor) -> None:
    VisitorPageView.objects.filter(visitor=visitor).delete()
    Visitor.objects.filter(pk=visitor.pk).update(
        # A fresh anonymous id: the browser's stored id no longer leads to this row.
        anonymous_id=f"erased-{secrets.token_urlsafe(16)}",
        name="",
        email="",
        phone="",
        external_id="",
        attributes={},
        ip=None,
        user_agent="",
        page_url="",
        page_title="",
    )


@transaction.atomic
def visitor_erase(*, merchant_id: int, visitor_id: int, actor, mode: str) -> dict:
    """Erase one visitor: "delete" removes them and their conversations; "anonymise" removes
    every text and contact detail and keeps the conversations' figures for reports."""
    if mode not in MODES:
        raise KefuError("invalid", "mode must be delete or anonymise.", field="mode")
    visitor = _visitor(merchant_id, visitor_id, lock=True)
    conversation_ids = list(
        Conversation.objects.filter(merchant_id=merchant_id, visitor=visitor).values_list(
            "pk", flat=True
        )
    )
    if mode == "delete":
        message_ids = list(
            Message.objects.filter(conversation_id__in=conversation_ids).values_list(
                "pk", flat=True
            )
        )
        messages = len(message_ids)
        search.index_remove(message_ids)
        visitor.delete()
    else:
        messages = _anonymise_conversations(conversation_ids)
        _anonymise_visitor(visitor)
    counts = {"mode": mode, "conversations": len(conversation_ids), "messages": messages}
    audit.audit_record(
        merchant_id=merchant_id,
        action=audit.VISITOR_ERASED,
        actor=actor,
        target=f"visitor {visitor_id}",
        detail=counts,
    )
    return counts


def retention_apply(
    *, merchant: Merchant, now=None, batch: int = 200, max_batches: int = 50
) -> dict:
    """Apply one merchant's retention: conversations finished more than retention_days ago are
    anonymised or deleted, `batch` per transaction, at most `max_batches` per call (the next
    run goes on). Visitors left with nothing but erased history are anonymised or deleted too.
    Returns {"done": n, "left": m}."""
    if merchant.retention_days is None:
        return {"done": 0, "left": 0}
    now = now or timezone.now()
    cutoff = now - timedelta(days=merchant.retention_days)
    due = (
        Conversation.objects.annotate(
            ended=Coalesce("resolved_at", "last_message_at", "created_at")
        )
        .filter(merchant=merchant, status__in=DONE, erased_at__isnull=True, ended__lt=cutoff)
        .order_by("id")
    )
    done = 0
    for _ in range(max_batches):
        with transaction.atomic():
            rows = list(due.values_list("pk", "visitor_id")[:batch])
            if not rows:
                break
            ids = [pk for pk, _ in rows]
            visitor_ids = {visitor_id for _, visitor_id in rows}
            if merchant.retention_action == Merchant.RetentionAction.DELETE:
                search.index_remove(
                    Message.objects.filter(conversation_id__in=ids).values_list("pk", flat=True)
                )
                Conversation.objects.filter(pk__in=ids).delete()
            else:
                _anonymise_conversations(ids)
            _retire_visitors(merchant, visitor_ids, cutoff)
            done += len(ids)
    left = due.count()
    AuditEntry.objects.filter(
        merchant=merchant, at__lt=now - timedelta(days=max(merchant.retention_days, AUDIT_MIN_DAYS))
    ).delete()
    if done:
        logger.info(
            "retention: merchant %s: %s conversations %s, %s left",
            merchant.pk,
            done,
            merchant.retention_action,
            left,
        )
        audit.audit_record(
            merchant_id=merchant.pk,
            action=audit.RETENTION_RUN,
            actor="retention",
            detail={"done": done, "left": left, "action": merchant.retention_action},
        )
    return {"done": done, "left": left}


def _retire_visitors(merchant: Merchant, visitor_ids: set[int], cutoff) -> None:
    """Visitors not seen since the cutoff whose every conversation is gone or erased."""
    stale = Visitor.objects.filter(
        merchant=merchant, pk__in=visitor_ids, last_seen_at__lt=cutoff
    ).exclude(
        pk__in=Conversation.objects.filter(merchant=merchant, erased_at__isnull=True).values(
            "visitor_id"
        )
    )
    for visitor in stale:
        if merchant.retention_action == Merchant.RetentionAction.DELETE:
            visitor.delete()
        else:
            _anonymise_visitor(visitor)


def retention_sweep(*, now=None) -> dict[int, dict]:
    """Every merchant with a retention period (the nightly beat task)."""
    return {
        merchant.pk: retention_apply(merchant=merchant, now=now)
        for merchant in Merchant.objects.filter(retention_days__isnull=False)
    }
