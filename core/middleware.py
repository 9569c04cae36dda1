"""Request checks that apply to every URL."""

from django.http import HttpResponseBadRequest, JsonResponse


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
