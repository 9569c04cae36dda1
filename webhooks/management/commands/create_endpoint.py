from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from webhooks.models import Environment
from webhooks.providers import SCHEMES
from webhooks.services import SecretError, endpoint_create


class Command(BaseCommand):
    help = "Create a webhook endpoint. Prints its secret alone on the last line."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--provider", required=True, choices=list(SCHEMES))
        parser.add_argument("--secret", help="Use this secret instead of generating one.")
        parser.add_argument("--key", help="Installation key the sender passes as ?key=.")
        parser.add_argument(
            "--environment", choices=Environment.values, default=Environment.PRODUCTION
        )
        parser.add_argument("--name", default="")

    def handle(self, *args, slug, provider, secret, key, environment, name, **options):
        try:
            endpoint, secret = endpoint_create(
                slug=slug,
                provider=provider,
                environment=environment,
                name=name,
                secret=secret,
                installation_key=key,
            )
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from None
        except SecretError as error:
            raise CommandError(str(error)) from None
        self.stderr.write(
            f"Endpoint {endpoint.slug} ({endpoint.provider}, {endpoint.environment}) receives at "
            f"{endpoint.receiver_path}. Its secret follows; it is not shown again."
        )
        self.stdout.write(secret)
