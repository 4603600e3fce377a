"""The knowledge-base bot: answers visitors first (Merchant.bot_mode), asks to clarify, reads
follow-ups in context, fills intent slots, and hands over to a person.

Called by the post-commit step (conversations.pipeline) for each stored visitor message.
Returns True while the bot keeps the conversation (the router leaves it alone). Every bot reply
goes through conversations.services.message_send_by_bot: the same locked, sequenced,
published-after-commit path as agents' replies. The bot never trains; it answers with the
engine knowledge.selectors.engine_for loaded (none yet: a person takes over at once).

One visitor message = one turn, in one transaction holding the conversation row lock: the state
read (Conversation.bot_state), the replies and the new state commit together, so two messages
of one visitor arriving at once are answered one after the other, each seeing the other's state.

bot_state, forgotten after BOT_CONTEXT_SECONDS of quiet:
  at      when it was written (epoch seconds)
  lang    the visitor's language, for replies to messages without letters ("1234567890")
  topic   {kind, id, label}: what the last answer was about (follow-ups are read against it)
  choices [{label, kind, id, confidence}]: the clarifying question's choices
  asked   the question the choices were offered for (a knowledge gap if none of them fits)
  slot    {intent_id, index, values, tries}: an intent collecting slot values
  low     consecutive answers without confidence
  intent  the last detected intent (or FAQ question), shown to the agent on hand-over
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from kefu.errors import NotFound
from kefu.localized import Localized
from knowledge import dialogue
from knowledge import selectors as kb_selectors
from knowledge import services as kb_services
from knowledge.models import Faq, Intent
from knowledge.richtext import html_to_text
from knowledge.sentiment import Sentiment
from merchants import hours
from merchants.models import Merchant

from . import protocol, realtime, routing
from . import selectors as conversation_selectors
from . import services as conversation_services
from .models import Conversation, Message

log = logging.getLogger(__name__)

ACTIVE = (Conversation.Status.OPEN, Conversation.Status.PENDING)
NO_KB = "no_kb"
BOT_ERROR = "bot_error"
# Messages of the bot's part of the conversation copied into the hand-over note.
TRANSCRIPT_MESSAGES = 30
TRANSCRIPT_LINE = 300

# Why the bot hands a conversation over, as message ids: the bot renders them into its note
# to agents and into the HANDOVER routing event (conversation_handover); the router only stores
# the text it is given. Anything else is shown as given.
R_HANDOVER = gettext_noop("the bot handed over: %(reason)s")
HANDOVER_REASONS = {
    "visitor_request": gettext_noop("the visitor asked for a person"),
    "low_confidence": gettext_noop("no confident answer"),
    "negative": gettext_noop("the visitor seems upset"),
    "action": gettext_noop("the answer needs an agent"),
    "no_kb": gettext_noop("the bot has no trained knowledge base yet"),
    "bot_off": gettext_noop("the bot was switched off"),
    "bot_error": gettext_noop("the bot failed"),
    "none_of_these": gettext_noop("none of the bot's suggestions fitted"),
    "attachment": gettext_noop("the visitor sent a file the bot cannot read"),
}
# The bot's reply to small talk (knowledge.dialogue.small_talk), in the visitor's language.
SMALL_TALK_REPLIES = {
    "greeting": gettext_noop("Hello! What can I help you with?"),
    "presence": gettext_noop("Yes, I am here. What can I help you with?"),
    "thanks": gettext_noop("You are welcome. Is there anything else I can help you with?"),
    "bye": gettext_noop("Goodbye, and thank you for contacting us!"),
}


# --- Entry points --------------------------------------------------------------------------------


def visitor_message_received(
    *,
    merchant_id: int,
    conversation_id: int,
    message_id: int,
    started: bool,
    reopened: bool = False,
) -> bool:
    """Answer if the bot owns the conversation (or takes a new one); True keeps it away from
    the router."""
    try:
        return _received(merchant_id, conversation_id, message_id, started)
    except Exception:
        log.exception("bot failed on conversation %s; handing over", conversation_id)
        conversation_handover(
            merchant_id=merchant_id, conversation_id=conversation_id, reason=BOT_ERROR
        )
        return True


def conversation_handover(
    *, merchant_id: int, conversation_id: int, reason: str, detail: dict | None = None
) -> None:
    """The bot steps aside: the router records a HANDOVER event saying why (rendered here, in
    the site language) and routes the conversation like a new one."""
    shown = Localized(HANDOVER_REASONS[reason]) if reason in HANDOVER_REASONS else reason
    routing.conversation_handover(
        merchant_id=merchant_id,
        conversation_id=conversation_id,
        reason=reason,
        reason_text=Localized(R_HANDOVER, {"reason": shown}, limit=300),
        detail=detail,
    )


def _received(merchant_id: int, conversation_id: int, message_id: int, started: bool) -> bool:
    # One query on every visitor message, also for merchants whose bot is off.
    conversation = (
        Conversation.objects.select_related("merchant")
        .filter(merchant_id=merchant_id, pk=conversation_id)
        .first()
    )
    if conversation is None or conversation.status not in ACTIVE:
        return False
    merchant = conversation.merchant
    if conversation.bot_active:
        if conversation.assignee_id is not None:
            # An agent took the conversation (claimed it, replied): the bot steps aside.
            Conversation.objects.filter(pk=conversation.pk).update(bot_active=False, bot_state={})
            return False
        if merchant.bot_mode == Merchant.BotMode.OFF:
            _hand_over_now(merchant, conversation.pk, "bot_off", message_id=message_id, say=False)
            return True
    elif not _takes(merchant, conversation, started):
        return False
    engine = kb_selectors.engine_for(merchant_id=merchant_id)
    if engine is None:
        _hand_over_now(merchant, conversation.pk, NO_KB, message_id=message_id)
        return True
    with transaction.atomic():
        conversation = _lock(merchant_id, conversation_id)
        if conversation is None or conversation.assignee_id is not None:
            return False
        if not conversation.bot_active and not _takes(merchant, conversation, started):
            return False
        message = Message.objects.filter(conversation=conversation, pk=message_id).first()
        if message is None:
            return False
        was_active = conversation.bot_active
        _Turn(merchant, conversation, engine, message).run()
        if not was_active:
            _tell_visitor(merchant_id, conversation_id)
    return True


def visitor_handover_request(*, merchant_id: int, visitor_id: int) -> tuple[bool, int]:
    """The widget's "talk to a human" button: (handed over, the conversation's id). Not handed
    over when the bot is not answering this visitor's conversation (a person already has it)."""
    conversation = conversation_selectors.conversation_current_for_visitor(
        merchant_id=merchant_id, visitor_id=visitor_id
    )
    if conversation is None:
        raise NotFound("Conversation not found.")
    if not conversation.bot_active:
        return False, conversation.pk
    merchant = Merchant.objects.get(pk=merchant_id)
    return _hand_over_now(merchant, conversation.pk, "visitor_request"), conversation.pk


