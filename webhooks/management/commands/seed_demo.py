import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from webhooks.models import Endpoint
from webhooks.selectors import secrets_live
from webhooks.services import endpoint_create, secret_reveal

DEMO_ENDPOINTS = (
    ("autranex-demo", "autranex", None),
    ("procureiq-demo", "procureiq", None),
    ("automation-demo", "automation", "demo-installation"),
    ("standard-demo", "standard", None),
)


class Command(BaseCommand):
    help = (
        "Create the demo data if missing (one sandbox endpoint per provider scheme and an "
        "'admin' superuser). Safe to run any number of times."
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
        self.stdout.write("Demo endpoints (sandbox) and their current secrets:")
        for slug, provider, key in DEMO_ENDPOINTS:
            endpoint = Endpoint.objects.get(slug=slug)
            live = secrets_live(endpoint=endpoint)
            secret = secret_reveal(secret=live[0]) if live else "(no live secret)"
            query = f"?key={key}" if key else ""
            self.stdout.write(f"  {provider:<11} {endpoint.receiver_path}{query}  secret: {secret}")

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
