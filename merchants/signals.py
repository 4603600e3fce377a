"""django-cors-headers asks this for each cross-origin request to the widget's HTTP API: an
origin passes if some active merchant allows it. The bootstrap view then checks the origin
against the merchant named by the widget key."""

from corsheaders.signals import check_request_enabled
from django.dispatch import receiver

from .models import Merchant


@receiver(check_request_enabled)
def cors_allow_merchant_origins(sender, request, **kwargs):
    origin = request.headers.get("Origin")
    key = request.GET.get("key") or request.headers.get("X-Kefu-Widget-Key")
    if not origin or not key:
        return False
    merchant = Merchant.objects.filter(widget_key=key, is_active=True).first()
    return bool(merchant and merchant.origin_allowed(origin))
