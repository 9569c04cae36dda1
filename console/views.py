"""Console pages outside any one model's admin: the dashboard."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse

from console.dashboard import dashboard_figures

# Whoever may look at events or holds may look at the dashboard built from them.
DASHBOARD_PERMISSIONS = ("webhooks.view_event", "rules.view_heldorder")


def dashboard(request):
    if not any(request.user.has_perm(permission) for permission in DASHBOARD_PERMISSIONS):
        raise PermissionDenied
    context = {
        **admin.site.each_context(request),
        "title": "Dashboard",
        "can_ack": request.user.has_perm("console.change_alert"),
        **dashboard_figures(),
    }
    return TemplateResponse(request, "admin/console/dashboard.html", context)
