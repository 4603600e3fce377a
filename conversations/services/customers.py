"""Customer management writes (issue 13, docs/desk.md): labels and their use on conversations,
custom attribute definitions and values, notes about a customer, and blocking a visitor. The
merge of an anonymous visitor into the identified customer is in services.visitors.

Who may do what: managing labels and attribute definitions is for owners and admins (and API
tokens, which act for the whole merchant); applying labels, writing notes, setting attribute
values and blocking are for every agent of the merchant."""

from __future__ import annotations

import datetime
import math
import re

from django.db import IntegrityError, transaction
from django.utils import timezone

from kefu.errors import KefuError, NotFound
from kefu.text import SURROGATE_MESSAGE, surrogate_in

from .. import events, realtime
from ..models import AttributeDefinition, CustomerNote, Label, Visitor
from .store import conversation_lock

COLOUR = re.compile(r"^#[0-9a-fA-F]{6}\Z")
KEY = re.compile(r"^[-a-zA-Z0-9_]{1,50}\Z")
NOTE_MAX_LENGTH = 2000
BLOCK_REASON_MAX_LENGTH = 300
ATTRIBUTE_TEXT_MAX_LENGTH = 500
CHOICES_MAX = 50


def _forbidden_unless(is_manager: bool, what: str) -> None:
    if not is_manager:
        raise KefuError("forbidden", f"{what} are managed by owners and admins.")


def _text(value, *, field: str, max_length: int, required: bool = True) -> str:
    if not isinstance(value, str):
        raise KefuError("invalid", "Not a valid string.", field=field)
    value = value.strip()
    if required and not value:
        raise KefuError("invalid", "This field may not be blank.", field=field)
    if len(value) > max_length:
        raise KefuError(
            "invalid", f"Ensure this field has no more than {max_length} characters.", field=field
        )
    if surrogate_in(value):
        raise KefuError("invalid", SURROGATE_MESSAGE, field=field)
    return value


# --- Labels -------------------------------------------------------------------------------------


def _label_clean(changes: dict) -> dict:
    clean = {}
    if "name" in changes:
        clean["name"] = _text(changes["name"], field="name", max_length=50)
    if "colour" in changes:
        colour = changes["colour"]
        if not isinstance(colour, str) or not COLOUR.match(colour):
            raise KefuError("invalid", "A colour is #rrggbb, e.g. #2563eb.", field="colour")
        clean["colour"] = colour.lower()
    if "description" in changes:
        clean["description"] = _text(
            changes["description"], field="description", max_length=200, required=False
        )
    return clean


def labels_announce(merchant_id: int) -> None:
    """Tell open workspaces the merchant's labels after the commit (the admin calls it too)."""
    realtime.labels_changed(merchant_id, list(Label.objects.filter(merchant_id=merchant_id)))


def _label_save(label: Label) -> Label:
    try:
        with transaction.atomic():
            label.save()
    except IntegrityError:
        raise KefuError(
            "label_name_taken", "This merchant already has a label with this name.", field="name"
        ) from None
    return label


@transaction.atomic
def label_create(
    *, merchant_id: int, is_manager: bool, name: str, colour: str = "#64748b", description=""
) -> Label:
    _forbidden_unless(is_manager, "Labels")
    clean = _label_clean({"name": name, "colour": colour, "description": description})
    label = _label_save(Label(merchant_id=merchant_id, **clean))
    labels_announce(merchant_id)
    return label


def _label_get(merchant_id: int, label_id: int) -> Label:
    try:
        return Label.objects.get(merchant_id=merchant_id, pk=label_id)
    except (Label.DoesNotExist, ValueError, TypeError):
        raise NotFound("Label not found.") from None


@transaction.atomic
def label_update(*, merchant_id: int, is_manager: bool, label_id: int, **changes) -> Label:
    _forbidden_unless(is_manager, "Labels")
    label = _label_get(merchant_id, label_id)
    for key, value in _label_clean(changes).items():
        setattr(label, key, value)
    _label_save(label)
    labels_announce(merchant_id)
    return label


