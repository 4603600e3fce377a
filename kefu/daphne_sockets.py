"""Less memory per idle WebSocket under daphne 4.2 (issue 12), installed by kefu/asgi.py.

What daphne keeps per socket for its whole life that an idle socket does not need
(docs/performance.md, "Idle sockets"):

- **Its input queue.** daphne hands each application an `asyncio.Queue` (four deques and an
  event, about 3 KB empty) although the application is its only reader and daphne only calls
  `put_nowait`. WebSocket applications get an `Inbox` (kefu/channel_layer.py), the same
  single-reader FIFO the pub/sub layer uses, whose deque exists only while messages wait.
  HTTP keeps daphne's queue (Django reads the body and listens for the disconnect from it).
- **The upgraded HTTP request.** daphne's `WebRequest` that upgraded the connection (its
  headers, body buffer, Deferreds) stays in Twisted's HTTP channel, which the TCP transport
  keeps; the channel lets go of it after the upgrade.
- **The handshake.** Once a socket is open, autobahn's copy of the raw request and its parsed
  headers, daphne's `ConnectionRequest` (headers again, URL parameters) and the handshake's
  resolved Deferreds stay referenced by the protocol. After `onOpen` they are dropped; daphne
  reads only `request.path` later (its access log), which is kept. autobahn's empty send
  queue (a deque) becomes a list.

And one addition, back-pressure (issue 12): daphne reads every frame a client sends as soon
as it arrives and queues it for the application, however far the application is behind, so
a client that sends faster than its messages are stored grew the process's memory and
latency without bound. A socket's input queue now stops daphne from reading the socket
(`pauseProducing` on its TCP transport) while more than `MAX_WAITING_FRAMES` of its frames
wait, and lets it read again once half of them are handled: the rest waits in the kernel's
buffers and then in the client, whose writes slow down (TCP flow control). Nothing is refused
or reordered; one read can still bring a buffer's worth of frames (up to 64 KB) at once.
"The kernel's buffers" are bounded too: an open WebSocket's receive buffer is fixed at
`RECEIVE_BUFFER` bytes. Left to Linux's autotuning (tcp_rmem, up to 32 MB here) it grew to
megabytes on a fast flooding socket before daphne paused it, so a paused socket still had
hundreds of frames in flight (196 of 300 in one run), in kernel memory the process cannot
see. 64 KB holds the largest frame a client may send (`protocol.MAX_FRAME_BYTES`), far more
than a chat socket has in flight; HTTP requests (uploads) keep the autotuned buffer.

All of these are patches of daphne's and autobahn's internals (daphne 4.2.3, autobahn 26.11):
tests/kefu/test_daphne_sockets.py fails first if an upgrade changes what they rely on.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from functools import partial

# Handshake state autobahn and daphne keep on the protocol after the socket is open; none of it
# is read again (autobahn reads them in processHandshake, daphne in onConnect). `request` is
# replaced by its path (daphne's access log reads request.path on close).
HANDSHAKE_ATTRIBUTES = (
    "http_request_data",
    "http_headers",
    "http_status_line",
    "http_request_uri",
    "http_request_params",
    "websocket_extensions",
    "websocket_protocols",
    "application_deferred",
)


# Frames of one socket waiting for its application beyond which daphne stops reading it.
MAX_WAITING_FRAMES = 16
# SO_RCVBUF of an open WebSocket (Linux reserves twice this for its own bookkeeping).
RECEIVE_BUFFER = 64 * 1024


def _inbox_class():
    from .channel_layer import Inbox

    class BoundedInbox(Inbox):
        """An Inbox that pauses the socket's transport while too many frames wait (module
        docstring)."""

        __slots__ = ("transport", "paused")

        def __init__(self, transport):
            super().__init__()
            self.transport = transport
            self.paused = False

        def put_nowait(self, item) -> None:
            super().put_nowait(item)
            if self.qsize() > MAX_WAITING_FRAMES and self.transport is not None:
                # Every time, not once: Twisted's HTTP channel, still the transport's producer
                # after the upgrade, may resume reading when our replies' buffer drains.
                self.transport.pauseProducing()
                self.paused = True

        async def get(self):
            item = await Inbox.get(self)
            if self.paused and self.qsize() <= MAX_WAITING_FRAMES // 2:
                self.paused = False
                self.transport.resumeProducing()
            return item

    return BoundedInbox


class _Path:
    """What daphne's WebSocketProtocol still reads of the handshake request: its path."""

    __slots__ = ("path",)

    def __init__(self, path: str):
        self.path = path


