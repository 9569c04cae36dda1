"""Request checks that apply to every URL, and the console user's time zone."""

import zoneinfo

from django.http import HttpResponseBadRequest, JsonResponse
from django.utils import timezone


def refuse_nul_in_query(get_response):
    """Answer 400 to a query string carrying a NUL byte.

    PostgreSQL cannot hold NUL in text, so such a filter value would fail inside the database
    driver as a server error; no filter of the API or the admin has a use for it. The receiver
    checks its own query (an installation key with a NUL is a wrong key: 401)."""

    def middleware(request):
        if request.path.startswith("/webhooks/"):
            return get_response(request)
        query = request.META.get("QUERY_STRING", "")
        if "%00" in query or "\x00" in query:
            message = "query parameters must not contain NUL characters"
            if request.path.startswith("/api/"):
                return JsonResponse({"error": message}, status=400)
            return HttpResponseBadRequest(message)
        return get_response(request)

    return middleware


def user_time_zone(get_response):
    """Show the console's pages in the time zone the signed-in user picked (Preferences).

    Only the console's pages: the API always speaks UTC, so its answers do not depend on who
    asks. Read on every page view, so a change applies at once on every device."""

    def middleware(request):
        zone = None
        user = getattr(request, "user", None)
        if request.path.startswith("/admin/") and user is not None and user.is_authenticated:
            from core.models import UserPreferences  # models load after the middleware module

            name = (
                UserPreferences.objects.filter(user=user)
                .values_list("time_zone", flat=True)
                .first()
            )
            if name:
                try:
                    zone = zoneinfo.ZoneInfo(name)
                except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                    zone = None
        if zone is None:
            return get_response(request)
        with timezone.override(zone):
            return get_response(request)

    return middleware