# --- Ownership -------------------------------------------------------------------------------------


def _takes(merchant: Merchant, conversation: Conversation, started: bool) -> bool:
    """Whether the bot answers a conversation it does not own yet: only a new one, never one a
    person has had, and only in the merchant's bot mode."""
    if not started or conversation.handed_over_at is not None or conversation.assignee_id:
        return False
    if merchant.bot_mode == Merchant.BotMode.BOT_FIRST:
        return True
    if merchant.bot_mode == Merchant.BotMode.OUTSIDE_HOURS:
        return not hours.is_open(merchant)
    return False


def _lock(merchant_id: int, conversation_id: int) -> Conversation | None:
    """The conversation, row-locked, while the bot may still speak in it (open or pending)."""
    try:
        conversation = conversation_services.conversation_lock(
            merchant_id=merchant_id, conversation_id=conversation_id
        )
    except NotFound:
        return None
    return conversation if conversation.status in ACTIVE else None


def _tell_visitor(merchant_id: int, conversation_id: int) -> None:
    """The bot took a new conversation: the visitor's tabs learn it (bot_active shows the
    "talk to a human" button) after the commit."""
    conversation = Conversation.objects.filter(merchant_id=merchant_id, pk=conversation_id).first()
    if conversation is not None and conversation.bot_active:
        realtime.publish_on_commit(
            realtime.visitor_group(conversation.visitor_id),
            protocol.VisitorConversationStateFrame(
                conversation=realtime.visitor_conversation_out(conversation)
            ),
        )


