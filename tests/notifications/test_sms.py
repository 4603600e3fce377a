"""notifications.sms: the Aliyun Dysmsapi backend against a local fake that verifies what the real
service verifies, and the backend switch."""

from __future__ import annotations

import json
import logging
import time
import urllib.request

import pytest

from notifications import sms
from tests.notifications.aliyun_fake import doc_signature
from tests.notifications.conftest import KEY_ID, KEY_SECRET


def test_signature_matches_the_documented_example():
    # Aliyun's own worked example (DescribeRegions, AccessKey testid / testsecret): the
    # documented signature is CT9X0VtwR86fNWSnsc6v8YGOjuE=.
    params = {
        "TimeStamp": "2016-02-23T12:46:24Z",
        "Format": "XML",
        "AccessKeyId": "testid",
        "Action": "DescribeRegions",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
        "Version": "2014-05-26",
        "SignatureVersion": "1.0",
    }
    assert sms.rpc_string_to_sign("GET", params) == (
        "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML"
        "%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"
        "%26SignatureVersion%3D1.0%26TimeStamp%3D2016-02-23T12%253A46%253A24Z"
        "%26Version%3D2014-05-26"
    )
    assert sms.rpc_signature("testsecret", "GET", params) == "CT9X0VtwR86fNWSnsc6v8YGOjuE="


def test_percent_encoding_special_cases():
    # Space is %20 (not +), "*" is %2A, "~" stays, "/" and "+" are encoded, UTF-8 bytes for 中.
    assert sms.percent_encode("a b*c~d/e+f=中") == "a%20b%2Ac~d%2Fe%2Bf%3D%E4%B8%AD"
    odd = {"TemplateParam": '{"visitor":"张 三*~/+"}', "A": "x y"}
    assert sms.rpc_signature("s", "POST", odd) == doc_signature("s", "POST", odd)


def backend(**overrides) -> sms.AliyunSmsBackend:
    return (
        sms.AliyunSmsBackend.from_settings()
        if not overrides
        else sms.AliyunSmsBackend(
            **{
                **dict(
                    access_key_id=KEY_ID,
                    access_key_secret=KEY_SECRET,
                    sign_name="墨众客服",
                    template_code="SMS_0001",
                    timeout=2.0,
                ),
                **overrides,
            }
        )
    )


def test_send_is_accepted_with_every_parameter_signed(aliyun):
    params = {
        "merchant": "Acme 商城",
        "visitor": "张三 <b>&",
        "reason": "新会话",
        "conversation": "7",
    }
    biz_id = sms.get_backend().send(phone="13800138000", params=params)
    assert biz_id.endswith("^0")
    (accepted,) = aliyun.accepted
    assert accepted["PhoneNumbers"] == "13800138000"
    assert accepted["SignName"] == "墨众客服" and accepted["TemplateCode"] == "SMS_0001"
    assert accepted["RegionId"] == "cn-hangzhou"
    assert json.loads(accepted["TemplateParam"]) == params
    # A second message gets a fresh nonce (the fake refuses a nonce it has seen).
    sms.get_backend().send(phone="13800138000", params=params)
    assert len(aliyun.accepted) == 2
    assert aliyun.accepted[0]["SignatureNonce"] != aliyun.accepted[1]["SignatureNonce"]


