"""SMS backends for escalating notifications to agents' phones.

`get_backend()` returns the backend named by settings.SMS_BACKEND: "console" (default: the
message is only logged), "aliyun" (Alibaba Cloud SMS, Dysmsapi SendSms) or the dotted path of
a class with the same interface. A backend's `send()` returns the provider's id for the message
and raises SmsError with a readable reason on any failure, so the caller can record it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import socket
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime
from urllib.parse import quote

from django.conf import settings
from django.utils.module_loading import import_string

from kefu import jsonsafe

logger = logging.getLogger(__name__)


class SmsError(Exception):
    """Sending failed; the message says why (provider code and message, HTTP status, timeout)."""


class BaseSmsBackend:
    def send(self, *, phone: str, params: dict[str, str]) -> str:
        """Send the configured template to `phone` with the template variables `params`."""
        raise NotImplementedError


class ConsoleSmsBackend(BaseSmsBackend):
    """For development: writes the message to the log instead of sending it."""

    def send(self, *, phone: str, params: dict[str, str]) -> str:
        logger.info("SMS to %s: %s", phone, json.dumps(params, ensure_ascii=False))
        return "console"


# --- Alibaba Cloud (Aliyun) Dysmsapi ----------------------------------------------------------


def percent_encode(value: str) -> str:
    """RFC 3986 encoding as Aliyun's RPC signature defines it: only A-Z a-z 0-9 - _ . ~ stay as
    they are; everything else (space, "*", "/", "+") becomes %XY of its UTF-8 bytes."""
    return quote(str(value), safe="")


def rpc_string_to_sign(method: str, params: dict[str, str]) -> str:
    """METHOD&%2F&encoded(canonicalized query): parameters sorted by name, Signature excluded."""
    canonical = "&".join(
        f"{percent_encode(k)}={percent_encode(v)}"
        for k, v in sorted(params.items())
        if k != "Signature"
    )
    return f"{method}&{percent_encode('/')}&{percent_encode(canonical)}"


def rpc_signature(secret: str, method: str, params: dict[str, str]) -> str:
    """Base64(HMAC-SHA1(AccessKeySecret + "&", StringToSign))."""
    digest = hmac.new(
        (secret + "&").encode(), rpc_string_to_sign(method, params).encode(), hashlib.sha1
    ).digest()
    return base64.b64encode(digest).decode()


class AliyunSmsBackend(BaseSmsBackend):
    """SendSms of Dysmsapi (API version 2017-05-25), an RPC-style API: the common parameters and
    the action's parameters are signed with the AccessKey secret (HMAC-SHA1) and POSTed as a
    form. The response is JSON; Code "OK" means accepted, anything else is an error."""

    VERSION = "2017-05-25"

    def __init__(
        self,
        *,
        access_key_id: str,
        access_key_secret: str,
        sign_name: str,
        template_code: str,
        endpoint: str = "https://dysmsapi.aliyuncs.com/",
        region: str = "cn-hangzhou",
        timeout: float = 10.0,
    ):
        self.access_key_id = access_key_id
        self.access_key_secret = access_key_secret
        self.sign_name = sign_name
        self.template_code = template_code
        self.endpoint = endpoint
        self.region = region
        self.timeout = timeout

    @classmethod
    def from_settings(cls) -> AliyunSmsBackend:
        return cls(
            access_key_id=settings.SMS_ACCESS_KEY_ID,
            access_key_secret=settings.SMS_ACCESS_KEY_SECRET,
            sign_name=settings.SMS_SIGN_NAME,
            template_code=settings.SMS_TEMPLATE_CODE,
            endpoint=settings.SMS_ENDPOINT,
            region=settings.SMS_REGION,
            timeout=settings.SMS_TIMEOUT,
        )

    def signed_params(self, *, phone: str, params: dict[str, str]) -> dict[str, str]:
        request = {
            "AccessKeyId": self.access_key_id,
            "Action": "SendSms",
            "Format": "JSON",
            "RegionId": self.region,
            "SignatureMethod": "HMAC-SHA1",
            # A fresh nonce per request: the server refuses a nonce it has seen (replay).
            "SignatureNonce": uuid.uuid4().hex,
            "SignatureVersion": "1.0",
            "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": self.VERSION,
            "PhoneNumbers": phone,
            "SignName": self.sign_name,
            "TemplateCode": self.template_code,
            "TemplateParam": json.dumps(params, ensure_ascii=False, separators=(",", ":")),
        }
        request["Signature"] = rpc_signature(self.access_key_secret, "POST", request)
        return request

    def send(self, *, phone: str, params: dict[str, str]) -> str:
        if not (
            self.access_key_id and self.access_key_secret and self.sign_name and self.template_code
        ):
            raise SmsError(
                "Aliyun SMS is not configured (SMS_ACCESS_KEY_ENV, "
                "SMS_ACCESS_KEY_SECRET_ENV, SMS_SIGN_NAME, SMS_TEMPLATE_CODE)."
            )
        form = self.signed_params(phone=phone, params=params)
        body = "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in form.items())
        request = urllib.request.Request(
            self.endpoint,
            data=body.encode(),
            method="POST",
            headers={
                "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
                "Accept": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            # Aliyun answers refusals (bad signature, throttling) with 4xx and a JSON body too.
            status, raw = exc.code, exc.read()
        except TimeoutError:
            raise SmsError(f"Aliyun SMS: no answer within {self.timeout} s") from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, (TimeoutError, socket.timeout)):
                raise SmsError(f"Aliyun SMS: no answer within {self.timeout} s") from None
            raise SmsError(f"Aliyun SMS: {exc.reason}") from None
        try:
            data = jsonsafe.loads(raw)  # the provider answer is outside input too
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise SmsError(f"Aliyun SMS: HTTP {status}, not a JSON answer")
        if data.get("Code") == "OK":
            return str(data.get("BizId") or data.get("RequestId") or "")
        raise SmsError(
            f"Aliyun SMS: HTTP {status} {data.get('Code')}: {data.get('Message')} "
            f"(RequestId {data.get('RequestId')})"
        )


BACKENDS = {"console": ConsoleSmsBackend, "aliyun": AliyunSmsBackend}
# This module was kefu/sms.py: a dotted path configured before the move still names its class.
LEGACY_PREFIX = "kefu.sms."


def get_backend() -> BaseSmsBackend:
    """Read at call time, so a settings change (or a test override) takes effect at once."""
    name = settings.SMS_BACKEND
    if name.startswith(LEGACY_PREFIX):
        name = __name__ + "." + name.removeprefix(LEGACY_PREFIX)
    cls = BACKENDS.get(name) or import_string(name)
    return cls.from_settings() if hasattr(cls, "from_settings") else cls()
