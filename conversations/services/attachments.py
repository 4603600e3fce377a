"""Attachment writes: the upload (stored once per client upload id), handing an upload to the
message that carries it (under the conversation's row lock, from messages.py), and deleting
attachments with their files. What a file is and how it is made safe: conversations/attachments.py.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from kefu.errors import KefuError, NotFound
from merchants.models import Merchant

from .. import attachments, protocol
from ..models import Attachment, Conversation, Visitor

logger = logging.getLogger(__name__)

# Uploads one uploader may store per hour. The widget's upload endpoint is open to any page that
# bootstraps a token: this bounds the disk one visitor can fill.
UPLOADS_PER_HOUR = 60


def attachment_upload(
    *,
    merchant_id: int,
    uploader_key: str,
    upload_id: str,
    upload,
    visitor_id: int | None = None,
    conversation_id: int | None = None,
) -> tuple[Attachment, bool]:
    """Check, re-encode and store one uploaded file (a Django UploadedFile). Returns
    (attachment, created); the same `upload_id` from the same uploader with the same bytes
    returns the stored row (a retried upload), with other bytes it is refused.

    Visitors upload with `visitor_id` (their conversation may not exist yet); agents and API
    tokens with `conversation_id`, which must be this merchant's (NotFound otherwise). On any
    refusal nothing is stored: the files are written first and deleted again if the row cannot
    be; the row is what makes an attachment exist."""
    merchant = Merchant.objects.get(pk=merchant_id)
    if (
        conversation_id is not None
        and not Conversation.objects.filter(merchant_id=merchant_id, pk=conversation_id).exists()
    ):
        raise NotFound("Conversation not found.")
    if (
        visitor_id is not None
        and not Visitor.objects.filter(merchant_id=merchant_id, pk=visitor_id).exists()
    ):
        raise NotFound("Visitor not found.")
    sha256 = attachments.file_sha256(upload)
    existing = _existing(merchant_id, uploader_key, upload_id, sha256)
    if existing is not None:
        return existing, False
    recent = Attachment.objects.filter(
        merchant_id=merchant_id,
        uploader_key=uploader_key,
        created_at__gte=timezone.now() - timedelta(hours=1),
    ).count()
    if recent >= UPLOADS_PER_HOUR:
        raise attachments.refuse(protocol.ErrorCode.RATE_LIMITED, attachments.E_RATE)
    max_bytes = attachments.max_bytes_for(merchant)
    # CPU work (decoding, re-encoding) before any transaction: no lock waits on it.
    processed = attachments.inspect(
        upload, allowed=merchant.attachment_type_set(), max_bytes=max_bytes
    )
    row = Attachment(
        merchant_id=merchant_id,
        conversation_id=conversation_id,
        visitor_id=visitor_id,
        uploader_key=uploader_key,
        upload_id=upload_id,
        upload_sha256=sha256,
        kind=processed.kind,
        category=processed.category,
        content_type=processed.content_type,
        name=processed.name,
        width=processed.width,
        height=processed.height,
    )
    ext = "." + processed.name.rsplit(".", 1)[-1] if "." in processed.name else ".bin"
    saved = []
    try:
        if processed.data is not None:
            row.file.save("f" + ext, ContentFile(processed.data), save=False)
            row.size = len(processed.data)
        else:
            upload.seek(0)
            row.file.save("f" + ext, upload, save=False)
            row.size = upload.size
        saved.append(row.file.name)
        if processed.thumbnail is not None:
            thumb_ext = ".png" if processed.thumbnail_type == "image/png" else ".jpg"
            row.thumbnail.save("t" + thumb_ext, ContentFile(processed.thumbnail), save=False)
            saved.append(row.thumbnail.name)
        with transaction.atomic():
            row.save()
    except IntegrityError:
        # The same upload_id raced in from a retry; the first one stored is the upload.
        _delete_files(saved)
        existing = _existing(merchant_id, uploader_key, upload_id, sha256)
        if existing is None:
            raise
        return existing, False
    except BaseException:
        _delete_files(saved)
        raise
    return row, True


def _existing(merchant_id: int, uploader_key: str, upload_id: str, sha256: str):
    row = Attachment.objects.filter(
        merchant_id=merchant_id, uploader_key=uploader_key, upload_id=upload_id
    ).first()
    if row is not None and row.upload_sha256 != sha256:
        raise KefuError(
            protocol.ErrorCode.UPLOAD_ID_CONFLICT,
            "This upload_id was already used for a different file.",
            field="upload_id",
        )
    return row


def attachment_take(
    *, conversation: Conversation, attachment_id: int, uploader_key: str
) -> Attachment:
    """The upload `attachment_id` for the message about to be stored in `conversation` (whose
    row lock the caller holds): it must be this uploader's, of this merchant, not sent before,
    and not uploaded into another conversation. Locked until the caller's commit, so two sends
    of one upload cannot both take it."""
    attachment = (
        Attachment.objects.select_for_update()
        .filter(merchant_id=conversation.merchant_id, pk=attachment_id, uploader_key=uploader_key)
        .first()
    )
    if attachment is None:
        raise KefuError(
            protocol.ErrorCode.ATTACHMENT_INVALID,
            "No such upload of yours: upload the file first.",
            field="attachment_id",
        )
    if attachment.message_id is not None or (
        attachment.conversation_id not in (None, conversation.pk)
    ):
        raise KefuError(
            protocol.ErrorCode.ATTACHMENT_INVALID,
            "This upload was already sent; upload the file again to send it again.",
            field="attachment_id",
        )
    return attachment


def attachments_delete(
    *,
    merchant_id: int,
    message_ids: list[int] | None = None,
    conversation_ids: list[int] | None = None,
    visitor_ids: list[int] | None = None,
) -> int:
    """Delete the attachments of these messages, conversations or visitors (one merchant's),
    and their files after the commit. For retention and erasure; deleting the messages,
    conversations or visitors themselves removes their files as well (attachment_deleted)."""
    qs = Attachment.objects.filter(merchant_id=merchant_id)
    scope = None
    for field, ids in (
        ("message_id__in", message_ids),
        ("conversation_id__in", conversation_ids),
        ("message__conversation_id__in", conversation_ids),
        ("visitor_id__in", visitor_ids),
        ("message__conversation__visitor_id__in", visitor_ids),
    ):
        if ids:
            scope = Q(**{field: ids}) if scope is None else scope | Q(**{field: ids})
    if scope is None:
        return 0
    with transaction.atomic():
        deleted, _ = qs.filter(scope).delete()
    return deleted


def attachment_deleted(sender, instance: Attachment, **kwargs) -> None:
    """post_delete of Attachment (connected in ConversationsConfig.ready): remove the files once
    the deletion commits. A receiver rather than a service step because rows also go by
    cascade (a message, conversation, visitor or merchant deleted in the admin or by retention),
    and Django's collector sends this for each of them; a rolled-back delete keeps its files."""
    names = [f.name for f in (instance.file, instance.thumbnail) if f and f.name]
    if names:
        transaction.on_commit(partial(_delete_files, names))


def _delete_files(names: list[str]) -> None:
    storage = attachments.attachment_storage()
    for name in names:
        try:
            storage.delete(name)
        except Exception:  # a missing file or an unreachable store must not undo the delete
            logger.warning("could not delete attachment file %s", name, exc_info=True)


def attachments_purge_unsent(*, older_than_hours: int | None = None) -> int:
    """Uploads never sent in a message, older than ATTACHMENT_UNSENT_HOURS (the beat sweep)."""
    hours = settings.ATTACHMENT_UNSENT_HOURS if older_than_hours is None else older_than_hours
    cutoff = timezone.now() - timedelta(hours=hours)
    deleted, _ = Attachment.objects.filter(message__isnull=True, created_at__lt=cutoff).delete()
    return deleted
