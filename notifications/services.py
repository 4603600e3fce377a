"""Agent notifications and escalation (in the workspace at once, then SMS and/or email) and the
emails that bring a visitor the agent replies they did not read. Who is notified, when a
notification is still needed and why each send happens at most once: docs/notifications.md.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime, timedelta
from functools import partial

from celery import current_app
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext_noop

from conversations import presence, protocol, realtime
from conversations.models import Conversation, Message
from kefu.localized import Localized
from merchants.models import Membership, Merchant

from . import sms
from .models import Notification

logger = logging.getLogger(__name__)

Reason = Notification.Reason
Channel = Notification.Channel

TITLES = {
    Reason.NEW: gettext_noop("New conversation from %(visitor)s"),
    Reason.QUEUED: gettext_noop("%(visitor)s is waiting in the queue"),
    Reason.UNANSWERED: gettext_noop("%(visitor)s is waiting for a reply"),
    Reason.RETURNED: gettext_noop("%(visitor)s is back in the queue after timeouts"),
    Reason.OFFLINE: gettext_noop("%(visitor)s left a message"),
}
NO_PREVIEW = gettext_noop("Open the conversation to answer.")
# Celery task names (notifications/tasks.py). Queued by name, not imported: the tasks import
# this module. The names predate the notifications app; tasks already queued under them run.
ESCALATE_TASK = "conversations.notify.escalate"
VISITOR_REPLY_EMAIL_TASK = "conversations.tasks.visitor_reply_email"
# Reasons measured by the visitor's wait for a reply share one SMS/email per wait.
WAIT_REASONS = (Reason.NEW, Reason.UNANSWERED, Reason.OFFLINE)
QUEUE_REASONS = (Reason.QUEUED, Reason.RETURNED)
# Aliyun template variables are short (notification templates allow about 35 characters each).
SMS_PARAM_LENGTH = 20
# The unanswered sweep leaves alone waits older than this (e.g. abandoned before an upgrade).
UNANSWERED_MAX_AGE = timedelta(days=1)


# --- Rules ------------------------------------------------------------------------------------


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _stamp(at: datetime | None) -> str | None:
    # Whole microseconds, in integers: a float product could round differently on two runs.
    return None if at is None else str((at - EPOCH) // timedelta(microseconds=1))


def reference_for(conversation: Conversation, reason: str) -> str | None:
    """The state a notification is about; None when there is nothing to wait for."""
    if reason in QUEUE_REASONS:
        return _stamp(conversation.queued_at)
    return _stamp(conversation.awaiting_reply_since)


def still_needed(conversation: Conversation, reason: str, reference: str) -> bool:
    if not conversation.is_active or conversation.bot_active:
        return False
    if reference_for(conversation, reason) != reference:
        return False  # answered, or left the queue (and maybe came back: a new reference)
    return not (reason in QUEUE_REASONS and conversation.assignee_id is not None)


def audience(conversation: Conversation, user_ids: list[int] | None = None) -> list[Membership]:
    members = (
        Membership.objects.filter(
            merchant_id=conversation.merchant_id, is_active=True, user__is_active=True
        )
        .select_related("user")
        .order_by("user_id")
    )
    if user_ids is not None:
        return list(members.filter(user_id__in=list(user_ids)))
    if conversation.assignee_id is not None:
        return list(members.filter(user_id=conversation.assignee_id))
    if conversation.team_id is not None:
        team = list(members.filter(teams=conversation.team_id))
        if team:
            return team
        # A team nobody active is in must not leave the visitor unnoticed: everyone hears of it.
    return list(members)


def _key(conversation_id: int, topic: str, reference: str | None, who: str, channel: str) -> str:
    return f"n:{conversation_id}:{topic}:{reference or '-'}:{who}:{channel}"


def _audience_tag(user_ids: list[int] | None) -> str:
    if user_ids is None:
        return "all"
    ids = ",".join(str(u) for u in sorted(set(user_ids)))
    return "to" + hashlib.sha1(ids.encode()).hexdigest()[:12]


def _claim(**fields) -> Notification | None:
    """Insert the row that stands for one send; None if its key exists (already done). The
    savepoint keeps a caller's transaction usable after the duplicate-key error."""
    try:
        with transaction.atomic():
            return Notification.objects.create(**fields)
    except IntegrityError:
        return None