class _SendQueue(list):
    """autobahn's send queue (it calls only len, append and popleft) as a list: the queue holds
    frames only for its rare "sync" and chopped sends and is empty otherwise, and an empty
    deque takes about 620 bytes where an empty list takes 56."""

    __slots__ = ()

    def popleft(self):
        return self.pop(0)


def install() -> bool:
    """Patch daphne's Server, WebRequest and WebSocketProtocol once; False when daphne is not
    the server running this process (uvicorn, the tests' in-process communicators): importing
    daphne.server would install Twisted's reactor as a side effect."""
    if "daphne.server" not in sys.modules:
        return False
    from daphne.server import Server
    from daphne.ws_protocol import WebSocketProtocol

    if getattr(Server.create_application, "kefu_inbox", False):
        return True
    inbox_class = _inbox_class()
    create_application = Server.create_application

    def create_websocket_application(self, protocol, scope):
        # daphne's create_application (4.2.3) with a BoundedInbox instead of an asyncio.Queue.
        if scope.get("type") != "websocket":
            return create_application(self, protocol, scope)
        assert "application_instance" not in self.connections[protocol]
        transport = protocol.transport
        input_queue = inbox_class(transport if hasattr(transport, "pauseProducing") else None)
        scope.setdefault("asgi", {"version": "3.0"})
        application_instance = self.application(
            scope=scope,
            receive=input_queue.get,
            send=partial(self.handle_reply, protocol),
        )
        if protocol not in self.connections:
            return None
        self.connections[protocol]["application_instance"] = asyncio.ensure_future(
            application_instance, loop=asyncio.get_event_loop()
        )
        return input_queue

    create_websocket_application.kefu_inbox = True
    Server.create_application = create_websocket_application

    on_open = WebSocketProtocol.onOpen

    def onOpen(self):  # autobahn's name
        on_open(self)
        request = getattr(self, "request", None)
        if request is not None:
            self.request = _Path(request.path)
        for name in HANDSHAKE_ATTRIBUTES:
            self.__dict__.pop(name, None)
        if not getattr(self, "send_queue", True):
            self.send_queue = _SendQueue()
        handle = getattr(self.transport, "getHandle", None)  # TCP; not daphne's TLS wrapper
        if handle is not None:
            handle().setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)

    WebSocketProtocol.onOpen = onOpen

    from daphne.http_protocol import WebRequest

    process = WebRequest.process

    def process_and_release(self):
        result = process(self)
        # An upgrade hands the TCP transport to the WebSocket protocol inside process() (before
        # its first yield). The HTTP channel stays referenced by that transport (it registered
        # as its producer), and with it this request, never finished: its headers, body
        # buffer and Deferreds, for the socket's life. Nothing reads them again (the channel
        # no longer receives data), so the channel lets go of the request.
        channel = self.channel
        transport = getattr(channel, "transport", None)
        # TCP: the transport's protocol; TLS (daphne's ProtocolWrapper case): the wrapped one.
        handed_to = getattr(transport, "wrappedProtocol", None) or getattr(
            transport, "protocol", None
        )
        if isinstance(handed_to, WebSocketProtocol):
            requests = getattr(channel, "requests", None)
            if requests and self in requests:
                requests.remove(self)
        return result

    WebRequest.process = process_and_release
    return True