@transaction.atomic
def label_delete(*, merchant_id: int, is_manager: bool, label_id: int) -> None:
    """The label leaves every conversation with it. No labels_changed event per conversation:
    reports read a deleted label's history from the events recorded while it was applied."""
    _forbidden_unless(is_manager, "Labels")
    _label_get(merchant_id, label_id).delete()
    labels_announce(merchant_id)


def labels_resolve(*, merchant_id: int, label_ids) -> list[Label]:
    """The merchant's labels with these ids; an id that is not one of them is a 400 (an
    unknown id and another merchant's label look the same: nothing tells them apart)."""
    wanted = set(label_ids)
    found = list(Label.objects.filter(merchant_id=merchant_id, pk__in=wanted)) if wanted else []
    missing = sorted(wanted - {label.pk for label in found})
    if missing:
        raise KefuError(
            "unknown_label",
            "No such label in this merchant: " + ", ".join(str(i) for i in missing) + ".",
            field="label_ids",
        )
    return found


def conversation_labels_change(
    *,
    merchant_id: int,
    conversation_id: int,
    add=(),
    remove=(),
    actor_user_id: int | None,
) -> list[int]:
    """Add and remove labels on a conversation; returns its label ids afterwards. Add/remove
    rather than "set": two agents labelling at once both keep what they added. Records
    `conversation.labels_changed` and announces `conversation.labels` when something changed."""
    add, remove = set(add), set(remove)
    if add & remove:
        raise KefuError(
            "invalid", "A label cannot be added and removed at once.", field="label_ids"
        )
    labels_resolve(merchant_id=merchant_id, label_ids=add | remove)
    with transaction.atomic():
        conversation = conversation_lock(merchant_id=merchant_id, conversation_id=conversation_id)
        through = conversation.labels.through
        current = set(
            through.objects.filter(conversation_id=conversation.pk).values_list(
                "label_id", flat=True
            )
        )
        added, removed = add - current, remove & current
        if not added and not removed:
            return sorted(current)
        if removed:
            through.objects.filter(conversation_id=conversation.pk, label_id__in=removed).delete()
        if added:
            through.objects.bulk_create(
                [through(conversation_id=conversation.pk, label_id=i) for i in sorted(added)]
            )
        label_ids = sorted((current | added) - removed)
        events.record_event(
            events.Kind.LABELS_CHANGED,
            merchant_id=merchant_id,
            conversation=conversation,
            actor_id=actor_user_id,
            data={"added": sorted(added), "removed": sorted(removed), "label_ids": label_ids},
        )
        realtime.conversation_labels_changed(conversation, label_ids, actor_user_id)
    return label_ids


# --- Custom attributes ----------------------------------------------------------------------------


def attribute_choices_clean(kind: str, choices) -> list[str]:
    """The allowed values of a choice attribute (non-empty, distinct strings); [] for others."""
    if kind != AttributeDefinition.Kind.CHOICE:
        return []
    if not isinstance(choices, list) or not choices or len(choices) > CHOICES_MAX:
        raise KefuError(
            "invalid", f"Give between 1 and {CHOICES_MAX} values to choose from.", field="choices"
        )
    clean = [_text(c, field="choices", max_length=100) for c in choices]
    if len(set(clean)) != len(clean):
        raise KefuError("invalid", "The values must be distinct.", field="choices")
    return clean


@transaction.atomic
def attribute_definition_create(
    *, merchant_id: int, is_manager: bool, key: str, name: str, kind: str, choices=None
) -> AttributeDefinition:
    _forbidden_unless(is_manager, "Custom attributes")
    if kind not in AttributeDefinition.Kind.values:
        raise KefuError("invalid", "Unknown type.", field="kind")
    if not isinstance(key, str) or not KEY.match(key):
        raise KefuError("invalid", "Letters, digits, - or _, at most 50 characters.", field="key")
    row = AttributeDefinition(
        merchant_id=merchant_id,
        key=key,
        name=_text(name, field="name", max_length=100),
        kind=kind,
        choices=attribute_choices_clean(kind, choices or []),
    )
    try:
        with transaction.atomic():
            row.save()
    except IntegrityError:
        raise KefuError(
            "attribute_key_taken",
            "This merchant already has an attribute with this key.",
            field="key",
        ) from None
    return row


