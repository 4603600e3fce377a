"""The widget's words for the satisfaction rating, the emoji picker, the reply sound and the
conversation's system lines, in the request's language (merged into the bootstrap's `strings`;
the widget's own fallbacks are DEFAULT_STRINGS in widget/static/widget/state.js)."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

# The emoji picker's curated set: (emoji, accessible name). Served by the app, no font or image
# download: each is a character the visitor's own system draws.
EMOJI = (
    ("😀", gettext_noop("grinning face")),
    ("😊", gettext_noop("smiling face")),
    ("😂", gettext_noop("tears of joy")),
    ("😉", gettext_noop("winking face")),
    ("😍", gettext_noop("heart eyes")),
    ("🤔", gettext_noop("thinking face")),
    ("😅", gettext_noop("nervous smile")),
    ("😢", gettext_noop("crying face")),
    ("😮", gettext_noop("surprised face")),
    ("😡", gettext_noop("angry face")),
    ("🙏", gettext_noop("thank you")),
    ("👍", gettext_noop("thumbs up")),
    ("👎", gettext_noop("thumbs down")),
    ("👌", gettext_noop("OK hand")),
    ("👋", gettext_noop("waving hand")),
    ("👏", gettext_noop("clapping hands")),
    ("💪", gettext_noop("strong")),
    ("🎉", gettext_noop("celebration")),
    ("❤️", gettext_noop("red heart")),
    ("🌹", gettext_noop("rose")),
    ("✅", gettext_noop("check mark")),
    ("❓", gettext_noop("question mark")),
    ("📦", gettext_noop("package")),
    ("🚚", gettext_noop("delivery truck")),
)


def extra_strings() -> dict:
    return {
        # Satisfaction rating (docs/widget.md, "Satisfaction rating").
        "rate_title": _("How was your conversation?"),
        "rate_stars": _("%(n)s of 5 stars"),
        "rate_good": _("Satisfied"),
        "rate_ok": _("So-so"),
        "rate_bad": _("Dissatisfied"),
        "rate_comment": _("Anything you would like to add? (optional)"),
        "rate_submit": _("Send rating"),
        "rate_later": _("Not now"),
        "rate_choose": _("Please choose a rating first."),
        "rate_thanks": _("Thank you for your feedback!"),
        "rate_again": _("You have already rated this conversation."),
        # Emoji picker and the reply sound.
        "emoji": _("Insert emoji"),
        "emoji_list": _("Emoji"),
        "emoji_names": [_(name) for _char, name in EMOJI],
        "emoji_chars": [char for char, _name in EMOJI],
        "sound_on": _("Sound for new replies: on"),
        "sound_off": _("Sound for new replies: off"),
        # The pre-chat form (widget/prechat.py).
        "prechat_intro": _("Before we start, please tell us a little about yourself."),
        "prechat_start": _("Start the chat"),
        "prechat_optional": _("optional"),
        # The transcript by e-mail (widget/transcript.py).
        "transcript": _("Email me this conversation"),
        "transcript_email": _("Your email address"),
        "transcript_send": _("Send"),
        # System lines in the visitor's thread (the conversation's state, as text).
        "sys_handover": _("The assistant passed your conversation to our team."),
        "sys_joined": _("%(agent)s joined the conversation."),
        "sys_transferred": _("Your conversation was transferred to %(agent)s."),
        "sys_ended": _("The conversation has ended. Write again any time to reopen it."),
    }