def _fresh_state(conversation: Conversation) -> dict:
    state = dict(conversation.bot_state or {})
    if state and time.time() - float(state.get("at") or 0) > settings.BOT_CONTEXT_SECONDS:
        # A quiet while later the visitor starts over: old choices and topics would mislead.
        return {"lang": state["lang"]} if state.get("lang") else {}
    return state


# --- One turn --------------------------------------------------------------------------------------


class _Turn:
    """Reads one visitor message against the state and answers it (inside the caller's
    transaction, with the conversation row locked)."""

    def __init__(self, merchant: Merchant, conversation: Conversation, engine, message: Message):
        self.merchant, self.conversation, self.engine, self.message = (
            merchant,
            conversation,
            engine,
            message,
        )
        self.text = message.body
        self.state = _fresh_state(conversation)
        self.lang = dialogue.language_of(
            self.text, self.state.get("lang") or settings.LANGUAGE_CODE
        )
        self.state["lang"] = self.lang
        self.apologise = message.sentiment_label == "negative"

    # Replies ----------------------------------------------------------------------------------

    def say(self, body: str, meta: dict | None = None) -> None:
        if self.apologise:
            # Negative but not furious: acknowledge it once, then help.
            with translation.override(self.lang):
                body = _("Sorry for the trouble.") + " " + body
            self.apologise = False
        conversation_services.message_send_by_bot(
            merchant_id=self.merchant.pk,
            conversation_id=self.conversation.pk,
            body=body,
            meta=meta or {},
        )

    def t(self, msgid: str, **params) -> str:
        with translation.override(self.lang):
            text = translation.gettext(msgid)
        return text % params if params else text

    def save(self) -> None:
        self.state["at"] = time.time()
        fields = {"bot_state": self.state, "bot_active": True}
        if self.state.get("intent"):
            fields["intent"] = self.state["intent"][:100]
        Conversation.objects.filter(pk=self.conversation.pk).update(**fields)

    # The turn ---------------------------------------------------------------------------------

    def run(self) -> None:
        if self.message.kind != Message.Kind.TEXT and not self.text.strip():
            # A screenshot or a document without words: only a person can look at it.
            return self.hand_over("attachment")
        if dialogue.asks_for_human(self.text):
            return self.hand_over("visitor_request")
        score = self.message.sentiment_score
        if score is not None and Sentiment(score, self.message.sentiment_label).strongly_negative:
            return self.hand_over("negative")
        kind = dialogue.small_talk(self.text)
        if kind is not None:
            return self.small_talk(kind)
        if self.state.get("slot") and self.fill_slot():
            return None
        choices = self.state.pop("choices", None)
        asked = self.state.pop("asked", None)
        if choices:
            picked = dialogue.pick_choice(self.text, choices)
            if picked is not None:
                return self.answer(picked["kind"], picked["id"], picked["confidence"], picked=True)
            if dialogue.rejects_choices(self.text, choices):
                # None of the guesses fitted: the question is a gap, and a person answers it.
                if asked:
                    kb_services.unanswered_question_record(
                        merchant_id=self.merchant.pk,
                        text=asked,
                        confidence=max(float(c.get("confidence") or 0) for c in choices),
                        conversation_id=self.conversation.pk,
                    )
                return self.hand_over("none_of_these")
        candidates, in_context = self.read()
        if choices:
            picked = dialogue.pick_by_reading(candidates, choices)
            if picked is not None:
                return self.answer(picked["kind"], picked["id"], picked["confidence"], picked=True)
        decision = dialogue.decide(candidates)
        if decision.action == "answer":
            c = decision.candidates[0]
            return self.answer(c.kind, c.id, c.confidence, context=in_context)
        if decision.action == "clarify":
            return self.clarify(decision.candidates, decision.confidence)
        return self.not_understood(decision.confidence)

    def read(self) -> tuple[list, bool]:
        """Candidates for the message, best first, and whether they were read in context
        (knowledge.dialogue.read: the one reading `kb_eval faq` measures too)."""
        return dialogue.read(self.engine, self.text, self.state.get("topic"))

    def answer(
        self, kind: str, oid: int, confidence: float, *, picked: bool = False, context: bool = False
    ) -> None:
        meta = {"confidence": round(confidence, 3), "kind": kind}
        if picked:
            meta["picked"] = True
        if context:
            meta["context"] = True
        if kind == "faq":
            faq = kb_selectors.faq_answerable(merchant_id=self.merchant.pk, faq_id=oid)
            if faq is None:  # disabled or expired since the model was trained
                return self.not_understood(0.0)
            self.state.update(
                topic={"kind": "faq", "id": faq.pk, "label": faq.question},
                intent=faq.question,
                low=0,
            )
            self.state.pop("slot", None)
            self.save()
            self.say(html_to_text(faq.answer), {**meta, "faq_id": faq.pk, "question": faq.question})
            faq_id = faq.pk
            transaction.on_commit(
                lambda: Faq.objects.filter(pk=faq_id).update(hits=F("hits") + 1), robust=True
            )
            return None
        intent = Intent.objects.filter(
            merchant_id=self.merchant.pk, pk=oid, is_enabled=True
        ).first()
        if intent is None:
            return self.not_understood(0.0)
        self.state.update(
            topic={"kind": "intent", "id": intent.pk, "label": _intent_label(intent)},
            intent=intent.name,
            low=0,
        )
        self.state.pop("slot", None)
        meta.update(intent=intent.name, intent_id=intent.pk)
        if intent.action == Intent.Action.HANDOVER:
            return self.hand_over("action")
        if intent.slots:
            self.state["slot"] = {"intent_id": intent.pk, "index": 0, "values": {}, "tries": 0}
            self.save()
            slot = intent.slots[0]
            return self.say(slot["prompt"], {**meta, "slot": slot["name"]})
        body = html_to_text(intent.answer)
        if not body:
            return self.hand_over("action")  # an intent with nothing to say needs a person
        self.save()
        return self.say(body, meta)

    def fill_slot(self) -> bool:
        """The message as the answer to the pending slot question. False when it is not one
        and the visitor clearly asked something else instead (that is then answered)."""
        pending = self.state["slot"]
        intent = Intent.objects.filter(
            merchant_id=self.merchant.pk, pk=pending["intent_id"], is_enabled=True
        ).first()
        if intent is None or pending["index"] >= len(intent.slots):
            self.state.pop("slot")
            return False
        slot = intent.slots[pending["index"]]
        value = dialogue.slot_value(self.text, slot.get("pattern"))
        meta = {"intent": intent.name, "intent_id": intent.pk}
        if value is None:
            other = dialogue.decide(dialogue.read(self.engine, self.text)[0])
            if other.action == "answer" and (other.candidates[0].kind, other.candidates[0].id) != (
                "intent",
                intent.pk,
            ):
                self.state.pop("slot")  # a new question, not a wrong answer
                return False
            pending["tries"] += 1
            if pending["tries"] >= dialogue.SLOT_MAX_TRIES:
                self.hand_over("low_confidence")
                return True
            self.save()
            self.say(
                slot.get("reprompt") or slot["prompt"],
                {**meta, "slot": slot["name"], "reprompt": True},
            )
            return True
        pending["values"][slot["name"]] = value
        pending["index"] += 1
        pending["tries"] = 0
        if pending["index"] < len(intent.slots):
            nxt = intent.slots[pending["index"]]
            self.save()
            self.say(nxt["prompt"], {**meta, "slot": nxt["name"]})
            return True
        values = pending["values"]
        self.state.pop("slot")
        self.state["low"] = 0
        body = dialogue.fill(html_to_text(intent.answer), values)
        if not body:
            self.hand_over("action")
            return True
        self.save()
        self.say(body, {**meta, "slots": values, "confidence": 1.0})
        return True

    def clarify(self, candidates: list, confidence: float) -> None:
        choices = []
        for c in candidates:
            label = self.choice_label(c)
            if label and all(
                dialogue.normalize(label) != dialogue.normalize(x["label"]) for x in choices
            ):
                choices.append(
                    {
                        "label": label,
                        "kind": c.kind,
                        "id": c.id,
                        "confidence": round(c.confidence, 3),
                    }
                )
        if not choices:
            return self.not_understood(confidence)
        self.state["choices"] = choices
        self.state["asked"] = self.text[:500]
        self.state["low"] = 0
        self.save()
        if len(choices) == 1:
            body = self.t(gettext_noop("Did you mean: %(label)s?"), label=choices[0]["label"])
        else:
            body = self.t(
                gettext_noop("Which of these do you mean? Pick one or reply with its number.")
            )
        self.say(
            body,
            {
                "confidence": round(confidence, 3),
                "clarify": True,
                "choices": [{"label": ch["label"]} for ch in choices],
            },
        )
        return None

    def small_talk(self, kind: str) -> None:
        """A polite reply in the visitor's language; the state (offered choices, a pending
        slot, the topic) stays as it was, and nothing is recorded as a knowledge gap."""
        self.save()
        self.say(self.t(SMALL_TALK_REPLIES[kind]), {"small_talk": kind, "confidence": 1.0})

    def choice_label(self, c) -> str:
        if c.kind == "faq":
            faq = kb_selectors.faq_answerable(merchant_id=self.merchant.pk, faq_id=c.id)
            return faq.question if faq else ""
        intent = Intent.objects.filter(
            merchant_id=self.merchant.pk, pk=c.id, is_enabled=True
        ).first()
        return _intent_label(intent) if intent else ""

    def not_understood(self, confidence: float) -> None:
        kb_services.unanswered_question_record(
            merchant_id=self.merchant.pk,
            text=self.text,
            confidence=confidence,
            conversation_id=self.conversation.pk,
        )
        self.state["low"] = int(self.state.get("low") or 0) + 1
        if self.state["low"] >= dialogue.LOW_CONFIDENCE_LIMIT:
            return self.hand_over("low_confidence")
        self.save()
        self.say(
            self.t(
                gettext_noop(
                    "Sorry, I could not find an answer to that. Could you put it another way? "
                    "To talk to a person, say “human”."
                )
            ),
            {"confidence": round(confidence, 3), "unanswered": True},
        )
        return None

    def hand_over(self, reason: str) -> None:
        _hand_over_locked(
            self.merchant, self.conversation, reason, self.state, self.lang, self.message
        )


