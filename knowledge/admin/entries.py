"""The knowledge-base rows: categories, FAQ entries, intents, synonyms and dictionary words,
each saved through its service."""

from __future__ import annotations

import itertools

from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .. import services
from ..models import Category, DictionaryWord, Faq, Intent, Synonym
from .common import DUPLICATES_URL, GAP_SESSION_KEY, KbRowForm, ServiceBackedAdmin
from .imports import ImportExportMixin


@admin.register(Category)
class CategoryAdmin(ServiceBackedAdmin):
    list_display = ("name", "sort_order")
    search_fields = ("name",)
    fields = ("merchant", "name", "sort_order")
    service_fields = services.CATEGORY_FIELDS
    clean_function = services.category_clean
    create_function = services.category_create
    update_function = services.category_update
    delete_function = services.category_delete
    id_kwarg = "category_id"


class FaqForm(KbRowForm):
    class Meta:
        widgets = {
            "similar_questions": forms.Textarea(attrs={"rows": 4}),
            "keywords": forms.TextInput(attrs={"size": 60}),
        }
        help_texts = {
            "similar_questions": _("Other ways visitors ask the same question, one per line."),
            "answer": _(
                "Bold, italic, lists and links are kept; anything else is removed. "
                "The widget shows the answer as plain text."
            ),
            "keywords": _("Comma separated."),
        }


@admin.register(Faq)
class FaqAdmin(ImportExportMixin, ServiceBackedAdmin):
    form = FaqForm
    list_display = ("question", "category", "is_enabled", "valid_until", "hits", "updated_at")
    list_filter = ("is_enabled", ("category", admin.RelatedOnlyFieldListFilter), "valid_until")
    list_select_related = ("category", "merchant")
    search_fields = ("question", "similar_questions", "keywords", "answer")
    fields = (
        "merchant",
        "category",
        "question",
        "similar_questions",
        "answer",
        "keywords",
        "is_enabled",
        "valid_from",
        "valid_until",
        "hits",
    )
    readonly_fields = ("hits",)
    same_merchant_fields = ("category",)
    actions = ("enable_selected", "disable_selected")
    service_fields = services.FAQ_FIELDS
    clean_function = services.faq_clean
    create_function = services.faq_create
    update_function = services.faq_update
    delete_function = services.faq_delete
    id_kwarg = "faq_id"
    import_kind = "faqs"

    def _set_enabled(self, request, queryset, enabled: bool):
        rows = sorted(queryset.values_list("merchant_id", "pk"))
        changed = 0
        for merchant_id, group in itertools.groupby(rows, key=lambda r: r[0]):
            changed += services.faq_set_enabled(
                merchant_id=merchant_id, faq_ids=[pk for _m, pk in group], enabled=enabled
            )
        messages.success(request, gettext("FAQ entries changed: %(n)d.") % {"n": changed})

    @admin.action(description=_("Enable selected FAQ entries"))
    def enable_selected(self, request, queryset):
        self._set_enabled(request, queryset, True)

    @admin.action(description=_("Disable selected FAQ entries"))
    def disable_selected(self, request, queryset):
        self._set_enabled(request, queryset, False)

    def changelist_view(self, request, extra_context=None):
        extra_context = dict(extra_context or {})
        extra_context["duplicates_url"] = reverse(DUPLICATES_URL)
        return super().changelist_view(request, extra_context)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        gap = request.GET.get("gap")
        if not change and gap:
            # Created from a knowledge-gap group: those questions are now answered.
            ids = request.session.get(GAP_SESSION_KEY, {}).pop(gap, None)
            request.session.modified = True
            if ids:
                services.gap_resolve(merchant_id=obj.merchant_id, question_ids=ids, faq_id=obj.pk)


class IntentForm(KbRowForm):
    class Meta:
        widgets = {"examples": forms.Textarea(attrs={"rows": 6})}
        help_texts = {
            "examples": _("Phrases visitors use for this intent, one per line."),
            "slots": _(
                'Information to ask for, e.g. [{"name": "order_no", "prompt": "Your order '
                'number?", "pattern": "^\\\\d{10}$", "reprompt": "10 digits, please"}]'
            ),
        }


@admin.register(Intent)
class IntentAdmin(ImportExportMixin, ServiceBackedAdmin):
    form = IntentForm
    list_display = ("name", "action", "example_count", "is_enabled", "updated_at")
    list_filter = ("action", "is_enabled")
    search_fields = ("name", "examples")
    fields = ("merchant", "name", "examples", "answer", "action", "slots", "is_enabled")
    service_fields = services.INTENT_FIELDS
    clean_function = services.intent_clean
    create_function = services.intent_create
    update_function = services.intent_update
    delete_function = services.intent_delete
    id_kwarg = "intent_id"
    import_kind = "intents"

    @admin.display(description=_("examples"))
    def example_count(self, obj):
        return len(obj.examples.splitlines())


@admin.register(Synonym)
class SynonymAdmin(ImportExportMixin, ServiceBackedAdmin):
    list_display = ("word", "synonyms")
    search_fields = ("word", "synonyms")
    fields = ("merchant", "word", "synonyms")
    service_fields = services.SYNONYM_FIELDS
    clean_function = services.synonym_clean
    create_function = services.synonym_create
    update_function = services.synonym_update
    delete_function = services.synonym_delete
    id_kwarg = "synonym_id"
    import_kind = "synonyms"


@admin.register(DictionaryWord)
class DictionaryWordAdmin(ImportExportMixin, ServiceBackedAdmin):
    list_display = ("word", "frequency")
    search_fields = ("word",)
    fields = ("merchant", "word", "frequency")
    service_fields = services.DICTIONARY_FIELDS
    clean_function = services.dictionary_clean
    create_function = services.dictionary_word_create
    update_function = services.dictionary_word_update
    delete_function = services.dictionary_word_delete
    id_kwarg = "word_id"
    import_kind = "dictionary"
