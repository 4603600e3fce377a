"""A local stand-in for Aliyun's Dysmsapi endpoint (http.server in a thread).

It checks requests the way the documented service does, with its own implementation of the
RPC signature (the documentation's recipe: form-encode, then "+" -> %20, "*" -> %2A,
"%7E" -> "~"), so a mistake in notifications.sms cannot be mirrored here: required common and
SendSms parameters, a known AccessKeyId, a fresh timestamp, a nonce never seen before, the
signature.
It answers with Aliyun-shaped JSON. `mode` makes it fail on purpose: "ok", "business_error",
"http500", "slow".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote_plus, urlsplit

REQUIRED = (
    "AccessKeyId",
    "Action",
    "Format",
    "RegionId",
    "SignatureMethod",
    "SignatureNonce",
    "SignatureVersion",
    "Timestamp",
    "Version",
    "Signature",
    "PhoneNumbers",
    "SignName",
    "TemplateCode",
)
MAX_SKEW = 15 * 60  # seconds a timestamp may differ from the server's clock


def doc_encode(value: str) -> str:
    return quote_plus(value, safe="").replace("+", "%20").replace("*", "%2A").replace("%7E", "~")


def doc_signature(secret: str, method: str, params: dict[str, str]) -> str:
    pairs = sorted((k, v) for k, v in params.items() if k != "Signature")
    canonical = "&".join(doc_encode(k) + "=" + doc_encode(v) for k, v in pairs)
    to_sign = method + "&" + doc_encode("/") + "&" + doc_encode(canonical)
    mac = hmac.new((secret + "&").encode("utf-8"), to_sign.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


class FakeAliyun:
    def __init__(self, keys: dict[str, str]):
        self.keys = keys  # AccessKeyId -> secret
        self.mode = "ok"
        self.delay = 0.0
        self.requests: list[dict] = []  # every request that reached the server
        self.accepted: list[dict] = []  # requests answered with Code OK
        self.nonces: set[str] = set()
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                fake.handle(self, "GET", urlsplit(self.path).query)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8")
                fake.handle(self, "POST", body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    # --- request handling ---------------------------------------------------------------------

    def handle(self, handler, method: str, raw: str) -> None:
        params = dict(parse_qsl(raw, keep_blank_values=True))
        with self.lock:
            self.requests.append(params)
        if self.mode == "slow":
            time.sleep(self.delay)
        if self.mode == "http500":
            return self.reply(handler, 500, b"<html>Internal Server Error</html>", "text/html")
        status, answer = self.check(method, params)
        if status == 200 and self.mode == "business_error":
            status, answer = (
                200,
                {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发分钟级流控Permits:1"},
            )
        answer["RequestId"] = str(uuid.uuid4()).upper()
        if answer.get("Code") == "OK":
            answer["BizId"] = f"{int(time.time())}^0"
            with self.lock:
                self.accepted.append(params)
        self.reply(
            handler, status, json.dumps(answer, ensure_ascii=False).encode(), "application/json"
        )

    def check(self, method: str, params: dict[str, str]) -> tuple[int, dict]:
        missing = [name for name in REQUIRED if not params.get(name)]
        if missing:
            return 400, {"Code": "MissingParameter", "Message": f"missing {missing[0]}"}
        expected = {
            "Action": "SendSms",
            "Format": "JSON",
            "SignatureMethod": "HMAC-SHA1",
            "SignatureVersion": "1.0",
            "Version": "2017-05-25",
        }
        for name, value in expected.items():
            if params[name] != value:
                return 400, {"Code": "InvalidParameter", "Message": f"{name}={params[name]}"}
        secret = self.keys.get(params["AccessKeyId"])
        if secret is None:
            return 404, {
                "Code": "InvalidAccessKeyId.NotFound",
                "Message": "Specified access key is not found.",
            }
        try:
            stamp = datetime.strptime(params["Timestamp"], "%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            return 400, {"Code": "InvalidTimeStamp.Format", "Message": "bad Timestamp"}
        if abs(stamp.replace(tzinfo=UTC).timestamp() - time.time()) > MAX_SKEW:
            return 400, {
                "Code": "InvalidTimeStamp.Expired",
                "Message": "Specified time stamp or date value is expired.",
            }
        if params["Signature"] != doc_signature(secret, method, params):
            return 400, {
                "Code": "SignatureDoesNotMatch",
                "Message": "Specified signature is not matched with our calculation.",
            }
        with self.lock:
            if params["SignatureNonce"] in self.nonces:
                return 400, {
                    "Code": "SignatureNonceUsed",
                    "Message": "Specified signature nonce was used already.",
                }
            self.nonces.add(params["SignatureNonce"])
        try:
            template = json.loads(params.get("TemplateParam") or "{}")
        except ValueError:
            return 400, {"Code": "isv.INVALID_JSON_PARAM", "Message": "JSON参数不合法"}
        if not isinstance(template, dict) or not all(isinstance(v, str) for v in template.values()):
            return 400, {"Code": "isv.INVALID_JSON_PARAM", "Message": "只接受字符串值"}
        return 200, {"Code": "OK", "Message": "OK"}

    @staticmethod
    def reply(handler, status: int, body: bytes, content_type: str) -> None:
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", content_type + "; charset=utf-8")
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout test)