def _intent_label(intent: Intent) -> str:
    """What a visitor sees for an intent in a choice: its first example phrase (intent names
    are for admins, e.g. "order_status")."""
    for line in intent.examples.splitlines():
        if line.strip():
            return line.strip()[:200]
    return intent.name


# --- Hand-over -------------------------------------------------------------------------------------


def _hand_over_now(
    merchant: Merchant,
    conversation_id: int,
    reason: str,
    *,
    message_id: int | None = None,
    say: bool = True,
) -> bool:
    with transaction.atomic():
        conversation = _lock(merchant.pk, conversation_id)
        if conversation is None:
            return False
        if not conversation.bot_active and conversation.handed_over_at is not None:
            return False  # already with a person (a double click)
        message = None
        if message_id is not None:
            message = Message.objects.filter(conversation=conversation, pk=message_id).first()
        if message is None:
            message = (
                Message.objects.filter(conversation=conversation, sender_kind="visitor")
                .order_by("-seq")
                .first()
            )
        state = _fresh_state(conversation)
        lang = dialogue.language_of(
            message.body if message else "", state.get("lang") or settings.LANGUAGE_CODE
        )
        _hand_over_locked(merchant, conversation, reason, state, lang, message, say=say)
    return True


def _hand_over_locked(
    merchant: Merchant,
    conversation: Conversation,
    reason: str,
    state: dict,
    lang: str,
    message: Message | None,
    *,
    say: bool = True,
) -> None:
    """Tell the visitor, leave agents a private note (bot transcript, intent, sentiment), record
    the intent, and let the router take the conversation (conversations.routing)."""
    offline = not hours.is_open(merchant) or not conversation_selectors.merchant_agents_online(
        merchant_id=merchant.pk
    )
    if say:
        with translation.override(lang):
            if offline:
                body = _(
                    "No agent is available right now. Please leave your question and how to "
                    "reach you; we will reply as soon as we are back."
                )
            else:
                body = _("I am connecting you to an agent. Please wait a moment.")
        conversation_services.message_send_by_bot(
            merchant_id=merchant.pk,
            conversation_id=conversation.pk,
            body=body,
            meta={"handover": reason, "offline": offline},
        )
    intent = (state.get("intent") or conversation.intent or "")[:100]
    conversation_services.message_send_by_bot(
        merchant_id=merchant.pk,
        conversation_id=conversation.pk,
        note=True,
        body=_handover_note(conversation, reason, intent, message),
        meta={
            "handover": reason,
            "intent": intent,
            "sentiment_label": message.sentiment_label if message else "",
            "sentiment_score": message.sentiment_score if message else None,
        },
    )
    Conversation.objects.filter(pk=conversation.pk).update(intent=intent, bot_state={})
    conversation_handover(
        merchant_id=merchant.pk,
        conversation_id=conversation.pk,
        reason=reason,
        detail={
            "intent": intent,
            "sentiment": message.sentiment_label if message else "",
            "offline": offline,
        },
    )


