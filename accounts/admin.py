from axes.admin import AccessAttemptAdmin, AccessFailureLogAdmin, AccessLogAdmin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm
from django.utils.translation import gettext_lazy as _

from merchants.admin_scoping import is_platform_admin, managed_ids, member_users
from merchants.models import Membership, Merchant
from merchants.services import membership_add

from . import services
from .models import User

# Fields only the platform operator may touch: with them a manager could make anyone (themself
# included) a superuser. Django's per-model permissions are not used by this back office.
PLATFORM_ONLY_FIELDS = ("is_superuser", "groups", "user_permissions")


class UserAddForm(AdminUserCreationForm):
    """User creation plus the first membership, so a manager's new agent is in their merchant
    (and therefore visible to them) from the start."""

    merchant = forms.ModelChoiceField(
        label=_("merchant"), queryset=Merchant.objects.none(), required=False
    )
    role = forms.ChoiceField(
        label=_("role"), choices=Membership.Role.choices, initial=Membership.Role.AGENT
    )
    # Set per request by UserAdmin.get_form (never mutate the shared declared field).
    merchant_choices = Merchant.objects.none()
    merchant_required = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["merchant"].queryset = self.merchant_choices
        self.fields["merchant"].required = self.merchant_required


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    add_form = UserAddForm
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("username", "usable_password", "password1", "password2"),
            },
        ),
        (_("Membership"), {"fields": ("merchant", "role")}),
    )

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if is_platform_admin(request):
            return qs
        return qs.filter(pk__in=member_users(managed_ids(request)).values("pk"))

    def is_member(self, request, obj) -> bool:
        return Membership.objects.filter(user=obj, merchant_id__in=managed_ids(request)).exists()

    def is_exclusively_managed(self, request, obj) -> bool:
        """A manager may change an account only if it belongs to their merchants alone: a user
        who also works for another merchant is that merchant's business too."""
        return (
            not obj.is_superuser
            and self.is_member(request, obj)
            and not Membership.objects.filter(user=obj)
            .exclude(merchant_id__in=managed_ids(request))
            .exists()
        )

    def has_module_permission(self, request):
        return is_platform_admin(request) or bool(managed_ids(request))

    def has_view_permission(self, request, obj=None):
        if is_platform_admin(request):
            return True
        return bool(managed_ids(request)) and (obj is None or self.is_member(request, obj))

    def has_add_permission(self, request):
        return is_platform_admin(request) or bool(managed_ids(request))

    def has_change_permission(self, request, obj=None):
        if is_platform_admin(request):
            return True
        return bool(managed_ids(request)) and (
            obj is None or self.is_exclusively_managed(request, obj)
        )

    def has_delete_permission(self, request, obj=None):
        return self.has_change_permission(request, obj)

    def get_list_filter(self, request):
        if is_platform_admin(request):
            return super().get_list_filter(request)
        return ("is_staff", "is_active")

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if is_platform_admin(request) or obj is None:
            return fieldsets
        return [
            (name, {**opts, "fields": [f for f in opts["fields"] if f not in PLATFORM_ONLY_FIELDS]})
            for name, opts in fieldsets
        ]

    def get_form(self, request, obj=None, **kwargs):
        form_class = super().get_form(request, obj, **kwargs)
        if obj is None:
            if is_platform_admin(request):
                form_class.merchant_choices = Merchant.objects.all()
            else:
                form_class.merchant_choices = Merchant.objects.filter(pk__in=managed_ids(request))
                form_class.merchant_required = True
        return form_class

    def save_model(self, request, obj, form, change):
        if change:
            services.user_update(user=obj)  # deactivation closes the user's sockets
        else:
            super().save_model(request, obj, form, change)
        merchant = None if change else form.cleaned_data.get("merchant")
        if merchant is not None:
            membership_add(
                merchant=merchant,
                username=obj.get_username(),
                password=None,
                role=form.cleaned_data["role"],
                display_name=obj.get_username(),
            )

    def delete_model(self, request, obj):
        services.user_delete(user=obj)

    def delete_queryset(self, request, queryset):
        for user in queryset:
            services.user_delete(user=user)


# django-axes' records of failed sign-ins, for the platform operator (Django's model permissions:
# merchant owners have none). Unlock = delete the attempt. Axes' own classes, less their
# date_hierarchy: on MySQL/MariaDB without time-zone tables it fails the page ("Database
# returned an invalid datetime value").
for _model, _admin in (
    (AccessAttempt, AccessAttemptAdmin),
    (AccessLog, AccessLogAdmin),
    (AccessFailureLog, AccessFailureLogAdmin),
):
    admin.site.register(_model, type(_admin.__name__, (_admin,), {"date_hierarchy": None}))
