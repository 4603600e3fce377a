"""The guarantees, as one check shared by the realtime tests (docs/realtime.md)."""

from __future__ import annotations

from asgiref.sync import sync_to_async

from conversations.models import Message
from tests.realtime.clients import AgentClient, VisitorClient, wait_until


def stored_rows(conversation_id: int) -> list[Message]:
    return list(Message.objects.filter(conversation_id=conversation_id).order_by("seq"))


async def settle_and_check(
    conversation_id: int,
    visitors: list[VisitorClient],
    agents: list[AgentClient],
    timeout: float = 20,
) -> list[Message]:
    """Wait until every outbox is empty and every client shows what is stored, then check:
    sent = stored = shown, each message stored once and shown once, seqs 1..N without gaps,
    shown in seq order, private notes never at a visitor."""
    clients = [*visitors, *agents]
    await wait_until(lambda: all(not c.outbox for c in clients), timeout, "outboxes to drain")
    rows = await sync_to_async(stored_rows)(conversation_id)
    every = [m.seq for m in rows]
    visible = [m.seq for m in rows if not m.is_private]
    for client in visitors:
        await wait_until(
            lambda c=client: c.seqs(conversation_id) == visible,
            timeout,
            f"{client.name} to show the {len(visible)} visible messages",
        )
    for client in agents:
        await wait_until(
            lambda c=client: c.seqs(conversation_id) == every,
            timeout,
            f"{client.name} to show all {len(every)} messages",
        )

    assert every == list(range(1, len(rows) + 1)), "seqs have gaps"
    # System lines ("Bob joined": conversations/system_lines.py) take seqs and are shown like
    # messages, but nobody sent them: the sent = stored check is about what people wrote.
    written = [m for m in rows if m.kind != "event"]
    keys = [(m.sender_key, m.client_msg_id) for m in written]
    assert len(keys) == len(set(keys)), "a client_msg_id is stored twice"
    sent = {
        (c.sender_kind, i, f["body"], f.get("private", False))
        for c in clients
        for i, f in c.sent.items()
    }
    stored = {(m.sender_kind, m.client_msg_id, m.body, m.is_private) for m in written}
    assert stored == sent, f"sent, not stored: {sent - stored}; stored, not sent: {stored - sent}"
    by_seq = {m.seq: m for m in rows}
    for client in clients:
        assert not client.violations, client.violations
        assert set(client.acks) == set(client.sent), f"{client.name}: unacknowledged sends"
        log = client.log_for(conversation_id)
        assert log == sorted(set(log)), f"{client.name} showed out of order or twice"
        for seq, message in client.shown[conversation_id].items():
            assert (message["id"], message["body"]) == (by_seq[seq].pk, by_seq[seq].body)
    return rows
