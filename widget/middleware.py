from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.security.websocket import WebsocketDenier

from merchants.selectors import merchant_get_by_widget_key


class WidgetOriginValidator:
    """Admit a visitor socket only for a known widget key and an origin that merchant allows.

    A refused handshake is closed before accept (HTTP 403), so nothing reaches the consumer.
    The merchant id is put in the scope for the consumer.
    """

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        key = (query.get("key") or [""])[0]
        origin = None
        for name, value in scope.get("headers", []):
            if name == b"origin":
                origin = value.decode("latin-1")
        merchant = await database_sync_to_async(merchant_get_by_widget_key)(widget_key=key)
        if merchant is None or not merchant.origin_allowed(origin):
            denier = WebsocketDenier()
            return await denier(scope, receive, send)
        scope = dict(scope, kefu_merchant_id=merchant.pk)
        # This frame lasts as long as the socket: it keeps no model instance (about 1.5 KB per
        # idle socket, docs/performance.md "Idle sockets").
        del merchant, query
        return await self.application(scope, receive, send)
