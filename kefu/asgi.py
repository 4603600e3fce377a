"""ASGI entry point: HTTP to Django; WebSockets through origin checks and authentication to
the consumers.

- /ws/agent/<merchant_id>/: the agent workspace. Origin must be this site, scheme, host and
  port (kefu/ws_origin.py); the Django session authenticates; the consumer checks membership.
- /ws/visitor/?key=WIDGET_KEY: the widget. Origin must be one the merchant allows; the visitor
  token arrives in the first frame (never in the URL, where it would end up in access logs).
"""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kefu.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from conversations.consumers import AgentConsumer, VisitorConsumer  # noqa: E402
from kefu import daphne_sockets, daphne_writes  # noqa: E402
from kefu.ws_origin import SameSiteOriginValidator  # noqa: E402
from widget.middleware import WidgetOriginValidator  # noqa: E402

websocket_urlpatterns = [
    path(
        "ws/agent/<int:merchant_id>/",
        SameSiteOriginValidator(AuthMiddlewareStack(AgentConsumer.as_asgi())),
    ),
    path("ws/visitor/", WidgetOriginValidator(VisitorConsumer.as_asgi())),
]


def _leave_uploads_to_django() -> None:
    """Twisted parses every multipart POST body itself before daphne passes the request on
    (daphne never reads the result): a malformed body got Twisted's bare 400, no body and no
    content type, instead of the API's JSON error (found by schemathesis), and each upload was
    parsed a second time in memory. Django and DRF parse the body; Twisted is told not to.
    tests/kefu/test_api_fuzz.py proves the JSON answer through a real daphne."""
    try:
        from daphne.http_protocol import WebRequest
    except ImportError:  # another ASGI server
        return
    init = WebRequest.__init__
    if getattr(init, "leaves_uploads_to_django", False):
        return

    def __init__(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self._parsePOSTFormSubmission = False  # twisted.web.http.Request's switch

    __init__.leaves_uploads_to_django = True
    WebRequest.__init__ = __init__


_leave_uploads_to_django()
daphne_sockets.install()  # less memory per idle socket (issue 12)
daphne_writes.install()  # no epoll_ctl pair per client frame (issue 12)

application = ProtocolTypeRouter(
    {"http": django_asgi_app, "websocket": URLRouter(websocket_urlpatterns)}
)

# The startup heap (Django, the apps and their imports: about 350,000 objects) lives as long as
# the process. Every full pass of the garbage collector walked all of it, stopping the event
# loop and the database thread for 100-900 ms on a loaded 2-core machine, and such passes come
# after busy phases (docs/performance.md, "Overload"); frozen, the passes walk only what was
# made since.
gc.collect()
gc.freeze()
# The youngest generation is collected after 10,000 net new container objects instead of 700:
# nearly everything a message allocates is freed by reference counting, so at saturation the
# default ran ~60 young passes a second per process and, through them, full passes every ~2 s
# (30-60 ms each, freeing nothing); with these thresholds 1-2 passes in 8 s, and 6 % more
# messages a second for 8 % less CPU each (docs/performance.md, "Overload").
gc.set_threshold(10_000, 20, 20)
