"""The post-commit step for stored visitor messages (conversations.pipeline): exactly once per
stored message, also when two runners race on one conversation; in seq order per conversation;
off the consumer's database thread, so a slow bot turn does not hold up another visitor's ack;
after a kill -9 between the commit and the step, the beat sweep (a real Celery worker) handles
the message once. The bot's engine is a stand-in that records what it was asked and may sleep,
so these tests need no trained knowledge base."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
import threading
import time

import pytest
import websockets
from django.db import close_old_connections

from conversations import pipeline, services
from conversations.models import Conversation, Message, RoutingEvent
from conversations.tokens import visitor_token_issue
from kefu.processes import stop_processes
from knowledge import selectors as kb_selectors
from knowledge.models import Faq
from knowledge.nlp.engine import Candidate
from merchants.models import Merchant
from tests import factories
from tests.conftest import ROOT, child_env, free_port, require_mysql, wait_for_http
from tests.conversations.realtime_helpers import fresh_realtime, run, visitor_sock  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

QUESTIONS = ["q1", "q2", "q3", "q4"]


class RecordingEngine:
    """Answers "qN" with FAQ N at full confidence after `delay` seconds; records every text it
    is asked about, from whichever thread asks."""

    def __init__(self, faqs: dict[str, Faq], delay: float = 0.0):
        self.faqs, self.delay = faqs, delay
        self.asked: list[str] = []
        self.lock = threading.Lock()

    def answer(self, text: str, k: int = 5) -> list[Candidate]:
        with self.lock:
            self.asked.append(text)
        time.sleep(self.delay)
        faq = self.faqs.get(text)
        return [Candidate("faq", faq.pk, faq.question, 0.99)] if faq else []

    def questions_asked(self) -> list[str]:
        return [text for text in self.asked if text in self.faqs]


@pytest.fixture
def shop(acme, monkeypatch):
    """Acme with the bot answering first and a RecordingEngine as its knowledge base."""
    Merchant.objects.filter(pk=acme.pk).update(bot_mode=Merchant.BotMode.BOT_FIRST)
    acme.refresh_from_db()
    faqs = {
        q: Faq.objects.create(merchant=acme, question=f"问题 {q}", answer=f"answer {q}")
        for q in QUESTIONS
    }
    acme.engine = RecordingEngine(faqs)
    monkeypatch.setattr(
        kb_selectors,
        "engine_for",
        lambda *, merchant_id: acme.engine if merchant_id == acme.pk else None,
    )
    return acme


def store_without_step(visitor, bodies) -> Conversation:
    """Store visitor messages as a consumer's batch does, the step collected and not run."""
    with pipeline.collecting() as collected:
        for body in bodies:
            services.message_send_by_visitor(
                merchant_id=visitor.merchant_id,
                visitor_id=visitor.pk,
                client_msg_id=f"c-{body}",
                body=body,
            )
    conversation = Conversation.objects.get(visitor=visitor)
    assert collected == [(visitor.merchant_id, conversation.pk)]
    return conversation


def bot_bodies(conversation: Conversation) -> list[str]:
    return list(
        conversation.messages.filter(sender_kind="bot")
        .order_by("seq")
        .values_list("body", flat=True)
    )


def test_two_runners_racing_on_one_conversation_handle_each_message_once_in_order(shop):
    require_mysql()  # the row lock is what serialises them (SQLite has no FOR UPDATE)
    shop.engine.delay = 0.2  # a turn long enough for the other runner to arrive meanwhile
    visitor = factories.visitor(shop)
    conversation = store_without_step(visitor, QUESTIONS)
    assert conversation.pipeline_seq == 0 and conversation.pipeline_pending_since is not None
    assert not bot_bodies(conversation)

    handled, errors = [], []
    start = threading.Barrier(2)

    def runner():
        try:
            start.wait()
            handled.append(
                pipeline.visitor_messages_process(
                    merchant_id=shop.pk, conversation_id=conversation.pk
                )
            )
        except Exception as exc:
            errors.append(exc)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=runner) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert len(handled) == 2 and sum(handled) == len(QUESTIONS)  # both ran, none twice
    assert shop.engine.questions_asked() == QUESTIONS  # each once, in seq order
    conversation.refresh_from_db()
    assert bot_bodies(conversation) == [f"answer {q}" for q in QUESTIONS]
    # Visitor messages first (stored before the step), then one answer each, in their order.
    kinds = list(conversation.messages.order_by("seq").values_list("sender_kind", flat=True))
    assert kinds == ["visitor"] * 4 + ["bot"] * 4
    assert conversation.pipeline_seq == conversation.last_seq == 8
    assert conversation.pipeline_pending_since is None
    # A third run, late (a sweep, a retried signal): nothing left to do.
    assert (
        pipeline.visitor_messages_process(merchant_id=shop.pk, conversation_id=conversation.pk) == 0
    )
    assert pipeline.visitor_messages_sweep() == 0
    assert len(bot_bodies(conversation)) == 4