@transaction.atomic
def attribute_definition_delete(*, merchant_id: int, is_manager: bool, definition_id: int) -> None:
    """The values stay in the visitors' attributes (an integration may still read them); the
    profile shows only defined attributes."""
    _forbidden_unless(is_manager, "Custom attributes")
    deleted, _ = AttributeDefinition.objects.filter(
        merchant_id=merchant_id, pk=definition_id
    ).delete()
    if not deleted:
        raise NotFound("Custom attribute not found.")


def attribute_value_clean(definition: AttributeDefinition, value):
    """`value` as stored for this attribute (JSON: a string, a number, an ISO date), or a
    KefuError naming `attributes.<key>`."""
    field = f"attributes.{definition.key}"
    kind = definition.kind
    if kind == AttributeDefinition.Kind.NUMBER:
        if isinstance(value, str):
            try:
                value = float(value.strip())
            except ValueError:
                raise KefuError("invalid", "Enter a number.", field=field) from None
            value = int(value) if value.is_integer() else value
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise KefuError("invalid", "Enter a number.", field=field)
        return value
    if not isinstance(value, str):
        raise KefuError("invalid", "Not a valid string.", field=field)
    if kind == AttributeDefinition.Kind.DATE:
        try:
            return datetime.date.fromisoformat(value.strip()[:10]).isoformat()
        except ValueError:
            raise KefuError("invalid", "Enter a date as YYYY-MM-DD.", field=field) from None
    if kind == AttributeDefinition.Kind.CHOICE:
        if value not in definition.choices:
            raise KefuError(
                "invalid", "Choose one of: " + ", ".join(definition.choices) + ".", field=field
            )
        return value
    return _text(value, field=field, max_length=ATTRIBUTE_TEXT_MAX_LENGTH, required=False)


def attribute_values_clean(
    *, merchant_id: int, values: dict, strict: bool = True
) -> tuple[dict, dict[str, str]]:
    """The values as stored ({key: value}, None kept: it removes one) and, when not strict,
    the left-out ones as {key: reason}. Keys must be the merchant's custom attributes and
    values valid for their type; strict: the first bad one is a KefuError naming
    `attributes.<key>`. One query."""
    definitions = {
        d.key: d
        for d in AttributeDefinition.objects.filter(merchant_id=merchant_id, key__in=list(values))
    }
    clean: dict = {}
    errors: dict[str, str] = {}
    for key, value in values.items():
        try:
            definition = definitions.get(key)
            if definition is None:
                raise KefuError(
                    "unknown_attribute", "No such custom attribute.", field=f"attributes.{key}"
                )
            clean[key] = None if value is None else attribute_value_clean(definition, value)
        except KefuError as exc:
            if strict:
                raise
            errors[str(key)[:50]] = exc.message
    return clean, errors


def visitor_attributes_set(
    *, merchant_id: int, visitor_id: int, values: dict, strict: bool = True
) -> tuple[Visitor, dict[str, str]]:
    """Set custom attribute values (None removes one). Keys must be defined by the merchant and
    values valid for their type. `strict` (the API, an agent): the first bad value is a 400 and
    nothing changes. Not strict (the site's signed identity): bad values are left out and
    returned as {key: reason}, so a site's typo does not cost the visitor their chat."""
    if not isinstance(values, dict):
        raise KefuError("invalid", "Expected an object of key: value.", field="attributes")
    # Another merchant's visitor is a 404 before its keys are judged by this merchant's list.
    if not Visitor.objects.filter(merchant_id=merchant_id, pk=visitor_id).exists():
        raise NotFound("Visitor not found.")
    clean, errors = attribute_values_clean(merchant_id=merchant_id, values=values, strict=strict)
    with transaction.atomic():
        try:
            visitor = Visitor.objects.select_for_update().get(
                merchant_id=merchant_id, pk=visitor_id
            )
        except (Visitor.DoesNotExist, ValueError, TypeError):
            raise NotFound("Visitor not found.") from None
        attributes = dict(visitor.attributes or {})
        for key, value in clean.items():
            if value is None:
                attributes.pop(key, None)
            else:
                attributes[key] = value
        if attributes != visitor.attributes:
            visitor.attributes = attributes
            visitor.save(update_fields=["attributes"])
            realtime.visitor_profile_changed(merchant_id, visitor.pk, "attributes")
    return visitor, errors


