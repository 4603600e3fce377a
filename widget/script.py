"""The widget script as served: the shared socket core around the widget's own code, one file.

Merchants embed one <script src=".../widget/loader.js">, a classic script, while the workspace
imports the same socket core as an ES module. So the core (conversations/static/realtime/
socket.js) ends with a single `export { ... };` line: here it is dropped, and the core and the
widget go into one function scope, so the widget sees the core's names and the host page gets
no globals. The widget is the files of PARTS under widget/static/widget/, one concern each,
joined in that order into a function of its own inside that scope (as one file it was one
function; its names may shadow the core's, and it returns early when pasted twice): a plain
concatenation, no bundler. The text is rebuilt when any file changes (edits show up without a
restart in development); its hash is the ETag.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass

from django.contrib.staticfiles import finders
from django.core.exceptions import ImproperlyConfigured

CORE = "realtime/socket.js"
WIDGET = "widget/loader.js"
# The widget's parts in the order they run: each sees the names of those before it.
PARTS = (
    WIDGET,  # the script tag, small helpers, the bootstrap
    "widget/state.js",
    "widget/styles.js",
    "widget/panel.js",
    "widget/offline.js",
    "widget/thread.js",
    "widget/rating.js",
    "widget/transcript.js",
    "widget/prechat.js",
    "widget/sending.js",
    "widget/attachments.js",
    "widget/connection.js",
    "widget/start.js",
)
EXPORT_LINE = re.compile(r"^export \{[\w\s,]+\};\n?", re.M)


@dataclass(frozen=True)
class Script:
    body: bytes
    etag: str


_built: dict[tuple, Script] = {}


def _read(name: str) -> str:
    path = finders.find(name)
    if not path:
        raise ImproperlyConfigured(f"static file {name} not found")
    with open(path, encoding="utf-8") as fh:
        return fh.read()


def _stamp(name: str) -> tuple | None:
    path = finders.find(name)
    if not path:
        return None
    stat = os.stat(path)
    return path, stat.st_mtime_ns, stat.st_size


def widget_script() -> Script:
    stamp = (_stamp(CORE), *(_stamp(name) for name in PARTS))
    if stamp not in _built:
        _built.clear()
        _built[stamp] = _build()
    return _built[stamp]


def _build() -> Script:
    core = _read(CORE)
    # Exactly one export line, the last statement: anything else would leave an `export` in a
    # classic script (a syntax error that kills the widget on every merchant's site).
    exports = EXPORT_LINE.findall(core)
    if len(exports) != 1 or not core.rstrip().endswith(exports[0].strip()):
        raise ImproperlyConfigured(f"{CORE} must end with its only export line")
    core = EXPORT_LINE.sub("", core)
    widget = "".join(f"// {name}\n{_read(name)}" for name in PARTS)
    text = f'(() => {{\n"use strict";\n// {CORE}\n{core}\n(() => {{\n{widget}}})();\n}})();\n'
    body = text.encode("utf-8")
    return Script(body=body, etag='"' + hashlib.sha256(body).hexdigest()[:20] + '"')