def test_messages_sent_back_to_back_are_answered_once_each_in_order(shop):
    shop.engine.delay = 0.2  # later sends are stored while the first turn runs
    visitor = factories.visitor(shop)

    async def scenario():
        sock = await visitor_sock(shop, visitor)
        for q in QUESTIONS:
            await sock.send({"type": "message.send", "client_msg_id": f"c-{q}", "body": q})
        answers = []
        while len(answers) < len(QUESTIONS):
            frame = await sock.until("message.created", timeout=10)
            if frame["message"]["sender_kind"] == "bot":
                answers.append(frame["message"])
        rest = await sock.drain()
        await sock.close()
        return answers, rest

    answers, rest = run(scenario())
    assert [a["body"] for a in answers] == [f"answer {q}" for q in QUESTIONS]
    assert [a["seq"] for a in answers] == sorted(a["seq"] for a in answers)
    assert not [
        f for f in rest if f["type"] == "message.created" and f["message"]["sender_kind"] == "bot"
    ]
    assert shop.engine.questions_asked() == QUESTIONS
    conversation = Conversation.objects.get(visitor=visitor)
    assert bot_bodies(conversation) == [f"answer {q}" for q in QUESTIONS]
    assert conversation.pipeline_seq == conversation.last_seq
    assert conversation.pipeline_pending_since is None


def test_a_slow_bot_turn_does_not_delay_another_visitors_ack(shop, other):
    require_mysql()  # the step's own threads (PIPELINE_THREADS; 0 with SQLite)
    shop.engine.delay = 1.0
    asker = factories.visitor(shop)
    bystander = factories.visitor(other)  # another merchant's visitor in the same process

    async def scenario():
        slow = await visitor_sock(shop, asker, "asker")
        quick = await visitor_sock(other, bystander, "bystander")
        sent = time.monotonic()
        await slow.send({"type": "message.send", "client_msg_id": "a1", "body": "q1"})
        await asyncio.sleep(0.05)  # the bot's turn has started by now
        quick_sent = time.monotonic()
        await quick.send({"type": "message.send", "client_msg_id": "b1", "body": "你好"})
        await quick.until("message.ack")
        quick_ack = time.monotonic() - quick_sent
        await slow.until("message.ack")
        slow_ack = time.monotonic() - sent
        answer = await slow.until("message.created", timeout=10)
        while answer["message"]["sender_kind"] != "bot":
            answer = await slow.until("message.created", timeout=10)
        answered = time.monotonic() - sent
        await slow.close()
        await quick.close()
        return quick_ack, slow_ack, answered, answer

    quick_ack, slow_ack, answered, answer = run(scenario())
    print(
        f"\nbystander ack {quick_ack * 1000:.0f} ms, asker ack {slow_ack * 1000:.0f} ms, "
        f"bot answer {answered * 1000:.0f} ms (engine sleeps 1000 ms)"
    )
    assert answer["message"]["body"] == "answer q1"
    assert answered >= 1.0
    # Neither ack waits for the bot: before the step left the database thread, both came
    # after the 1 s turn.
    assert slow_ack < 0.5
    assert quick_ack < 0.5


