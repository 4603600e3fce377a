from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class KnowledgeConfig(AppConfig):
    name = "knowledge"
    verbose_name = _("Knowledge base")

    def ready(self):
        from django.conf import settings

        from . import tasks  # noqa: F401 - registered here: training and importers queue by name
        from .nlp import encoder, faq_encoder

        encoder.configure(
            enabled=settings.KB_ENCODER,
            model_path=settings.KB_ENCODER_MODEL,
            threads=settings.KB_ENCODER_THREADS,
            train_threads=settings.KB_ENCODER_TRAIN_THREADS,
        )
        faq_encoder.configure(
            enabled=settings.KB_FAQ_ENCODER, directory=settings.KB_FAQ_ENCODER_DIR, threads=1
        )
