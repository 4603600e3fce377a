"""Back office for the knowledge base: categories, FAQ entries, intents, synonyms and dictionary
words (merchant-scoped like every admin, merchants.admin_scoping), bulk import/export with a
progress page for large files, and the knowledge-gap report.

Every save and delete goes through knowledge.services (sanitising, validation, the KB version
bump and the debounced retraining), never straight to the ORM. Visitor questions in the gap
report are untrusted text: templates escape them (autoescape), nothing is marked safe.

Importing this package registers every admin (Django's autodiscover imports knowledge.admin)."""

from .imports import (
    DUPLICATES_URL,
    GAP_GROUPS_SHOWN,
    GAP_SESSION_KEY,
    CategoryAdmin,
    DictionaryWordAdmin,
    DuplicateFaqAdmin,
    FaqAdmin,
    FaqForm,
    ImportExportMixin,
    ImportForm,
    ImportJobAdmin,
    IntentAdmin,
    IntentForm,
    KbRowForm,
    KnowledgeGapAdmin,
    ServiceBackedAdmin,
    SynonymAdmin,
    admin_merchants,
    import_summary,
    job_status,
)

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
