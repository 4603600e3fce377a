"""Quick replies (canned responses) in the back office."""

from django.contrib import admin
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _

from merchants.admin_scoping import MerchantScopedAdmin

from .. import services
from ..models import CannedResponse
from .common import member_name, name_column


@admin.register(CannedResponse)
class CannedResponseAdmin(MerchantScopedAdmin):
    list_display = (
        "shortcut",
        "title",
        "text_preview",
        "owner_column",
        "usage_count",
        "created_at",
    )
    search_fields = ("shortcut", "title", "text")
    fields = ("merchant", "owner", "shortcut", "title", "text", "usage_count")
    readonly_fields = ("usage_count",)
    member_fields = ("owner",)
    owner_column = name_column("owner", _("owner"))

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(owner_name=member_name("owner"))

    def save_model(self, request, obj, form, change):
        # The picker's pinyin key, as conversations.services.canned keeps it.
        obj.search_key = services.canned_search_key(shortcut=obj.shortcut, title=obj.title)
        super().save_model(request, obj, form, change)

    @admin.display(description=_("text"))
    def text_preview(self, obj):
        return Truncator(obj.text).chars(80)
