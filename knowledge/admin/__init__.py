"""Back office for the knowledge base: categories, FAQ entries, intents, synonyms and dictionary
words (merchant-scoped like every admin, merchants.admin_scoping), bulk import/export with a
progress page for large files, and the knowledge-gap report.

Every save and delete goes through knowledge.services (sanitising, validation, the KB version
bump and the debounced retraining), never straight to the ORM. Visitor questions in the gap
report are untrusted text: templates escape them (autoescape), nothing is marked safe.

The admins are in modules by page (entries: the knowledge-base rows; imports: import, export
and the import progress; gaps: the knowledge-gap report; duplicates: the duplicate-entries page;
common: the form and admin base that go through the services). Importing this package imports
them all, which registers every admin (Django's autodiscover imports knowledge.admin)."""

from .common import DUPLICATES_URL, GAP_SESSION_KEY, KbRowForm, ServiceBackedAdmin, admin_merchants
from .duplicates import DuplicateFaqAdmin
from .entries import (
    CategoryAdmin,
    DictionaryWordAdmin,
    FaqAdmin,
    FaqForm,
    IntentAdmin,
    IntentForm,
    SynonymAdmin,
)
from .gaps import GAP_GROUPS_SHOWN, KnowledgeGapAdmin
from .imports import ImportExportMixin, ImportForm, ImportJobAdmin, import_summary, job_status

__all__ = [
    "admin_merchants",
    "CategoryAdmin",
    "DictionaryWordAdmin",
    "DUPLICATES_URL",
    "DuplicateFaqAdmin",
    "FaqAdmin",
    "FaqForm",
    "GAP_GROUPS_SHOWN",
    "GAP_SESSION_KEY",
    "import_summary",
    "ImportExportMixin",
    "ImportForm",
    "ImportJobAdmin",
    "IntentAdmin",
    "IntentForm",
    "job_status",
    "KbRowForm",
    "KnowledgeGapAdmin",
    "ServiceBackedAdmin",
    "SynonymAdmin",
]
