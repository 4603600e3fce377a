"""Safe rich text for knowledge-base answers.

Answers are written by merchant admins (or imported from files they did not check), and end up
in the agent workspace and the widget, so they are cleaned on every write with nh3 (an
allow-list sanitiser): a few formatting tags, links with http(s)/mailto/tel only, every link
`rel="noopener noreferrer"`. The bot and the widget show text only; `html_to_text` gives them
the same answer without markup.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import nh3

ALLOWED_TAGS = {
    "a",
    "b",
    "strong",
    "i",
    "em",
    "u",
    "s",
    "p",
    "br",
    "ul",
    "ol",
    "li",
    "blockquote",
    "code",
    "pre",
    "h3",
    "h4",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}}
URL_SCHEMES = {"http", "https", "mailto", "tel"}
# Tags whose content is removed with them (not kept as text).
DROP_CONTENT = {"script", "style", "iframe", "object", "embed", "template", "textarea", "select"}
BLOCK_TAGS = {"p", "ul", "ol", "blockquote", "pre", "h3", "h4", "div"}


def sanitize_html(value: str) -> str:
    return nh3.clean(
        value or "",
        tags=ALLOWED_TAGS,
        clean_content_tags=DROP_CONTENT,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer",
    ).strip()


class _TextExtractor(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "br":
            self.parts.append("\n")
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag in BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data):
        self.parts.append(data)


def html_to_text(value: str) -> str:
    """The answer as plain text: block tags and <br> become line breaks, entities are decoded.
    Callers must still treat the result as text (escape it when they render HTML)."""
    parser = _TextExtractor()
    parser.feed(value or "")
    parser.close()
    text = "".join(parser.parts)
    text = re.sub(r"[ \t]+\n", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()
