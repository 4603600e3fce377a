"""Finding 9 of issue 16: limits per address and per widget key on widget calls, socket
connections and visitor sign-in failures, pings charged (docs/security.md, "9. Rate limits").
The limits are off in tests/settings.py; each test here switches on the one it proves."""

from __future__ import annotations

import uuid

import pytest
from channels.testing import WebsocketCommunicator

from conversations.models import Visitor
from conversations.tokens import visitor_token_issue
from kefu import ratelimit
from kefu.asgi import application
from tests import factories
from tests.conversations.realtime_helpers import run
from tests.wsclient import ORIGIN, session_cookie


@pytest.fixture(autouse=True)
def empty_counts(monkeypatch):
    """Counts of this test only: a prefix of its own (the cache may be the shared Redis, which
    clearing would empty for every other user of it)."""
    monkeypatch.setattr(ratelimit, "PREFIX", f"kefutest:rl:{uuid.uuid4().hex}")


# --- the counter --------------------------------------------------------------------------


def test_the_window_slides_so_an_edge_burst_gets_no_double_limit():
    limit = ratelimit.Limit("t", 10, 60)
    start = 6000.0  # a window boundary
    assert [ratelimit.hit(limit, "a", now=start + 59) for _ in range(10)] == [0.0] * 10
    assert ratelimit.hit(limit, "a", now=start + 59.5) > 0  # the 11th in the same window
    # Just after the boundary the previous window still weighs almost fully.
    assert ratelimit.hit(limit, "a", now=start + 61) > 0
    # Half a window later, half of it has slid out: about five more get through.
    allowed = [ratelimit.hit(limit, "a", now=start + 90) == 0 for _ in range(10)]
    assert 3 <= sum(allowed) <= 6
    assert ratelimit.hit(limit, "b", now=start + 61) == 0  # another key is its own count


@pytest.mark.parametrize("count", [1, 3])
def test_the_wait_it_answers_is_enough_and_not_more(count):
    """A client that waits the answered seconds gets through; one that comes back a little
    earlier does not. Refused near a window's end, the answer once was that window's end (32 s
    for 1 per 600 s), where the count still weighed enough to refuse again."""
    limit = ratelimit.Limit("t", count, 600)
    start = 6000.0  # a window boundary
    for key in ("honest", "early"):
        for _ in range(count):
            assert ratelimit.hit(limit, key, now=start + 560) == 0
    wait = ratelimit.hit(limit, "honest", now=start + 570)
    assert ratelimit.hit(limit, "early", now=start + 570) == wait > 30
    assert ratelimit.hit(limit, "honest", now=start + 570 + wait) == 0
    assert ratelimit.hit(limit, "early", now=start + 570 + wait - 10) > 0


def test_looking_does_not_count_and_zero_switches_a_limit_off():
    limit = ratelimit.Limit("t", 2, 60)
    for _ in range(5):
        assert ratelimit.hit(limit, "a", count=False) == 0
    ratelimit.hit(limit, "a")
    ratelimit.hit(limit, "a")
    assert ratelimit.hit(limit, "a", count=False) > 0
    assert all(ratelimit.hit(ratelimit.Limit("off", 0, 60), "a") == 0 for _ in range(100))


@pytest.mark.parametrize("spec", ["ten/60", "5/0", "-1/60", ""])
def test_a_bad_setting_is_refused_with_its_name(spec):
    with pytest.raises(ValueError):
        ratelimit.Limit.parse("WIDGET_RATE_PER_ADDRESS", spec)


# --- widget calls --------------------------------------------------------------------------


def bootstrap(client, merchant, address="203.0.113.7"):
    return client.post(
        f"/widget/api/bootstrap?key={merchant.widget_key}",
        data="{}",
        content_type="application/json",
        HTTP_ORIGIN="https://shop.example.com",
        REMOTE_ADDR=address,
    )


SITE = "https://shop.example.com"


@pytest.fixture
def shop(db):
    return factories.merchant("限流商店", allowed_origins=SITE)


def test_bootstraps_from_one_address_are_limited_and_say_when_to_return(client, shop, settings):
    settings.WIDGET_RATE_PER_ADDRESS = "5/60"
    assert [bootstrap(client, shop).status_code for _ in range(5)] == [200] * 5
    refused = bootstrap(client, shop)
    assert refused.status_code == 429
    assert refused.json()["code"] == "rate_limited"
    # At most this window's rest plus the part of the next one its six hits still weigh on
    # (60 x (1 - 4/6) = 20 s).
    assert 1 <= int(refused["Retry-After"]) <= 80
    # The widget on the merchant's site can read the refusal and its Retry-After.
    assert refused["Access-Control-Allow-Origin"] == "https://shop.example.com"
    assert "Retry-After" in refused["Access-Control-Expose-Headers"]
    assert Visitor.objects.filter(merchant=shop).count() == 5  # the refused one made none
    assert bootstrap(client, shop, address="198.51.100.9").status_code == 200