def test_a_batch_of_several_conversations_gets_one_step_per_message_in_order(shop):
    """Messages stored together by the multi-row batch path (services.store.message_append_many),
    several per conversation: the step is told once per conversation, after the batch's frames,
    and handles every message once, in seq order, whichever way it is run after that."""
    from conversations import batching

    asker, other = factories.visitor(shop), factories.visitor(shop)
    for v in (asker, other):  # each starts its conversation; the bot takes it
        factories.visitor_message(v, "你好", client_msg_id=f"hi-{v.pk}")
    conversations = [Conversation.objects.get(visitor=v) for v in (asker, other)]
    assert all(c.bot_active and c.pipeline_seq == c.last_seq for c in conversations)
    base = [c.last_seq for c in conversations]
    sends = [
        {"merchant_id": shop.pk, "visitor_id": v.pk, "client_msg_id": f"{v.pk}-{q}", "body": q}
        for v, q in [(asker, "q1"), (other, "q3"), (asker, "q2"), (other, "q4")]
    ]
    results, events, steps = batching._store(sends)
    assert all(isinstance(r, tuple) and r[1] for r in results)
    assert sorted(steps) == sorted((shop.pk, c.pk) for c in conversations)  # once each
    # Stored, acknowledged, and not yet seen by the step: the pointer waits before them.
    for c, first in zip(conversations, base):
        c.refresh_from_db()
        assert c.last_seq == first + 2 and c.pipeline_seq == first
        assert c.pipeline_pending_since is not None
    # The step runs twice for one conversation (the runner's own run and a late one: a sweep, a
    # second process) and once for the other: each message once, in order.
    for merchant_id, conversation_id in steps + steps[:1]:
        pipeline.visitor_messages_process(merchant_id=merchant_id, conversation_id=conversation_id)
    assert sorted(shop.engine.questions_asked()) == ["q1", "q2", "q3", "q4"]
    assert [q for q in shop.engine.questions_asked() if q in ("q1", "q2")] == ["q1", "q2"]
    assert [q for q in shop.engine.questions_asked() if q in ("q3", "q4")] == ["q3", "q4"]
    for c, answers in zip(conversations, (["q1", "q2"], ["q3", "q4"])):
        c.refresh_from_db()
        assert bot_bodies(c)[-2:] == [f"answer {q}" for q in answers]
        assert c.pipeline_seq == c.last_seq and c.pipeline_pending_since is None
    assert pipeline.visitor_messages_sweep(now=_later(60)) == 0


def _later(seconds: int):
    from django.utils import timezone

    return timezone.now() + _seconds(seconds)


def test_fast_path_messages_move_the_pointer_so_the_sweep_never_sees_them(acme, bob):
    visitor = factories.visitor(acme)
    first = factories.visitor_message(visitor, "你好")
    conversation = Conversation.objects.get(pk=first.conversation_id)
    assert conversation.queued_at is not None  # the step ran (inline): the router queued it
    assert conversation.pipeline_seq == conversation.last_seq == 1
    factories.agent_message(bob, conversation.pk, "您好")  # claims it by replying
    with pipeline.collecting() as collected:
        factories.visitor_message(visitor, "在吗")  # assigned, ongoing: no step needed
    assert collected == []
    conversation.refresh_from_db()
    # 1 visitor, 2 "Bob joined" (his reply claimed it), 3 the reply, 4 the visitor.
    assert conversation.pipeline_seq == conversation.last_seq == 4
    assert conversation.pipeline_pending_since is None
    assert pipeline.visitor_messages_sweep() == 0


def test_sweep_leaves_a_message_alone_within_the_grace_period(acme):
    visitor = factories.visitor(acme)
    conversation = store_without_step(visitor, ["你好"])
    assert pipeline.visitor_messages_sweep() == 0  # the live runner normally gets there first
    assert not RoutingEvent.objects.filter(conversation=conversation).exists()
    later = conversation.pipeline_pending_since + _seconds(31)
    assert pipeline.visitor_messages_sweep(now=later) == 1
    conversation.refresh_from_db()
    assert conversation.queued_at is not None and conversation.pipeline_pending_since is None
    assert RoutingEvent.objects.filter(conversation=conversation).count() == 1


