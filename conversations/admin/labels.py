"""Labels and custom attribute definitions in the back office (issue 13)."""

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from kefu.errors import KefuError
from merchants.admin_scoping import MerchantScopedAdmin, TenantRowForm

from .. import services
from ..models import AttributeDefinition, Label


class LabelForm(TenantRowForm):
    def clean_colour(self):
        colour = self.cleaned_data["colour"]
        if not services.customers.COLOUR.match(colour or ""):
            raise ValidationError(gettext("A colour is #rrggbb, e.g. #2563eb."))
        return colour.lower()


@admin.register(Label)
class LabelAdmin(MerchantScopedAdmin):
    form = LabelForm
    list_display = ("name", "colour_swatch", "description", "conversation_count")
    search_fields = ("name", "description")
    fields = ("merchant", "name", "colour", "description")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(n=Count("conversations"))

    @admin.display(description=_("colour"), ordering="colour")
    def colour_swatch(self, obj):
        return format_html(
            '<span style="display:inline-block;width:1em;height:1em;border-radius:3px;'
            'vertical-align:middle;background:{}"></span> {}',
            obj.colour,
            obj.colour,
        )

    @admin.display(description=_("conversations"), ordering="n")
    def conversation_count(self, obj):
        return obj.n

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        # Open workspaces pick up the new name or colour at once.
        services.customers.labels_announce(obj.merchant_id)

    def delete_model(self, request, obj):
        merchant_id = obj.merchant_id
        super().delete_model(request, obj)
        services.customers.labels_announce(merchant_id)


class AttributeDefinitionForm(TenantRowForm):
    def clean(self):
        cleaned = super().clean()
        try:
            cleaned["choices"] = services.customers.attribute_choices_clean(
                cleaned.get("kind"), cleaned.get("choices")
            )
        except KefuError as exc:
            self.add_error("choices", exc.message)
        return cleaned


@admin.register(AttributeDefinition)
class AttributeDefinitionAdmin(MerchantScopedAdmin):
    form = AttributeDefinitionForm
    list_display = ("name", "key", "kind", "choices")
    list_filter = ("kind",)
    search_fields = ("name", "key")
    fields = ("merchant", "key", "name", "kind", "choices")

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        # Values are stored under the key: renaming it would orphan them.
        return [*readonly, "key"] if obj is not None else readonly