def _handover_note(
    conversation: Conversation, reason: str, intent: str, message: Message | None
) -> str:
    """The agent's summary, in the site language: why, what the visitor wanted, their mood, and
    the conversation so far (the bot's part of it)."""
    rows = list(
        Message.objects.filter(conversation=conversation, is_private=False)
        .order_by("-seq")
        .values_list("sender_kind", "body")[:TRANSCRIPT_MESSAGES]
    )[::-1]
    with translation.override(settings.LANGUAGE_CODE):
        who = {"visitor": _("Visitor"), "bot": _("Bot"), "agent": _("Agent"), "system": _("System")}
        mood = _("not read")
        if message is not None and message.sentiment_label:
            mood = "%s (%.2f)" % (
                {"positive": _("positive"), "neutral": _("neutral"), "negative": _("negative")}.get(
                    message.sentiment_label, message.sentiment_label
                ),
                message.sentiment_score or 0.0,
            )
        lines = [
            _("The bot handed this conversation over: %(reason)s")
            % {"reason": _(HANDOVER_REASONS[reason]) if reason in HANDOVER_REASONS else reason},
            _("Detected intent: %(intent)s") % {"intent": intent or _("none")},
            _("Visitor sentiment: %(mood)s") % {"mood": mood},
            _("Conversation so far:"),
        ]
        for kind, body in rows:
            text = " ".join(body.split())
            if len(text) > TRANSCRIPT_LINE:
                text = text[:TRANSCRIPT_LINE] + "…"
            lines.append(f"{who.get(kind, kind)}: {text}")
    return "\n".join(lines)