def _step_statements(merchant_id: int, conversation_id: int) -> tuple[int, int]:
    """(messages the step handed to the bot or router, SQL statements it ran)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        handled = pipeline.visitor_messages_process(
            merchant_id=merchant_id, conversation_id=conversation_id
        )
    return handled, len(queries)


def test_messages_stored_before_routing_cost_the_step_nothing_once_it_is_assigned(
    acme, bob, online
):
    """A burst of new conversations (400 visitors writing at once: the full benchmark's first
    messages) is routed by the step after the acks, so a visitor's next messages are stored
    while the first still waits for the router. Once the step has assigned the conversation,
    those later messages need neither the bot nor the router: the pointer moves past all of
    them at once. Before, each got a transaction of its own (row lock, pending read, the bot's
    and the router's reads, the pointer), and the full benchmark ran 12.7 statements per
    message at 100 msg/s instead of 6-7, its p99 80 times the quick run's, while that backlog
    took the processes' CPU from their consumers (docs/performance.md, "Latest run")."""
    online(bob)
    steps = {}
    for waiting in (1, 2, 12):
        visitor = factories.visitor(acme)
        conversation = store_without_step(visitor, [f"m{i}" for i in range(waiting)])
        assert conversation.pipeline_seq == 0 and conversation.last_seq == waiting
        steps[waiting] = _step_statements(acme.pk, conversation.pk)
        conversation.refresh_from_db()
        assert conversation.assignee_id == bob.user_id  # routed once, on the first message
        assert RoutingEvent.objects.filter(conversation=conversation).count() == 1
        # Every message passed: the later ones and the router's "joined" line.
        assert conversation.pipeline_seq == conversation.last_seq == waiting + 1
        assert conversation.pipeline_pending_since is None
    assert [handled for handled, _ in steps.values()] == [1, 1, 1]
    # Messages stored after the first cost one transaction in all (begin, the lock, the
    # pointer, commit), not five or six statements each: the same with 1 or 11 of them. (The
    # first transaction is the routing's own; with nothing after it there is no second.)
    assert steps[12][1] == steps[2][1] <= steps[1][1] + 4, steps
    assert pipeline.visitor_messages_sweep(now=_later(60)) == 0


def test_a_reopening_message_among_the_waiting_ones_still_goes_to_the_router(acme, bob, online):
    """Passing over waiting messages stops at one that reopened the conversation: the router
    records the reopening and routes it again (sticky to bob)."""
    from conversations.services.assignment import conversation_set_status

    online(bob)
    visitor = factories.visitor(acme)
    first = factories.visitor_message(visitor, "你好")
    conversation = Conversation.objects.get(pk=first.conversation_id)
    assert conversation.assignee_id == bob.user_id
    conversation_set_status(
        merchant_id=acme.pk,
        conversation_id=conversation.pk,
        actor_user_id=bob.user_id,
        status=Conversation.Status.RESOLVED,
    )
    conversation = store_without_step(visitor, ["又来了", "还在吗"])
    assert conversation.pipeline_seq < conversation.pipeline_reopened_seq <= conversation.last_seq
    handled, _ = _step_statements(acme.pk, conversation.pk)
    assert handled == 1  # the reopening message; the one after it is passed over
    conversation.refresh_from_db()
    kinds = list(
        RoutingEvent.objects.filter(conversation=conversation)
        .order_by("pk")
        .values_list("kind", flat=True)
    )
    assert RoutingEvent.Kind.REOPENED in kinds and kinds[-1] == RoutingEvent.Kind.ASSIGNED, kinds
    assert conversation.assignee_id == bob.user_id
    assert conversation.pipeline_seq == conversation.last_seq
    assert conversation.pipeline_pending_since is None


def _seconds(n: int):
    from datetime import timedelta

    return timedelta(seconds=n)


# --- Restart ------------------------------------------------------------------------------------


class HeldDaphne:
    """A real daphne serving tests/conversations/pipeline_held_asgi.py: the step waits a minute
    before it starts, so the test can kill the process after the commit and before the step."""

    def __init__(self, log_path):
        self.port = free_port()
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(self.port),
                "tests.conversations.pipeline_held_asgi:application",
            ],
            cwd=ROOT,
            env=child_env(HOLD_PIPELINE_SECONDS="60"),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        wait_for_http(f"http://127.0.0.1:{self.port}/healthz", proc=self.proc)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._log.close()

    def stop(self) -> None:
        """Killed if still running (a test's `finally`)."""
        if self.proc.poll() is None:
            self.kill()
        else:
            stop_processes([self.proc])

    async def visitor_sends(self, merchant, visitor, last_seq: int, bodies: list[str]) -> list:
        """The visitor's socket sends `bodies` without waiting between them (each its own
        client_msg_id) and returns their `message.ack` frames."""
        async with websockets.connect(
            f"ws://127.0.0.1:{self.port}/ws/visitor/?key={merchant.widget_key}",
            origin="http://127.0.0.1",
        ) as ws:
            token = visitor_token_issue(merchant_id=merchant.pk, visitor_id=visitor.pk)
            await ws.send(json.dumps({"type": "auth", "token": token, "last_seq": last_seq}))
            for client_msg_id, body in bodies:
                await ws.send(
                    json.dumps(
                        {"type": "message.send", "client_msg_id": client_msg_id, "body": body}
                    )
                )
            acks = []
            while len(acks) < len(bodies):
                frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if frame["type"] == "message.ack":
                    acks.append(frame)
            return acks

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def test_kill_9_before_the_step_then_the_sweep_handles_the_message_once(
    acme, tmp_path, start_celery_worker
):
    visitor = factories.visitor(acme)
    server = HeldDaphne(tmp_path / "daphne.log")
    try:
        [ack] = asyncio.run(server.visitor_sends(acme, visitor, 0, [("k1", "有人吗")]))
        time.sleep(0.3)  # the step is now held in the runner, after the commit
    finally:
        server.stop()
    assert ack["message"]["seq"] == 1, server.log()
    conversation = Conversation.objects.get(visitor=visitor)
    # Stored and acknowledged; the process died before its step: nobody routed it.
    assert Message.objects.filter(conversation=conversation).count() == 1
    assert conversation.pipeline_seq == 0 and conversation.pipeline_pending_since is not None
    assert conversation.queued_at is None
    assert not RoutingEvent.objects.filter(conversation=conversation).exists()

    worker = start_celery_worker(PIPELINE_SWEEP_GRACE="0")

    def sweep_results() -> list[int]:
        """What each finished pipeline_sweep task returned (messages it handled)."""
        return [
            int(n)
            for n in re.findall(
                r"pipeline_sweep\[[^\]]+\] succeeded in [\d.]+s: (\d+)", worker.log()
            )
        ]

    pipeline.pipeline_sweep.delay()
    worker.wait_for(lambda: len(sweep_results()) == 1, 30, "the sweep did not run")
    pipeline.pipeline_sweep.delay()  # again: nothing left to do
    worker.wait_for(lambda: len(sweep_results()) == 2, 30, "the second sweep did not run")
    assert sweep_results() == [1, 0]
    conversation.refresh_from_db()
    assert conversation.queued_at is not None
    assert conversation.pipeline_seq == conversation.last_seq == 1
    assert conversation.pipeline_pending_since is None
    assert list(
        RoutingEvent.objects.filter(conversation=conversation).values_list("kind", flat=True)
    ) == [RoutingEvent.Kind.QUEUED]