# --- Texts ------------------------------------------------------------------------------------


def texts(conversation: Conversation, reason: str) -> tuple[str, str]:
    """(title, body) in the site language (each a Localized when it is the product's words:
    the workspace shows them in each agent's language). The visitor's name and words are
    untrusted plain text: clients render them as text, emails escape them."""
    title = Localized(TITLES[reason], {"visitor": conversation.visitor.display_name[:100]})
    body = conversation.last_message_preview[:140] or Localized(NO_PREVIEW)
    return title, body


def conversation_url(conversation: Conversation) -> str:
    path = reverse("workspace:workspace", args=[conversation.merchant_id])
    return f"{settings.PUBLIC_URL.rstrip('/')}{path}#c{conversation.pk}"


# --- Raising a notification -------------------------------------------------------------------


@transaction.atomic
def notify_agents(
    *, merchant_id: int, conversation_id: int, reason: str, user_ids: list[int] | None = None
) -> None:
    """Tell on-duty agents (or `user_ids`) now in the workspace (sound + browser notification),
    and schedule SMS/email escalation after the merchant's delay per agent preference; the
    escalation re-checks whether it is still needed when it fires. `reason` is one of
    Notification.Reason. Safe inside the caller's transaction: frames and the task go out after
    it commits."""
    reason = Reason(reason)
    conversation = (
        Conversation.objects.select_related("visitor", "merchant")
        .filter(merchant_id=merchant_id, pk=conversation_id)
        .first()
    )
    if conversation is None:
        return
    reference = reference_for(conversation, reason)
    raised = _claim(
        merchant_id=merchant_id,
        conversation=conversation,
        user=None,
        channel=Channel.IN_APP,
        reason=reason,
        sent=True,
        key=_key(conversation.pk, reason, reference, _audience_tag(user_ids), "raised"),
    )
    if raised is None:
        return  # the same notification, for the same state and audience, was raised already
    members = audience(conversation, user_ids)
    online = presence.agents_connected_sync(merchant_id, [m.user_id for m in members])
    title, body = texts(conversation, reason)
    frame = protocol.NotificationFrame(
        reason=reason.value, conversation_id=conversation.pk, title=title, body=body
    )
    # Each agent's socket says the product's words in the language they chose.
    localized_texts = {
        field: value.spec()
        for field, value in (("title", title), ("body", body))
        if isinstance(value, Localized)
    }
    for member in members:
        if not online[member.user_id] or (user_ids is None and member.is_away):
            continue
        if _claim(
            merchant_id=merchant_id,
            conversation=conversation,
            user_id=member.user_id,
            channel=Channel.IN_APP,
            reason=reason,
            sent=True,
            key=_key(conversation.pk, reason, reference, f"u{member.user_id}", Channel.IN_APP),
        ):
            realtime.publish_on_commit(
                realtime.agent_group(merchant_id, member.user_id), frame, texts=localized_texts
            )
    if reference is None or not any(m.notify_by_sms or m.notify_by_email for m in members):
        return
    # The task re-reads preferences and state when it fires; queued after commit so the
    # worker finds the rows this transaction wrote.
    transaction.on_commit(
        partial(
            current_app.tasks[ESCALATE_TASK].apply_async,
            kwargs={
                "merchant_id": merchant_id,
                "conversation_id": conversation.pk,
                "reason": reason.value,
                "reference": reference,
                "user_ids": user_ids,
            },
            countdown=conversation.merchant.escalation_delay_seconds,
        )
    )


# --- Escalation -------------------------------------------------------------------------------


