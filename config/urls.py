from django.contrib import admin
from django.http import HttpResponse
from django.urls import include, path, re_path
from django.views import defaults
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from console.health import healthz, metrics
from core.api import json_not_found, json_server_error
from core.audit_api import AuditEntryViewSet
from core.preferences import preferences_view
from rules.api import BacktestRunViewSet, BlockViewSet, HoldViewSet, OrderDetail
from webhooks.api import EventViewSet, TestWebhook

admin.site.site_header = "hookdesk"
admin.site.site_title = "hookdesk"
admin.site.index_title = "Webhook operations console"

# The console's mark: a hook on the admin's blue, small enough to answer without a file.
FAVICON_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">'
    '<rect width="32" height="32" rx="6" fill="#417690"/>'
    '<path d="M19 6v13a5 5 0 0 1-10 0v-3" fill="none" stroke="#fff" stroke-width="3"'
    ' stroke-linecap="round"/></svg>'
)


@require_safe
@cache_control(public=True, max_age=7 * 24 * 3600)
def favicon(request):
    return HttpResponse(FAVICON_SVG, content_type="image/svg+xml")


router = SimpleRouter(trailing_slash="/?")
router.register("holds", HoldViewSet, basename="hold")
router.register("blocks", BlockViewSet, basename="block")
router.register("backtests", BacktestRunViewSet, basename="backtest")
router.register("events", EventViewSet, basename="event")
router.register("audit", AuditEntryViewSet, basename="audit")

api_v2 = [
    path("orders/<str:order_id>/", OrderDetail.as_view(), name="order-detail"),
    # One pattern for both spellings: one operation in the OpenAPI schema.
    re_path(r"^test/webhook/?$", TestWebhook.as_view(), name="test-webhook"),
    *router.urls,
    path("", include("integrations.urls")),
]

urlpatterns = [
    path("webhooks/", include("webhooks.urls")),
    path("api/v2/", include(api_v2)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics, name="metrics"),
    path("admin/console/", include("console.urls")),
    path("admin/preferences/", admin.site.admin_view(preferences_view), name="preferences"),
    path("admin/", admin.site.urls),
    # The admin's "View site" and a bare host name open the console.
    path("", RedirectView.as_view(url="/admin/", permanent=False), name="home"),
    path("favicon.ico", favicon, name="favicon"),
]

_JSON_PREFIXES = ("/api/", "/webhooks/", "/healthz", "/metrics")


def handler404(request, exception):
    if request.path.startswith(_JSON_PREFIXES):
        return json_not_found(request, exception)
    return defaults.page_not_found(request, exception)


def handler500(request):
    if request.path.startswith(_JSON_PREFIXES):
        return json_server_error(request)
    return defaults.server_error(request)