def test_kill_9_after_a_batch_then_the_sweep_answers_each_message_once_in_order(shop, tmp_path):
    """Several visitors' messages stored together (the multi-row batch path), acknowledged,
    then the process killed before its step: after the restart, the sweep (run here, where the
    recording engine answers) handles every message once, in order per conversation."""
    # The held step must not sit in the database thread (PIPELINE_THREADS is 0 with SQLite).
    require_mysql()
    visitors = [factories.visitor(shop) for _ in range(2)]
    for v in visitors:  # conversations the bot owns, so the next messages need the step
        factories.visitor_message(v, "你好", client_msg_id=f"hi-{v.pk}")
    questions = {visitors[0].pk: ["q1", "q2"], visitors[1].pk: ["q3", "q4"]}
    server = HeldDaphne(tmp_path / "daphne.log")
    try:

        async def both():
            # Sent without waiting for acks, so each visitor's two are stored together.
            return await asyncio.gather(
                *(
                    server.visitor_sends(shop, v, 1, [(q, q) for q in questions[v.pk]])
                    for v in visitors
                )
            )

        acks = [[frame["message"]["seq"] for frame in sent] for sent in asyncio.run(both())]
        time.sleep(0.3)  # the step is now held in the runner, after the commit
    finally:
        server.stop()
    assert acks == [[3, 4], [3, 4]], server.log()  # after the greeting the bot sent
    conversations = [Conversation.objects.get(visitor=v) for v in visitors]
    for c in conversations:  # stored and acknowledged; nobody answered
        assert c.last_seq == 4 and c.pipeline_seq == 2 and c.pipeline_pending_since is not None
    assert shop.engine.questions_asked() == []
    assert pipeline.visitor_messages_sweep(now=_later(60)) == 4
    assert pipeline.visitor_messages_sweep(now=_later(60)) == 0  # again: nothing left
    for c, v in zip(conversations, visitors):
        c.refresh_from_db()
        assert bot_bodies(c)[-2:] == [f"answer {q}" for q in questions[v.pk]]
        assert c.pipeline_seq == c.last_seq and c.pipeline_pending_since is None
    asked = shop.engine.questions_asked()
    assert sorted(asked) == ["q1", "q2", "q3", "q4"]
    assert asked.index("q1") < asked.index("q2") and asked.index("q3") < asked.index("q4")


