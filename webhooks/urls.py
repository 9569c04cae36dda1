from django.urls import path, re_path

from webhooks.views import receive_webhook

app_name = "webhooks"

urlpatterns = [
    # With or without the trailing slash: providers are configured with either.
    path("<str:slug>/", receive_webhook, name="receive"),
    re_path(r"^(?P<slug>[^/]+)$", receive_webhook, name="receive-no-slash"),
]
