"""The application the browser tests' shared daphne serves: the product's (kefu.asgi), plus one
path for the test process, so that one daphne can serve every test of the folder
(tests/e2e/conftest.py, `e2e_daphne`) with each test as isolated as with a process of its own.

GET /__tests__/settle answers {"busy": N}: N is the number of this process's own coroutines
still running (application instances, i.e. open sockets and unfinished requests, and the
post-commit pipeline or message batches they started). When N is 0, it has also dropped the
per-process state that a test's rows filled in and that is keyed by their ids (bot engines,
webhook subscriptions, the in-memory presence store, content types): the rows are flushed after
each test, and where ids come back (tests/dbsnapshot.py puts rows back with their own ids) the
next test must not find the last one's state, as it never could in a process of its own."""

import asyncio
import json
import threading
from pathlib import Path

from kefu.asgi import application as product

PATH = "/__tests__/settle"
ROOT = Path(__file__).resolve().parent.parent.parent
VENV = str(ROOT / ".venv")


def _warm_bot() -> None:
    """Load what a process's first bot answer loads (jieba's dictionary, both sentence
    encoders) once at start, off the event loop. A process of its own per test paid this in
    its start-up wait; a shared daphne made its first bot test pay it inside its 15 s wait
    for the answer, 2 to 3 s at load 4 and over 15 s on a loaded machine with the suite in
    parallel (`tests/e2e -n 2`: the bot's greeting never shown). Later tests found it
    loaded, so this gives each the same start."""
    from knowledge.nlp import encoder, faq_encoder
    from knowledge.nlp.tokenize import base_tokenizer

    base_tokenizer()
    sentence = encoder.get()
    if sentence is not None:
        sentence.encode(["hello"])
    faq = faq_encoder.get()
    if faq is not None:
        faq.encode(["hello"])


threading.Thread(target=_warm_bot, name="warm-bot", daemon=True).start()


def _ours(task) -> bool:
    """A task whose coroutine is project code (this wrapper included), not a library's own
    background loop (channels-redis readers, Twisted, daphne)."""
    code = getattr(task.get_coro(), "cr_code", None)
    name = code.co_filename if code else ""
    return name.startswith(str(ROOT)) and not name.startswith(VENV) and "site-packages" not in name


def _forget() -> None:
    from django.conf import settings
    from django.contrib.contenttypes.models import ContentType

    from conversations import presence
    from knowledge import selectors as kb_selectors
    from merchants.selectors import merchant_webhook_kinds_forget

    merchant_webhook_kinds_forget()
    with kb_selectors._engines_lock:
        kb_selectors._engines.clear()
    kb_selectors._stale_seen.clear()
    ContentType.objects.clear_cache()
    if not settings.REDIS_URL:
        presence.reset_store()  # the in-memory store; Redis keys go with their sockets


async def _settle(send) -> None:
    from conversations.consumers.housekeeping import WATCHDOG

    me = asyncio.current_task()
    # The watchdog sleeps a tick after its last socket left; the sockets themselves are counted.
    busy = sum(
        1
        for task in asyncio.all_tasks()
        if task is not me and task.get_name() != WATCHDOG and _ours(task)
    )
    if busy == 0:
        _forget()
    body = json.dumps({"busy": busy}).encode()
    headers = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def application(scope, receive, send):
    if scope["type"] == "http" and scope["path"] == PATH:
        await _settle(send)
        return
    await product(scope, receive, send)