# --- Notes about a customer -----------------------------------------------------------------------


@transaction.atomic
def customer_note_create(
    *, merchant_id: int, visitor_id: int, author_id: int | None, author_name: str, body: str
) -> CustomerNote:
    body = _text(body, field="body", max_length=NOTE_MAX_LENGTH)
    if not Visitor.objects.filter(merchant_id=merchant_id, pk=visitor_id).exists():
        raise NotFound("Visitor not found.")
    note = CustomerNote.objects.create(
        merchant_id=merchant_id,
        visitor_id=visitor_id,
        author_id=author_id,
        author_name=author_name[:100],
        body=body,
    )
    realtime.visitor_profile_changed(merchant_id, visitor_id, "notes")
    return note


@transaction.atomic
def customer_note_delete(
    *, merchant_id: int, visitor_id: int, note_id: int, user_id: int | None, is_manager: bool
) -> None:
    """Its author deletes a note; owners, admins and API tokens any note."""
    note = CustomerNote.objects.filter(
        merchant_id=merchant_id, visitor_id=visitor_id, pk=note_id
    ).first()
    if note is None:
        raise NotFound("Note not found.")
    if not is_manager and note.author_id != user_id:
        raise KefuError("forbidden", "Only its author, an owner or an admin deletes a note.")
    note.delete()
    realtime.visitor_profile_changed(merchant_id, visitor_id, "notes")


# --- Blocking -------------------------------------------------------------------------------------


def _visitors_for_update(
    merchant_id: int, visitor_id: int | None, external_id: str | None
) -> list[Visitor]:
    """The visitor by id, or every visitor carrying this signed identity id (one after the
    merge, several only for rows identified before it existed); NotFound if none."""
    qs = Visitor.objects.select_for_update().filter(merchant_id=merchant_id)
    if visitor_id is not None:
        rows = list(qs.filter(pk=visitor_id))
    elif external_id:
        rows = list(qs.filter(external_id=external_id).order_by("id"))
    else:
        raise KefuError("invalid", "Give visitor_id or external_id.", field="visitor_id")
    if not rows:
        raise NotFound("Visitor not found.")
    return rows


@transaction.atomic
def visitor_block(
    *,
    merchant_id: int,
    actor_user_id: int | None,
    reason: str = "",
    visitor_id: int | None = None,
    external_id: str | None = None,
) -> list[Visitor]:
    """From now on the visitor cannot write (message_send_by_visitor and the leave-a-message
    form refuse with `visitor_blocked`; the widget shows the chat as closed). Blocking again
    keeps the first block's time and author, with the new reason."""
    reason = _text(reason, field="reason", max_length=BLOCK_REASON_MAX_LENGTH, required=False)
    rows = _visitors_for_update(merchant_id, visitor_id, external_id)
    now = timezone.now()
    for visitor in rows:
        if visitor.blocked_at is None:
            visitor.blocked_at, visitor.blocked_by_id = now, actor_user_id
        visitor.block_reason = reason
        visitor.save(update_fields=["blocked_at", "blocked_by", "block_reason"])
        realtime.visitor_profile_changed(merchant_id, visitor.pk, "blocked")
    return rows


@transaction.atomic
def visitor_unblock(
    *, merchant_id: int, visitor_id: int | None = None, external_id: str | None = None
) -> list[Visitor]:
    rows = _visitors_for_update(merchant_id, visitor_id, external_id)
    for visitor in rows:
        if visitor.blocked_at is None:
            continue
        visitor.blocked_at, visitor.blocked_by_id, visitor.block_reason = None, None, ""
        visitor.save(update_fields=["blocked_at", "blocked_by", "block_reason"])
        realtime.visitor_profile_changed(merchant_id, visitor.pk, "blocked")
    return rows
