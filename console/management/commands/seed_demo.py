import os
import secrets
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from console.models import AlertKind, AlertThreshold
from rules.models import Block
from rules.services import block_create
from webhooks.models import Endpoint
from webhooks.receiver import IncomingDelivery, receive
from webhooks.samples import sample_delivery
from webhooks.selectors import secrets_live
from webhooks.services import endpoint_create, secret_reveal

DEFAULT_BLOCK = {
    "name": "High-value order auto-hold",
    "condition": "order_value > 5000",
    "action": "hold",
    "metadata": {
        "purpose": "Hold orders over $5,000 for compliance review before fulfilment",
        "owner": "compliance",
    },
    "status": "active",
}

# (endpoint, event type, order id, amount): one order over the threshold, two under it.
SAMPLE_EVENTS = (
    ("procureiq-demo", "order.created", "ord_demo_1001", "742.50"),
    ("standard-demo", "order.created", "ord_demo_1002", "1250.00"),
    ("procureiq-demo", "order.created", "ord_demo_1003", "7800.00"),
)

# The alert thresholds every installation starts with, judged on each endpoint on its own.
DEFAULT_THRESHOLDS = (
    {"kind": AlertKind.SIGNATURE_FAILURES, "name": "Signature failures",
     "limit": Decimal(20), "window_minutes": 10},
    {"kind": AlertKind.PROCESSING_FAILURES, "name": "Processing failures",
     "limit": Decimal(5), "window_minutes": 15},
    # The sweep re-enqueues an event pending for a minute: five minutes means no worker runs.
    {"kind": AlertKind.OLDEST_PENDING, "name": "Oldest pending event",
     "limit": Decimal(300), "window_minutes": 15},
)  # fmt: skip

DEMO_ENDPOINTS = (
    ("autranex-demo", "autranex", None),
    ("procureiq-demo", "procureiq", None),
    ("automation-demo", "automation", "demo-installation"),
    ("standard-demo", "standard", None),
)


class Command(BaseCommand):
    help = (
        "Create the demo data if missing (one sandbox endpoint per provider scheme, an 'admin' "
        "superuser and the default alert thresholds). Safe to run any number of times."
    )

    def handle(self, *args, **options):
        with transaction.atomic():
            self._admin()
            for slug, provider, key in DEMO_ENDPOINTS:
                if not Endpoint.objects.filter(slug=slug).exists():
                    endpoint_create(
                        slug=slug,
                        provider=provider,
                        environment="sandbox",
                        name=f"Demo ({provider})",
                        installation_key=key,
                    )
            if not Block.objects.exists():
                block_create(**DEFAULT_BLOCK)
            self._thresholds()
        self._sample_events()
        self.stdout.write("Demo endpoints (sandbox) and their current secrets:")
        for slug, provider, key in DEMO_ENDPOINTS:
            endpoint = Endpoint.objects.get(slug=slug)
            live = secrets_live(endpoint=endpoint)
            secret = secret_reveal(secret=live[0]) if live else "(no live secret)"
            query = f"?key={key}" if key else ""
            self.stdout.write(f"  {provider:<11} {endpoint.receiver_path}{query}  secret: {secret}")

    def _thresholds(self) -> None:
        """Each default threshold once: one of its kind for every endpoint is left as it is."""
        for threshold in DEFAULT_THRESHOLDS:
            if not AlertThreshold.objects.filter(kind=threshold["kind"], endpoint=None).exists():
                AlertThreshold.objects.create(**threshold)

    def _sample_events(self) -> None:
        """Sample deliveries through the real receiver (signed, verified, stored, queued), once,
        so the worker cluster holds the large order as soon as it starts."""
        endpoints = {slug: Endpoint.objects.get(slug=slug) for slug, _, _ in DEMO_ENDPOINTS}
        if any(endpoint.events.exists() for endpoint in endpoints.values()):
            return
        for slug, event_type, order_id, amount in SAMPLE_EVENTS:
            sample = sample_delivery(
                endpoint=endpoints[slug],
                event_type=event_type,
                order_id=order_id,
                amount=Decimal(amount),
                customer_id="cus_demo_northstar",
            )
            body = sample.body
            receive(
                IncomingDelivery(
                    slug=slug,
                    headers={name.lower(): value for name, value in sample.headers.items()},
                    query={},
                    remote_addr="127.0.0.1",
                    content_length=len(body),
                    read_body=lambda limit, body=body: body[:limit],
                )
            )
        self.stdout.write(f"Queued {len(SAMPLE_EVENTS)} sample events; one order will be held.")

    def _admin(self) -> None:
        users = get_user_model().objects
        if users.filter(username="admin").exists():
            return
        password = os.environ.get("HOOKDESK_ADMIN_PASSWORD")
        users.create_superuser(
            "admin", "admin@example.invalid", password or (password := secrets.token_urlsafe(12))
        )
        if os.environ.get("HOOKDESK_ADMIN_PASSWORD"):
            self.stdout.write("Created superuser 'admin' with HOOKDESK_ADMIN_PASSWORD.")
        else:
            self.stdout.write(
                f"Created superuser 'admin' with password {password} (shown this once)."
            )