def test_the_fake_refuses_replays_stale_timestamps_and_tampering(aliyun):
    """The fake is strict, so the acceptance above means something."""
    signed = backend(endpoint=aliyun.url).signed_params(phone="13800138000", params={"a": "b"})

    def post(params):
        data = "&".join(
            f"{sms.percent_encode(k)}={sms.percent_encode(v)}" for k, v in params.items()
        )
        request = urllib.request.Request(aliyun.url, data=data.encode(), method="POST")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return json.loads(response.read())["Code"]
        except urllib.error.HTTPError as exc:
            return json.loads(exc.read())["Code"]

    assert post(signed) == "OK"
    assert post(signed) == "SignatureNonceUsed"
    tampered = dict(signed, PhoneNumbers="13900139000", SignatureNonce="n2")
    assert post(tampered) == "SignatureDoesNotMatch"
    stale = dict(signed, Timestamp="2020-01-01T00:00:00Z", SignatureNonce="n3")
    stale["Signature"] = doc_signature(KEY_SECRET, "POST", stale)
    assert post(stale) == "InvalidTimeStamp.Expired"
    missing = {k: v for k, v in signed.items() if k != "TemplateCode"}
    assert post(missing) == "MissingParameter"
    # GET with the query string, signed for GET, is accepted like the documented examples.
    get = dict(signed, SignatureNonce="n4")
    get["Signature"] = doc_signature(KEY_SECRET, "GET", get)
    query = "&".join(f"{sms.percent_encode(k)}={sms.percent_encode(v)}" for k, v in get.items())
    with urllib.request.urlopen(aliyun.url + "?" + query, timeout=5) as response:
        assert json.loads(response.read())["Code"] == "OK"


def test_wrong_secret_is_an_error_naming_the_code_and_request(aliyun):
    with pytest.raises(sms.SmsError) as info:
        backend(endpoint=aliyun.url, access_key_secret="wrong").send(phone="138", params={})
    message = str(info.value)
    assert "SignatureDoesNotMatch" in message and "HTTP 400" in message
    assert "RequestId" in message and aliyun.accepted == []


def test_unknown_key_business_error_http_500_and_timeout(aliyun):
    with pytest.raises(sms.SmsError, match="InvalidAccessKeyId.NotFound"):
        backend(endpoint=aliyun.url, access_key_id="nobody").send(phone="138", params={})
    aliyun.mode = "business_error"
    with pytest.raises(sms.SmsError, match="isv.BUSINESS_LIMIT_CONTROL: 触发分钟级流控"):
        sms.get_backend().send(phone="138", params={})
    aliyun.mode = "http500"
    with pytest.raises(sms.SmsError, match="HTTP 500, not a JSON answer"):
        sms.get_backend().send(phone="138", params={})
    aliyun.mode, aliyun.delay = "slow", 2.0
    started = time.monotonic()
    with pytest.raises(sms.SmsError, match="no answer within 0.5 s"):
        backend(endpoint=aliyun.url, timeout=0.5).send(phone="138", params={})
    assert time.monotonic() - started < 1.9
    assert aliyun.accepted == []


def test_nothing_listening_is_an_error(settings):
    from tests.conftest import free_port

    with pytest.raises(sms.SmsError, match="Aliyun SMS: "):
        backend(endpoint=f"http://127.0.0.1:{free_port()}/").send(phone="138", params={})


def test_unconfigured_aliyun_refuses_before_any_request(settings):
    settings.SMS_BACKEND = "aliyun"
    settings.SMS_ACCESS_KEY_ID = ""
    with pytest.raises(sms.SmsError, match="not configured"):
        sms.get_backend().send(phone="138", params={})


def test_backend_switch(settings, caplog):
    settings.SMS_BACKEND = "console"
    with caplog.at_level(logging.INFO, logger="notifications.sms"):
        assert sms.get_backend().send(phone="13800138000", params={"visitor": "张三"}) == "console"
    assert "13800138000" in caplog.text and "张三" in caplog.text
    settings.SMS_BACKEND = "notifications.sms.ConsoleSmsBackend"
    assert isinstance(sms.get_backend(), sms.ConsoleSmsBackend)
    # The module's old path, as configured before it moved to notifications.
    settings.SMS_BACKEND = "kefu.sms.ConsoleSmsBackend"
    assert isinstance(sms.get_backend(), sms.ConsoleSmsBackend)
    settings.SMS_BACKEND = "aliyun"
    assert isinstance(sms.get_backend(), sms.AliyunSmsBackend)
