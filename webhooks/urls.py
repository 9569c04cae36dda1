from django.urls import path, re_path

from webhooks.views import WebhookReceiver, WebhookReceiverNoSlash

app_name = "webhooks"

urlpatterns = [
    # With or without the trailing slash: providers are configured with either.
    path("<str:slug>/", WebhookReceiver.as_view(), name="receive"),
    re_path(r"^(?P<slug>[^/]+)$", WebhookReceiverNoSlash.as_view(), name="receive-no-slash"),
]
