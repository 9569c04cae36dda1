from django.contrib import admin
from django.urls import path

from console.views import dashboard

urlpatterns = [
    path("dashboard/", admin.site.admin_view(dashboard), name="console-dashboard"),
]
