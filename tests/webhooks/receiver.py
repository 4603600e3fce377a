"""A real HTTP server for webhook tests: it checks every request's signature with the secret
it holds (`secret`), as an integrator's receiver would, and records what it got."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    def __init__(self):
        self.secret = ""
        self.requests: list[dict] = []
        # Statuses to answer, in order (then 200); a 3xx answers with a Location header.
        self.statuses: list[int] = []
        self.location = ""
        # The body of a non-2xx answer (receiver text the delivery log shows).
        self.error_body = b"receiver says no"
        # While set, a request waits for `release` before answering (a worker killed mid-way).
        self.hold = threading.Event()
        self.release = threading.Event()
        self.arrived = threading.Event()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                timestamp = self.headers.get("X-Kefu-Timestamp", "")
                expected = hmac.new(
                    receiver.secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256
                ).hexdigest()
                # Any of the listed signatures (two during a secret rotation's grace period),
                # as docs/webhooks.md tells receivers to check.
                signatures = self.headers.get("X-Kefu-Signature", "").split(",")
                signed = any(hmac.compare_digest(s.strip(), "v1=" + expected) for s in signatures)
                with receiver._lock:
                    receiver.requests.append(
                        {
                            "path": self.path,
                            "headers": dict(self.headers),
                            "body": json.loads(body),
                            "signed": signed,
                            "signatures": len(signatures),
                            "raw": body,
                        }
                    )
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                receiver.arrived.set()
                if receiver.hold.is_set():
                    receiver.release.wait(60)
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", receiver.location)
                payload = b'{"ok": true}' if status < 300 else receiver.error_body
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/kefu"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def events(self) -> list[str]:
        return [r["body"]["type"] for r in self.requests]
