"""A console user's own preferences page: the time zone times are shown in."""

import zoneinfo

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from core.models import UserPreferences


def _zone_choices() -> list[tuple[str, str]]:
    default = f"The console's time zone ({settings.TIME_ZONE})"
    return [("", default), *((name, name) for name in sorted(zoneinfo.available_timezones()))]


class PreferencesForm(forms.Form):
    time_zone = forms.ChoiceField(
        choices=_zone_choices,
        required=False,
        help_text="Times on the console's pages are shown in this zone. The API always uses UTC.",
    )


def preferences_view(request):
    preferences, _ = UserPreferences.objects.get_or_create(user=request.user)
    form = PreferencesForm(request.POST or None, initial={"time_zone": preferences.time_zone})
    if request.method == "POST" and form.is_valid():
        preferences.time_zone = form.cleaned_data["time_zone"]
        preferences.save(update_fields=["time_zone"])
        messages.success(
            request, f"Times are now shown in {preferences.time_zone or settings.TIME_ZONE}."
        )
        return HttpResponseRedirect(reverse("preferences"))
    return TemplateResponse(
        request,
        "admin/preferences.html",
        {**admin.site.each_context(request), "title": "Preferences", "form": form},
    )
