"""Client frames leave daphne without two `epoll_ctl` system calls each (issue 12), installed
by kefu/asgi.py.

Twisted's TCP transport never sends at once: `write` buffers the data and calls
`startWriting`, which registers the socket for writability (the asyncio reactor's `addWriter`,
`loop.add_writer`: one `epoll_ctl`); the loop wakes it, `doWrite` sends the buffer and, with it
empty, unregisters the socket (`removeWriter`: a second `epoll_ctl`). At saturation a stored
message makes about four client frames (the visitor's ack and its copy, the agent's message and
inbox row), and `selectors.modify` was the event loop's largest function (docs/performance.md,
"The event loop per message").

Here `startWriting` of a socket that is not already waiting for writability puts it on a list
that one `call_soon` callback flushes at the end of the loop's current iteration, through the
reactor's own `_readOrWrite(transport, False)`, the call its writability callback makes: what the
socket was given in that iteration still goes out in one `send`, errors and a pending close are
handled as Twisted handles them, and only a socket whose data the kernel did not take (a slow
client) is registered for writability, Twisted's own path from there on.

A patch of Twisted's internals (Twisted 26.10, the asyncio reactor daphne installs):
tests/kefu/test_daphne_sockets.py fails first if an upgrade changes what it relies on.
"""

from __future__ import annotations

import sys


def install() -> bool:
    """Patch Twisted's TCP connections once; False when daphne is not the server running this
    process (importing daphne.server would install Twisted's reactor as a side effect)."""
    if "daphne.server" not in sys.modules:
        return False
    from twisted.internet import tcp
    from twisted.internet.asyncioreactor import AsyncioSelectorReactor
    from twisted.python.log import callWithLogger

    start_writing = tcp.Connection.startWriting
    if getattr(start_writing, "kefu_flush", False):
        return True
    # Transports written to in this loop iteration, in order (a dict: one entry each). One
    # reactor per process, so one list.
    pending: dict = {}

    def flush() -> None:
        transports = list(pending)
        pending.clear()
        for transport in transports:
            reactor = transport.reactor
            if not transport.connected or transport in reactor._writers:
                continue  # closed meanwhile, or already waiting for writability
            callWithLogger(transport, reactor._readOrWrite, transport, False)
            left = len(transport.dataBuffer) - transport.offset + transport._tempDataLen
            if transport.connected and left:
                start_writing(transport)  # the kernel's buffer is full: wait for writability

    def startWriting(self) -> None:
        reactor = self.reactor
        if not isinstance(reactor, AsyncioSelectorReactor) or self in reactor._writers:
            start_writing(self)
            return
        if not pending:
            reactor._asyncioEventloop.call_soon(flush)
        pending[self] = None

    startWriting.kefu_flush = True
    tcp.Connection.startWriting = startWriting
    return True
