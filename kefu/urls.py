from django.contrib import admin
from django.http import JsonResponse
from django.templatetags.static import static
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from django.views.generic import RedirectView
from django.views.i18n import JavaScriptCatalog
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from conversations.assist import ConversationSuggestions
from conversations.views import attachment_file
from reports.views import reports_page


def healthz(request):
    return JsonResponse({"ok": True})


# The back office carries the product's name (templates/admin/base_site.html uses these).
admin.site.site_header = _("Mozhongkefu")
admin.site.site_title = _("Mozhongkefu")
admin.site.index_title = _("Mozhongkefu back office")


class FaviconView(RedirectView):
    # Pages link the icon (templates/base.html, admin/base_site.html); browsers still ask for
    # /favicon.ico on anything else (API docs, JSON), which would log a 404 each time.
    permanent = False

    def get_redirect_url(self, *args, **kwargs):
        return static("brand/favicon.svg")


urlpatterns = [
    path("", RedirectView.as_view(url="/workspace/", permanent=False)),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("api/v1/kb/", include("knowledge.urls")),
    path(
        "api/v1/conversations/<int:pk>/suggestions/",
        ConversationSuggestions.as_view(),
        name="api-suggestions",
    ),
    path("api/v1/", include("kefu.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up code as a file, not an inline script, so the
    # page runs under the same Content-Security-Policy as the rest.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("widget/", include("widget.urls")),
    path("workspace/<int:merchant_id>/reports/", reports_page, name="reports"),
    path("workspace/", include("conversations.urls")),
    path("jsi18n/", JavaScriptCatalog.as_view(), name="jsi18n"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("healthz", healthz, name="healthz"),
    # Attachment files, by signed link only (conversations/attachments.py).
    path("files/<str:token>/<str:name>", attachment_file, name="attachment-file"),
    path("favicon.ico", FaviconView.as_view(), name="favicon"),
]
