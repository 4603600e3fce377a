"""The knowledge-base REST API, mounted at /api/v1/kb/ by kefu/urls.py."""

from django.urls import path, re_path

from kefu.api import not_found

from . import apis

urlpatterns = [
    path("faqs/", apis.FaqList.as_view(), name="api-kb-faqs"),
    path("faqs/<int:pk>/", apis.FaqDetail.as_view(), name="api-kb-faq"),
    path("intents/", apis.IntentList.as_view(), name="api-kb-intents"),
    path("intents/<int:pk>/", apis.IntentDetail.as_view(), name="api-kb-intent"),
    path("categories/", apis.CategoryList.as_view(), name="api-kb-categories"),
    path("categories/<int:pk>/", apis.CategoryDetail.as_view(), name="api-kb-category"),
    path("synonyms/", apis.SynonymList.as_view(), name="api-kb-synonyms"),
    path("synonyms/<int:pk>/", apis.SynonymDetail.as_view(), name="api-kb-synonym"),
    path("dictionary/", apis.DictionaryList.as_view(), name="api-kb-dictionary"),
    path("dictionary/<int:pk>/", apis.DictionaryDetail.as_view(), name="api-kb-dictionary-word"),
    path("import/", apis.ImportView.as_view(), name="api-kb-import"),
    path("import/<int:pk>/", apis.ImportJobView.as_view(), name="api-kb-import-job"),
    path("export/", apis.ExportView.as_view(), name="api-kb-export"),
    path("gaps/", apis.GapList.as_view(), name="api-kb-gaps"),
    re_path(r"", not_found),
]