def escalation_send(
    *,
    merchant_id: int,
    conversation_id: int,
    reason: str,
    reference: str,
    user_ids: list[int] | None = None,
) -> int:
    """Send the SMS / emails a notification escalates to, if the conversation still needs
    attention. Returns how many were sent now (0 when not needed or all sent already)."""
    reason = Reason(reason)
    conversation = (
        Conversation.objects.select_related("visitor", "merchant")
        .filter(merchant_id=merchant_id, pk=conversation_id)
        .first()
    )
    if conversation is None or not still_needed(conversation, reason, reference):
        return 0
    members = audience(conversation, user_ids)
    if conversation.assignee_id is not None:
        members = [m for m in members if m.user_id == conversation.assignee_id]
    topic = "wait" if reason in WAIT_REASONS else reason.value
    sent = 0
    for member in members:
        channels = []
        if member.notify_by_sms and member.phone:
            channels.append(Channel.SMS)
        if member.notify_by_email and member.user.email:
            channels.append(Channel.EMAIL)
        for channel in channels:
            row = _claim(
                merchant_id=merchant_id,
                conversation=conversation,
                user_id=member.user_id,
                channel=channel,
                reason=reason,
                key=_key(conversation.pk, topic, reference, f"u{member.user_id}", channel),
            )
            if row is None:
                continue  # sent (or tried) by an earlier run
            try:
                if channel == Channel.SMS:
                    _send_sms(conversation, reason, member)
                else:
                    _send_email(conversation, reason, member)
            except Exception as exc:  # noqa: BLE001 - any failure is recorded, the rest go on
                logger.warning("notification %s failed: %s", row.key, exc)
                Notification.objects.filter(pk=row.pk).update(error=str(exc)[:500])
            else:
                Notification.objects.filter(pk=row.pk).update(sent=True)
                sent += 1
    return sent


def _send_sms(conversation: Conversation, reason: str, member: Membership) -> str:
    with translation.override(settings.LANGUAGE_CODE):
        label = str(Reason(reason).label)
    params = {
        "merchant": conversation.merchant.name[:SMS_PARAM_LENGTH],
        "visitor": conversation.visitor.display_name[:SMS_PARAM_LENGTH],
        "reason": label[:SMS_PARAM_LENGTH],
        "conversation": str(conversation.pk),
    }
    return sms.get_backend().send(phone=member.phone, params=params)


def _send_email(conversation: Conversation, reason: str, member: Membership) -> None:
    title, body = texts(conversation, reason)
    context = {
        "merchant": conversation.merchant,
        "member": member,
        "title": title,
        "visitor": conversation.visitor.display_name,
        "preview": conversation.last_message_preview,
        "url": conversation_url(conversation),
    }
    with translation.override(settings.LANGUAGE_CODE):
        subject = f"[{conversation.merchant.name}] {title}"
        text = render_to_string("notifications/email/escalation.txt", context)
        html = render_to_string("notifications/email/escalation.html", context)
    # Visitor names end up in the subject: no line breaks there (header injection).
    email = EmailMultiAlternatives(
        subject=" ".join(subject.split())[:150], body=text, to=[member.user.email]
    )
    email.attach_alternative(html, "text/html")
    email.send()


# --- Unanswered messages (periodic) -----------------------------------------------------------


def unanswered_sweep(*, now: datetime | None = None) -> int:
    """Raise an `unanswered` notification for every open, unqueued conversation whose visitor
    has waited longer than its merchant's escalation delay and that has not been raised for
    this wait yet. Returns how many were raised. Queued ones are chased as `queued`."""
    now = now or timezone.now()
    raised_for_this_wait = Notification.objects.filter(
        conversation=OuterRef("pk"),
        reason=Reason.UNANSWERED,
        user__isnull=True,
        created_at__gte=OuterRef("awaiting_reply_since"),
    )
    count = 0
    # One query per distinct delay (a handful), instead of date arithmetic the databases
    # spell differently.
    delays = (
        Merchant.objects.filter(is_active=True)
        .values_list("escalation_delay_seconds", flat=True)
        .distinct()
    )
    for delay in list(delays):
        due = (
            Conversation.objects.filter(
                merchant__is_active=True,
                merchant__escalation_delay_seconds=delay,
                status__in=[Conversation.Status.OPEN, Conversation.Status.PENDING],
                bot_active=False,
                queued_at__isnull=True,
                awaiting_reply_since__lte=now - timedelta(seconds=delay),
                awaiting_reply_since__gt=now - UNANSWERED_MAX_AGE,
            )
            .exclude(Exists(raised_for_this_wait))
            .values_list("merchant_id", "pk")
        )
        for merchant_id, conversation_id in list(due):
            notify_agents(
                merchant_id=merchant_id, conversation_id=conversation_id, reason=Reason.UNANSWERED
            )
            count += 1
    return count


