"""`visitor.identified` is recorded once per new identity: from the widget's signed identity
(visitor_touch) and from the API (visitor_update), never for an anonymous visitor or the same
identity seen again."""

from __future__ import annotations

from conversations import services
from conversations.models import ConversationEvent

Kind = ConversationEvent.Kind


def identified(merchant) -> list[tuple[int, dict]]:
    return [
        (e.visitor_id, e.data)
        for e in ConversationEvent.objects.filter(merchant=merchant, kind=Kind.VISITOR_IDENTIFIED)
    ]


def test_the_widgets_signed_identity_is_recorded_once(acme, other):
    anonymous = services.visitor_touch(merchant=acme, anonymous_id="anon-1")
    assert identified(acme) == []
    for _ in range(2):  # the same identity on every page load: one event
        visitor = services.visitor_touch(
            merchant=acme, anonymous_id="anon-1", identity={"external_id": "u-1", "name": "张三"}
        )
    assert visitor.pk == anonymous.pk
    ((visitor_id, data),) = identified(acme)
    assert visitor_id == visitor.pk and data["by"] == "widget"
    services.visitor_touch(merchant=acme, anonymous_id="anon-1", identity={"external_id": "u-2"})
    assert len(identified(acme)) == 2  # another account signed in on that browser
    assert identified(other) == []


def test_the_api_records_a_new_external_id(acme):
    visitor = services.visitor_touch(merchant=acme, anonymous_id="anon-2")
    services.visitor_update(merchant_id=acme.pk, visitor_id=visitor.pk, name="李四")
    assert identified(acme) == []
    services.visitor_update(merchant_id=acme.pk, visitor_id=visitor.pk, external_id="u-9")
    assert identified(acme) == [(visitor.pk, {"by": "api"})]
