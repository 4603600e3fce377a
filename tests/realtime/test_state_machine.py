"""A visitor and an agent, as real WebSocket clients against one real daphne process, driven by
Hypothesis through random interleavings of sends, retries, cut connections and reconnects.

After every step: the database holds each client_msg_id once with seqs 1..N and no gaps; each
client shows every seq at most once, in increasing order, and only a prefix of what it may
see (the visitor never a private note); a connected client shows, once settled, exactly what is
stored. At the end both reconnect and show exactly what is stored, and everything each person
sent is stored once.
"""

from __future__ import annotations

import asyncio
import copy
import threading
import time

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from conversations.models import Conversation, Message
from tests.realtime.clients import AgentClient, VisitorClient, bootstrap, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

# Trimmed, as the front ends send them (the server stores the trimmed body).
BODIES = (
    st.text(alphabet="你好订单退款谢谢 abcXYZ019😀", min_size=1, max_size=12)
    .map(str.strip)
    .filter(bool)
)
SETTLE_SECONDS = 10


class Loop:
    """One event loop in a thread for all clients; Hypothesis's steps are synchronous."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro, timeout: float = 30):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def wait(self, predicate, what: str, timeout: float = SETTLE_SECONDS):
        return self.run(wait_until(predicate, timeout, what), timeout + 5)

    def close(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


def chat_machine(server, shop, loop: Loop, stats: dict):
    merchant_id, cookie = shop["merchant"].pk, shop["cookie"]

    class Chat(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            boot = bootstrap(server.url, shop["key"])
            self.visitor = VisitorClient([server.ws_url], boot, name="v")
            self.visitor_id, self._conversation = boot["visitor_id"], None
            # Earlier examples' conversations stay in the store, and the agent's socket is
            # merchant-wide: when bob comes online the queue may hand him one of them (a
            # "Bob joined" line he is right to show), so only those are allowed besides ours.
            self.earlier = set(Conversation.objects.values_list("pk", flat=True))
            self.agent = AgentClient([server.ws_url], merchant_id, cookie, name="a")
            loop.run(self.visitor.connect())
            loop.run(self.agent.connect())
            # The model: what must be true whatever the timing. Preconditions read only this
            # (Hypothesis replays rule choices, so they must not depend on races), and an
            # invariant checks the clients agree with it.
            self.online = {"v": True, "a": True}
            self.acked = {"v": [], "a": []}  # ids whose ack a rule waited for
            self.started = False  # a visitor message is surely stored
            stats["examples"] += 1

        # --- helpers ----------------------------------------------------------------------

        @property
        def conversation(self) -> int | None:
            # From the database: a message can be stored before its sender hears of it.
            if self._conversation is None:
                self._conversation = (
                    Conversation.objects.filter(visitor_id=self.visitor_id)
                    .values_list("pk", flat=True)
                    .first()
                )
            return self._conversation

        def follow(self) -> None:
            if self.conversation is not None:
                loop.run(self.agent.open_conversation(self.conversation))

        def rows(self) -> list[Message]:
            if self.conversation is None:
                return []
            return list(Message.objects.filter(conversation_id=self.conversation).order_by("seq"))

        def settle_sent(self, client, client_msg_id: str) -> None:
            if self.online[client.name]:
                loop.wait(lambda: client_msg_id in client.acks, f"ack of {client_msg_id}")
                self.acked[client.name].append(client_msg_id)

        def send_again(self, client, data) -> None:
            client_msg_id = data.draw(st.sampled_from(self.acked[client.name]))
            before = client.duplicate_acks
            loop.run(client.send_again(client_msg_id))
            loop.wait(lambda: client.duplicate_acks > before, "the duplicate ack")
            # The retry is answered with the original message, marked as a duplicate.
            again = [
                f
                for f in client.frames
                if f["type"] == "message.ack"
                and f["client_msg_id"] == client_msg_id
                and f["duplicate"]
            ]
            assert again and again[-1]["message"] == client.acks[client_msg_id]
            stats["retries"] += 1

        # --- visitor ----------------------------------------------------------------------

        @rule(body=BODIES)
        def visitor_send(self, body):
            client_msg_id = loop.run(self.visitor.send(body))
            self.settle_sent(self.visitor, client_msg_id)
            self.started |= self.online["v"]
            self.follow()

        @precondition(lambda self: self.online["v"] and self.acked["v"])
        @rule(data=st.data())
        def visitor_send_again(self, data):
            self.send_again(self.visitor, data)

        @precondition(lambda self: self.online["v"])
        @rule(clean=st.booleans())
        def visitor_disconnect(self, clean):
            loop.run(self.visitor.leave() if clean else self.visitor.cut())
            self.online["v"] = False

        @precondition(lambda self: self.online["v"])
        @rule(body=BODIES)
        def visitor_send_then_cut(self, body):
            """The connection dies right after message.send left, before the ack."""

            async def go():
                await self.visitor.send(body)
                await self.visitor.cut()

            loop.run(go())
            self.online["v"] = False
            stats["cut_mid_send"] += 1

        @precondition(lambda self: not self.online["v"])
        @rule()
        def visitor_reconnect(self):
            loop.run(self.visitor.connect())
            self.online["v"] = True
            loop.wait(lambda: not self.visitor.outbox, "the visitor's outbox to drain")
            self.started |= bool(self.visitor.sent)
            self.follow()
            stats["reconnects"] += 1

        # --- agent ------------------------------------------------------------------------

        @precondition(lambda self: self.started)
        @rule(body=BODIES, private=st.booleans())
        def agent_send(self, body, private):
            self.follow()
            client_msg_id = loop.run(
                self.agent.send(body, conversation_id=self.conversation, private=private)
            )
            self.settle_sent(self.agent, client_msg_id)
            stats["notes"] += private

        @precondition(lambda self: self.online["a"] and self.acked["a"])
        @rule(data=st.data())
        def agent_send_again(self, data):
            self.send_again(self.agent, data)

        @precondition(lambda self: self.online["a"])
        @rule(clean=st.booleans())
        def agent_disconnect(self, clean):
            loop.run(self.agent.leave() if clean else self.agent.cut())
            self.online["a"] = False

        @precondition(lambda self: self.online["a"] and self.started)
        @rule(body=BODIES)
        def agent_send_then_cut(self, body):
            async def go():
                await self.agent.send(body, conversation_id=self.conversation)
                await self.agent.cut()

            loop.run(go())
            self.online["a"] = False
            stats["cut_mid_send"] += 1

        @precondition(lambda self: not self.online["a"])
        @rule()
        def agent_reconnect(self):
            loop.run(self.agent.connect())
            self.online["a"] = True
            loop.wait(lambda: not self.agent.outbox, "the agent's outbox to drain")
            stats["reconnects"] += 1

        # --- invariants -------------------------------------------------------------------

        @invariant()
        def sockets_stay_up_unless_cut(self):
            assert (self.visitor.ready, self.agent.ready) == (self.online["v"], self.online["a"])

        @invariant()
        def store_holds_each_message_once(self):
            acked = [set(ids) for ids in self.copy(lambda: (self.visitor.acks, self.agent.acks))]
            rows = self.rows()  # after the acks: an ack is only sent after its commit
            assert [m.seq for m in rows] == list(range(1, len(rows) + 1))
            # System lines ("Bob joined") take seqs but nobody sent them.
            rows = [m for m in rows if m.kind != "event"]
            keys = [(m.sender_key, m.client_msg_id) for m in rows]
            assert len(keys) == len(set(keys)), "a client_msg_id was stored twice"
            for m in rows:
                client = self.visitor if m.sender_kind == "visitor" else self.agent
                frame = client.sent[m.client_msg_id]
                assert (m.body, m.is_private) == (frame["body"], frame.get("private", False))
            stored = {m.client_msg_id for m in rows}
            assert acked[0] <= stored and acked[1] <= stored

        @invariant()
        def views_are_gap_free_and_complete(self):
            self.check_views()

        def copy(self, read):
            """A copy of client state, taken on the clients' loop (they change it there)."""

            async def take():
                return copy.deepcopy(read())

            return loop.run(take())

        def check_views(self, all_ready: bool = False):
            self.follow()  # the workspace's inbox lists every conversation (REST, on ready)
            for client in (self.visitor, self.agent):
                settled = self.online[client.name] or all_ready
                deadline = time.monotonic() + SETTLE_SECONDS
                while True:
                    # The client first, then the database: whatever a client shows was
                    # committed before it was shown, so it must be in the rows read after.
                    shown = self.copy(lambda c=client: c.shown)
                    conversation = self.conversation
                    rows = self.rows()
                    visible = [m.seq for m in rows if client is self.agent or not m.is_private]
                    seqs = sorted(shown.get(conversation, {}))
                    if settled:  # connected: everything stored, once settled
                        ok = seqs == visible
                    else:  # offline: a prefix, without holes
                        ok = seqs == [s for s in visible if s <= max(seqs or [0])]
                    if ok or time.monotonic() > deadline:
                        break
                    time.sleep(0.01)
                assert ok, (
                    f"{client.name} shows {seqs} of conversation {conversation}, "
                    f"stored {visible}; errors {client.errors[-3:]}"
                )
                allowed = {conversation} | (self.earlier if client is self.agent else set())
                assert set(shown) <= allowed, f"{client.name} shows other conversations"
                assert not client.violations, client.violations
                log = [seq for c, seq in self.copy(lambda c=client: c.log) if c == conversation]
                assert log == sorted(set(log)), f"{client.name} showed {log}"
                by_seq = {m.seq: m for m in rows}
                for seq, message in shown.get(conversation, {}).items():
                    assert (message["id"], message["body"]) == (by_seq[seq].pk, by_seq[seq].body)

        def teardown(self):
            try:
                for client in (self.visitor, self.agent):
                    if not client.ready:
                        loop.run(client.connect())
                for client in (self.visitor, self.agent):
                    loop.wait(lambda c=client: not c.outbox, f"{client.name}'s outbox to drain")
                self.follow()
                self.check_views(all_ready=True)
                stored = {
                    (m.sender_kind, m.client_msg_id) for m in self.rows() if m.kind != "event"
                }
                sent = {(c.sender_kind, i) for c in (self.visitor, self.agent) for i in c.sent}
                assert stored == sent, "sent and stored differ"
                stats["messages"] += len(stored)
                stats["duplicates_dropped"] += self.visitor.duplicates + self.agent.duplicates
                stats["filled"] += self.visitor.filled
                stats["gap_resumes"] += self.agent.gap_resumes
            finally:
                loop.run(self.visitor.close())
                loop.run(self.agent.close())

    return Chat