# --- Visitor reply emails ---------------------------------------------------------------------


def visitor_reply_email_schedule(*, merchant_id: int, conversation_id: int) -> None:
    """Queue the reply email VISITOR_REPLY_EMAIL_DELAY seconds from now (0: never). Called
    after the commit that stored the reply; the task re-checks read state itself."""
    delay = settings.VISITOR_REPLY_EMAIL_DELAY
    if delay <= 0:
        return
    current_app.tasks[VISITOR_REPLY_EMAIL_TASK].apply_async(
        kwargs={"merchant_id": merchant_id, "conversation_id": conversation_id},
        countdown=delay,
    )


def visitor_reply_email_send(*, merchant_id: int, conversation_id: int) -> int:
    """Email the visitor the replies they have not read and were not emailed yet.

    Safe to run late or twice: the conditional UPDATE claims the range of seqs, so two workers
    racing on the same conversation send it once.
    """
    conversation = (
        Conversation.objects.select_related("visitor", "merchant")
        .filter(merchant_id=merchant_id, pk=conversation_id)
        .first()
    )
    if conversation is None or not conversation.visitor.email:
        return 0
    after = max(conversation.visitor_last_read_seq, conversation.visitor_emailed_seq)
    messages = list(
        Message.objects.filter(
            merchant_id=merchant_id,
            conversation_id=conversation_id,
            seq__gt=after,
            is_private=False,
        )
        .exclude(sender_kind=Message.SenderKind.VISITOR)
        .exclude(kind=Message.Kind.EVENT)  # system lines ("Bob joined") are not replies
        .select_related("attachment")  # named in the email (the file itself is not sent)
        .order_by("seq")
    )
    if not messages:
        return 0
    last = messages[-1].seq
    claimed = Conversation.objects.filter(
        pk=conversation_id,
        visitor_emailed_seq=conversation.visitor_emailed_seq,
        visitor_last_read_seq__lt=last,
    ).update(visitor_emailed_seq=last)
    if not claimed:
        return 0
    merchant = conversation.merchant
    context = {
        "merchant": merchant,
        "messages": messages,
        "chat_url": conversation.visitor.page_url,
    }
    with translation.override(settings.LANGUAGE_CODE):
        subject = translation.gettext("New reply from %(merchant)s") % {"merchant": merchant.name}
        text = render_to_string("notifications/email/reply.txt", context)
        html = render_to_string("notifications/email/reply.html", context)
    email = EmailMultiAlternatives(
        subject=subject.replace("\n", " ")[:150], body=text, to=[conversation.visitor.email]
    )
    email.attach_alternative(html, "text/html")
    email.send()
    return len(messages)


# --- Merchant managers ------------------------------------------------------------------------


def managers_email(*, merchant_id: int, subject: str, body: str) -> int:
    """Email the merchant's active owners and admins who have an address, about the merchant's
    set-up rather than a conversation (a webhook endpoint that was disabled, say). The caller
    makes the event happen once (a conditional UPDATE), so this sends without a record.
    Returns how many were sent."""
    managers = Membership.objects.filter(
        merchant_id=merchant_id,
        is_active=True,
        user__is_active=True,
        role__in=[Membership.Role.OWNER, Membership.Role.ADMIN],
    ).select_related("user")
    sent = 0
    for member in managers:
        if not member.user.email:
            continue
        EmailMultiAlternatives(
            subject=" ".join(subject.split())[:150], body=body, to=[member.user.email]
        ).send()
        sent += 1
    return sent
