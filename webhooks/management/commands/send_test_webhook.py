import json
from decimal import Decimal, InvalidOperation

import httpx
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from webhooks.models import Endpoint
from webhooks.samples import sample_delivery, sample_fields_dropped, sample_send

DEFAULT_AMOUNT = "5500"
OPTION_OF_FIELD = {"amount": "--amount", "customer": "--customer-id"}


def _amount(value: str) -> Decimal:
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise CommandError(f"--amount must be a number, got {value!r}") from None
    if not amount.is_finite() or amount < 0:
        raise CommandError("--amount must be a non-negative number")
    return amount


class Command(BaseCommand):
    help = (
        "Sign a sample event for an endpoint's scheme and POST it to the receiver over HTTP. "
        "It is stored as a test event: its hold, if any, stays out of the review queue by default."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--event-type", required=True)
        parser.add_argument("--order-id")
        parser.add_argument("--amount", help=f"Order value (default {DEFAULT_AMOUNT}).")
        parser.add_argument("--customer-id")
        parser.add_argument(
            "--base-url",
            default=settings.HOOKDESK["PUBLIC_BASE_URL"],
            help="Where hookdesk's receiver listens (default %(default)s).",
        )

    def handle(self, *args, slug, event_type, order_id, amount, customer_id, base_url, **opts):
        try:
            endpoint = Endpoint.objects.get(slug=slug)
        except Endpoint.DoesNotExist:
            raise CommandError(f"no endpoint {slug!r}") from None
        given = {"amount": amount is not None, "customer": customer_id is not None}
        for dropped in sample_fields_dropped(endpoint.provider):
            if given[dropped]:
                self.stderr.write(
                    f"warning: the {endpoint.provider} scheme's events carry no {dropped}: "
                    f"{OPTION_OF_FIELD[dropped]} is not sent (the receiver learns only the order "
                    "id and event type)"
                )
        delivery = sample_delivery(
            endpoint=endpoint,
            event_type=event_type,
            order_id=order_id,
            amount=_amount(amount if amount is not None else DEFAULT_AMOUNT),
            customer_id=customer_id,
            test=True,
        )
        try:
            response = sample_send(delivery=delivery, base_url=base_url)
        except httpx.HTTPError as error:
            raise CommandError(f"could not reach {base_url}: {error}") from None
        self.stderr.write(f"POST {base_url.rstrip('/')}{delivery.path.split('?')[0]}")
        self.stdout.write(f"{response.status_code} {response.text}")
        try:
            body = json.loads(response.text)
        except ValueError:
            body = {}
        if response.status_code != 200:
            raise CommandError(f"receiver answered {response.status_code}: {body or response.text}")