# --- Failures -----------------------------------------------------------------------------------


def test_a_database_error_leaves_the_message_for_a_retry(acme, monkeypatch):
    from django.db import OperationalError

    visitor = factories.visitor(acme)
    conversation = store_without_step(visitor, ["你好"])
    real = pipeline._bot_or_router

    def deadlocked(**kwargs):
        raise OperationalError(1213, "Deadlock found when trying to get lock")

    monkeypatch.setattr(pipeline, "_bot_or_router", deadlocked)
    assert (
        pipeline.visitor_messages_process(merchant_id=acme.pk, conversation_id=conversation.pk) == 0
    )
    conversation.refresh_from_db()
    assert conversation.pipeline_seq == 0 and conversation.pipeline_pending_since is not None
    monkeypatch.setattr(pipeline, "_bot_or_router", real)
    later = conversation.pipeline_pending_since + _seconds(31)
    assert pipeline.visitor_messages_sweep(now=later) == 1  # the retry routes it, once
    conversation.refresh_from_db()
    assert conversation.queued_at is not None
    assert conversation.pipeline_seq == 1 and conversation.pipeline_pending_since is None


def test_a_bug_is_logged_and_passed_over_so_later_messages_still_get_their_step(
    shop, monkeypatch, caplog
):
    visitor = factories.visitor(shop)
    conversation = store_without_step(visitor, ["q1", "q2"])
    real = pipeline._bot_or_router

    def broken_once(**kwargs):
        if kwargs["message_id"] == first_id:
            raise RuntimeError("bug")
        return real(**kwargs)

    first_id = conversation.messages.get(seq=1).pk
    monkeypatch.setattr(pipeline, "_bot_or_router", broken_once)
    assert (
        pipeline.visitor_messages_process(merchant_id=shop.pk, conversation_id=conversation.pk) == 1
    )
    assert "post-commit step failed" in caplog.text
    conversation.refresh_from_db()
    assert conversation.pipeline_seq == conversation.last_seq
    assert conversation.pipeline_pending_since is None
    # q1's turn never happened; q2 (not the conversation's first message) went to the router.
    assert shop.engine.questions_asked() == []
    assert conversation.queued_at is not None


def test_a_step_after_its_loop_stopped_stores_its_work_and_waits_for_nothing(
    shop, monkeypatch, caplog
):
    """At shutdown the step can finish after its process's event loop stopped: what it stored
    stays stored, and its events are not handed to a loop that will never send them (the thread
    waited PUBLISH_TIMEOUT, then logged a failure, and the process's exit waited for it)."""
    monkeypatch.setattr(pipeline, "PUBLISH_TIMEOUT", 0.5)
    visitor = factories.visitor(shop)
    conversation = store_without_step(visitor, ["q1"])
    stopped = asyncio.new_event_loop()  # not running, not closed: a loop between stop and close
    try:
        pipeline._in_executor_thread(shop.pk, conversation.pk, stopped)
    finally:
        stopped.close()
    assert "publishing the post-commit step's events failed" not in caplog.text
    assert f"events of conversation {conversation.pk} not sent" in caplog.text
    conversation.refresh_from_db()
    assert bot_bodies(conversation) == ["answer q1"]
    assert conversation.pipeline_seq == conversation.last_seq == 2
