from django.core.management.base import BaseCommand, CommandError

from webhooks.models import Endpoint
from webhooks.services import DEFAULT_GRACE, SecretError, parse_grace, secret_rotate


class Command(BaseCommand):
    help = (
        "Rotate an endpoint's secret; the old one stays valid for the grace window. "
        "Prints the new secret alone on the last line."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--grace", default=DEFAULT_GRACE, help="0, 1h, 24h (default) or 7d")
        parser.add_argument("--secret", help="Use this secret instead of generating one.")

    def handle(self, *args, slug, grace, secret, **options):
        try:
            endpoint = Endpoint.objects.get(slug=slug)
        except Endpoint.DoesNotExist:
            raise CommandError(f"no endpoint {slug!r}") from None
        try:
            stored, secret = secret_rotate(
                endpoint=endpoint, grace=parse_grace(grace), secret=secret
            )
        except SecretError as error:
            raise CommandError(str(error)) from None
        self.stderr.write(
            f"New primary secret {stored.fingerprint} for {slug}; older secrets stay valid "
            f"for {grace}. The secret follows; it is not shown again."
        )
        self.stdout.write(secret)
