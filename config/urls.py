from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "hookdesk"
admin.site.site_title = "hookdesk"
admin.site.index_title = "Webhook operations console"

urlpatterns = [
    path("webhooks/", include("webhooks.urls")),
    path("admin/", admin.site.urls),
]