@pytest.mark.cost(60)  # tests/conftest.py, estimated_seconds
def test_random_interleavings_lose_nothing_and_show_nothing_twice(servers, shop, layer_url):
    # The rate limit is tested on its own (test_sockets); here it would only add retries.
    server = servers.start(layer_url, WS_RATE_PER_SECOND="1000", WS_RATE_BURST="1000")
    loop = Loop()
    stats = dict.fromkeys(
        (
            "examples",
            "messages",
            "notes",
            "retries",
            "reconnects",
            "cut_mid_send",
            "duplicates_dropped",
            "filled",
            "gap_resumes",
        ),
        0,
    )
    try:
        run_state_machine_as_test(
            chat_machine(server, shop, loop, stats),
            # No shrinking: every failing step waits SETTLE_SECONDS, so shrinking would outlast
            # the test timeout; the failing run's steps are printed as they are.
            settings=settings(
                max_examples=30,
                stateful_step_count=30,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
                phases=[Phase.explicit, Phase.generate],
            ),
        )
    finally:
        loop.close()
    print(f"\nstate machine ({'redis' if layer_url else 'in-memory'} layer): {stats}")
    # The run exercised what it claims to (Hypothesis could in principle pick no cuts).
    assert stats["examples"] >= 30 and stats["messages"] > 100
    assert stats["reconnects"] > 5 and stats["cut_mid_send"] > 0 and stats["retries"] > 0