def test_a_widget_key_is_limited_across_addresses(client, shop, settings):
    settings.WIDGET_RATE_PER_KEY = "3/60"
    codes = [bootstrap(client, shop, address=f"198.51.100.{i}").status_code for i in range(4)]
    assert codes == [200, 200, 200, 429]
    other = factories.merchant("另一家", allowed_origins="https://shop.example.com")
    assert bootstrap(client, other).status_code == 200


def test_the_offline_form_has_a_stricter_limit_of_its_own(client, shop, settings):
    settings.WIDGET_OFFLINE_RATE_PER_ADDRESS = "1/600"
    token = bootstrap(client, shop).json()["token"]

    def leave(body):
        return client.post(
            f"/widget/api/offline?key={shop.widget_key}",
            data={"token": token, "name": "王", "contact": "wang@example.com", "message": body},
            content_type="application/json",
            HTTP_ORIGIN="https://shop.example.com",
            REMOTE_ADDR="203.0.113.7",
        )

    assert leave("第一条").status_code == 201
    second = leave("第二条")
    assert second.status_code == 429 and int(second["Retry-After"]) > 60


# --- sockets (their database work runs on other threads: committed rows) ------------------


def communicator(path: str, address: str, headers=(), origin: str = ORIGIN):
    comm = WebsocketCommunicator(
        application, path, headers=[(b"origin", origin.encode()), (b"host", b"127.0.0.1"), *headers]
    )
    comm.scope["client"] = (address, 50000)
    return comm


@pytest.mark.django_db(transaction=True)
def test_sockets_opened_too_fast_from_one_address_are_told_and_closed_4429(shop, settings):
    settings.WS_CONNECT_RATE_PER_ADDRESS = "2/60"

    async def scenario():
        opened = []
        for _ in range(2):
            comm = communicator(f"/ws/visitor/?key={shop.widget_key}", "203.0.113.7", origin=SITE)
            assert (await comm.connect())[0]
            opened.append(comm)
        refused = communicator(f"/ws/visitor/?key={shop.widget_key}", "203.0.113.7", origin=SITE)
        assert (await refused.connect())[0]  # accepted only to say why it closes
        error = await refused.receive_json_from(timeout=5)
        assert error["code"] == "rate_limited" and error["retry_after"] >= 1
        assert (await refused.receive_output(timeout=5)) == {
            "type": "websocket.close",
            "code": 4429,
        }
        elsewhere = communicator(f"/ws/visitor/?key={shop.widget_key}", "198.51.100.9", origin=SITE)
        assert (await elsewhere.connect())[0]
        await elsewhere.send_json_to({"type": "ping"})
        assert (await elsewhere.receive_json_from(timeout=5)) == {"type": "pong"}
        for comm in [*opened, elsewhere]:
            await comm.disconnect()

    run(scenario())


@pytest.mark.django_db(transaction=True)
def test_agent_sockets_count_too(acme, bob, settings):
    settings.WS_CONNECT_RATE_PER_ADDRESS = "1/60"
    cookie = session_cookie(bob.user)

    async def scenario():
        first = communicator(f"/ws/agent/{acme.pk}/", "203.0.113.7", [(b"cookie", cookie)])
        assert (await first.connect())[0]
        second = communicator(f"/ws/agent/{acme.pk}/", "203.0.113.7", [(b"cookie", cookie)])
        assert (await second.connect())[0]
        frames = []
        while True:
            out = await second.receive_output(timeout=5)
            if out["type"] == "websocket.close":
                break
            frames.append(out)
        assert out["code"] == 4429 and '"rate_limited"' in frames[-1]["text"]
        await first.disconnect()

    run(scenario())


@pytest.mark.django_db(transaction=True)
def test_token_guessing_from_one_address_stops_even_a_good_token(shop, settings):
    settings.WS_AUTH_FAILURES_PER_ADDRESS = "3/600"
    visitor = factories.visitor(shop)
    good = visitor_token_issue(merchant_id=shop.pk, visitor_id=visitor.pk)

    async def attempt(token, address="203.0.113.7"):
        comm = communicator(f"/ws/visitor/?key={shop.widget_key}", address, origin=SITE)
        assert (await comm.connect())[0]
        await comm.send_json_to({"type": "auth", "token": token, "last_seq": 0})
        first = await comm.receive_json_from(timeout=5)
        if first["type"] == "session.ready":
            await comm.disconnect()
            return "ready"
        close = await comm.receive_output(timeout=5)
        return first["code"], close["code"]

    async def scenario():
        guesses = [await attempt(f"guess-{i}") for i in range(3)]
        assert guesses == [("token_invalid", 4401)] * 3
        assert await attempt(good) == ("rate_limited", 4429)
        assert await attempt(good, address="198.51.100.9") == "ready"

    run(scenario())


def test_api_token_guessing_from_one_address_stops_even_a_good_token(client, acme, settings):
    settings.API_TOKEN_FAILURES_PER_ADDRESS = "3/600"
    good = factories.api_token(acme)

    def call(token, address="203.0.113.7"):
        return client.get(
            "/api/v1/conversations/", HTTP_AUTHORIZATION=f"Bearer {token}", REMOTE_ADDR=address
        )

    assert [call(f"kf_guess{i}").status_code for i in range(3)] == [401] * 3
    refused = call(good)
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
    assert call(good, address="198.51.100.9").status_code == 200
