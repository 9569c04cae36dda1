"""Plain webhook subscription: the event in the destination scheme's envelope, as is."""

from integrations.adapters.base import Adapter


class Webhook(Adapter):
    name = "webhook"
    label = "Plain webhook"
