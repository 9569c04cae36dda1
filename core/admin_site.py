"""The admin site: Django's own, with a login form that refuses guessing (core.throttle)."""

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError

from core.throttle import (
    client_address,
    login_failed,
    login_locked,
    login_refused,
    login_succeeded,
)

THROTTLED_MESSAGE = (
    "Too many failed logins for this username from your address. "
    "Wait a quarter of an hour and try again, or ask an administrator."
)


class ThrottledAuthenticationForm(AdminAuthenticationForm):
    def clean(self):
        username = self.cleaned_data.get("username") or ""
        address = client_address(self.request)
        if login_locked(username=username, address=address):
            login_refused(username=username, address=address)
            self.request.hookdesk_login_throttled = True
            raise ValidationError(THROTTLED_MESSAGE, code="throttled")
        try:
            cleaned = super().clean()
        except ValidationError:
            login_failed(username=username, address=address)
            raise
        if self.user_cache is not None:
            login_succeeded(username=username, address=address)
        return cleaned


class HookdeskAdminSite(admin.AdminSite):
    login_form = ThrottledAuthenticationForm

    def login(self, request, extra_context=None):
        response = super().login(request, extra_context)
        if getattr(request, "hookdesk_login_throttled", False):
            response.status_code = 429
        return response
