"""Fill the database with a large, realistic data set for the admin benchmark: events across
endpoints, types, statuses and a month of time, orders, held orders and deliveries.

On PostgreSQL rows go in with COPY (a million events in about a minute); elsewhere with
bulk_create in batches. Everything it makes is marked `load_` so it is easy to tell apart."""

import hashlib
import io
import json
import random
import time
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, models, transaction
from django.utils import timezone

from core.ids import new_event_id
from rules.models import Block, BlockStatus, HeldOrder, HoldSource, HoldStatus, Order
from rules.services import block_create
from webhooks.models import Delivery, DeliveryOutcome, Endpoint, Event, EventStatus
from webhooks.services import endpoint_create

PREFIX = "load_"
EVENT_TYPES = (
    "order.created",
    "order.confirmed",
    "order.shipped",
    "order.delivered",
    "payment.succeeded",
    "payment.failed",
    "order.cancelled",
)
STATUSES = (
    (EventStatus.PROCESSED, 90),
    (EventStatus.PENDING, 4),
    (EventStatus.FAILED, 3),
    (EventStatus.DEAD, 3),
)
OUTCOMES = (
    (DeliveryOutcome.ACCEPTED, 92),
    (DeliveryOutcome.INVALID_SIGNATURE, 4),
    (DeliveryOutcome.DUPLICATE, 3),
    (DeliveryOutcome.TIMESTAMP_OUT_OF_TOLERANCE, 1),
)
HOLD_STATUSES = ((HoldStatus.HELD, 30), (HoldStatus.RELEASED, 55), (HoldStatus.REJECTED, 15))
PROVIDERS = ("procureiq", "autranex", "standard", "automation")


def _weighted(choices):
    values, weights = zip(*choices, strict=True)
    return values, weights


def _copy_text(field: models.Field, value) -> str:
    """One value in PostgreSQL's COPY text format."""
    if value is None:
        return r"\N"
    if isinstance(field, models.JSONField):
        text = json.dumps(value)
    elif isinstance(value, bytes | memoryview):
        return "\\\\x" + bytes(value).hex()
    elif isinstance(value, bool):
        return "t" if value else "f"
    elif isinstance(value, datetime | date):
        text = value.isoformat()
    else:
        text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


class Loader:
    """Writes rows given as {attname: value}; fields left out get their model default."""

    def __init__(self, model, batch: int):
        self.model, self.batch = model, batch
        self.fields = [
            f for f in model._meta.concrete_fields if not isinstance(f, models.AutoField)
        ]
        self.buffer: list = []
        self.written = 0

    def add(self, row: dict) -> None:
        self.buffer.append(row)
        if len(self.buffer) >= self.batch:
            self.flush()

    def _value(self, field, row):
        if field.attname in row:
            return row[field.attname]
        return field.get_default()

    def flush(self) -> None:
        if not self.buffer:
            return
        if connection.vendor == "postgresql":
            lines = io.StringIO()
            for row in self.buffer:
                lines.write(
                    "\t".join(_copy_text(f, self._value(f, row)) for f in self.fields) + "\n"
                )
            lines.seek(0)
            columns = ", ".join(connection.ops.quote_name(f.column) for f in self.fields)
            table = connection.ops.quote_name(self.model._meta.db_table)
            with connection.cursor() as cursor:
                cursor.copy_expert(f"COPY {table} ({columns}) FROM STDIN", lines)
        else:
            self.model.objects.bulk_create(
                [
                    self.model(**{f.attname: self._value(f, row) for f in self.fields})
                    for row in self.buffer
                ]
            )
        self.written += len(self.buffer)
        self.buffer = []


class Command(BaseCommand):
    help = "Generate a large data set (events, orders, held orders, deliveries) for benchmarks."

    def add_arguments(self, parser):
        parser.add_argument("--events", type=int, default=1_000_000)
        parser.add_argument("--holds", type=int, default=100_000)
        parser.add_argument("--deliveries", type=int, default=100_000)
        parser.add_argument("--days", type=int, default=30)
        parser.add_argument("--batch", type=int, default=20_000)
        parser.add_argument("--seed", type=int, default=7)

    def handle(self, *args, **options):
        if options["holds"] > options["events"]:
            raise CommandError("each hold needs its own event: --holds must not exceed --events")
        rng = random.Random(options["seed"])  # noqa: S311  test data, not secrets
        started = time.monotonic()
        endpoints = self._endpoints()
        blocks = self._blocks()
        with transaction.atomic():
            self._load(rng, endpoints, blocks, options)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                for model in (Event, Order, HeldOrder, Delivery):
                    cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
        self.stdout.write(f"done in {time.monotonic() - started:.1f} s")

    def _endpoints(self) -> list[Endpoint]:
        endpoints = []
        for provider in PROVIDERS:
            slug = f"{PREFIX}{provider}".replace("_", "-")
            endpoint = Endpoint.objects.filter(slug=slug).first()
            if endpoint is None:
                endpoint, _secret = endpoint_create(
                    slug=slug, provider=provider, name=f"Load test ({provider})"
                )
            endpoints.append(endpoint)
        return endpoints

    def _blocks(self) -> list[Block]:
        wanted = {
            f"{PREFIX}high value": "order_value > 5000",
            f"{PREFIX}new customer": "order_value > 2000 and customer_age_days < 30",
            f"{PREFIX}sanctions": "ship_to_country in ofac_regions",
        }
        blocks = []
        for name, condition in wanted.items():
            block = Block.objects.filter(name=name).first() or block_create(
                name=name, condition=condition, action="hold", status=BlockStatus.SHADOW
            )
            blocks.append(block)
        return blocks

    def _load(self, rng, endpoints, blocks, options):
        now = timezone.now()
        span = options["days"] * 86400
        batch = options["batch"]
        statuses, status_weights = _weighted(STATUSES)
        events = Loader(Event, batch)
        held_events = []  # (event id, endpoint, received_at, order_id, customer, amount)
        run = f"{int(now.timestamp())}"
        for n in range(options["events"]):
            endpoint = endpoints[n % len(endpoints)]
            received = now - timedelta(seconds=rng.random() * span)
            order_id = f"{PREFIX}ord_{run}_{n // 3}"
            customer = f"{PREFIX}cus_{rng.randrange(50_000)}"
            amount = Decimal(rng.randrange(100, 2_000_000)) / 100
            event_type = EVENT_TYPES[n % len(EVENT_TYPES)]
            body = json.dumps(
                {
                    "id": f"evt_{run}_{n}",
                    "type": event_type,
                    "data": {
                        "orderId": order_id,
                        "userId": customer,
                        "totalAmount": float(amount),
                        "currency": "USD",
                    },
                }
            ).encode()
            status = rng.choices(statuses, status_weights)[0]
            event_id = new_event_id()
            events.add(
                {
                    "id": event_id,
                    "endpoint_id": endpoint.pk,
                    "provider_event_id": f"evt_{run}_{n}",
                    "event_type": event_type,
                    "received_at": received,
                    "body": body,
                    "body_sha256": hashlib.sha256(body).hexdigest(),
                    "headers": {"content-type": "application/json"},
                    "status": status,
                    "attempts": 1 if status == EventStatus.PROCESSED else 4,
                    "processed_at": received + timedelta(seconds=1)
                    if status == EventStatus.PROCESSED
                    else None,
                    "order_id": order_id,
                    "customer_id": customer,
                    "updated_at": received,
                }
            )
            if n % 3 == 0 and len(held_events) < options["holds"]:
                held_events.append((event_id, endpoint, received, order_id, customer, amount))
            if n and n % 100_000 == 0:
                self.stderr.write(f"  {n} events")
        events.flush()
        self.stderr.write(f"{events.written} events")
        self._holds(rng, blocks, held_events, batch)
        self._deliveries(rng, endpoints, options["deliveries"], span, now, batch)

    def _holds(self, rng, blocks, held_events, batch):
        orders = Loader(Order, batch)
        for event_id, endpoint, received, order_id, customer, amount in held_events:
            del event_id
            orders.add(
                {
                    "order_id": order_id,
                    "endpoint_id": endpoint.pk,
                    "customer_id": customer,
                    "amount": amount,
                    "currency": "USD",
                    "first_seen_at": received,
                    "updated_at": received,
                }
            )
        orders.flush()
        order_pks = {}
        wanted = [row[3] for row in held_events]
        for start in range(0, len(wanted), 10_000):
            chunk = wanted[start : start + 10_000]
            order_pks.update(Order.objects.filter(order_id__in=chunk).values_list("order_id", "pk"))
        statuses, weights = _weighted(HOLD_STATUSES)
        holds = Loader(HeldOrder, batch)
        for n, (event_id, _endpoint, received, order_id, customer, amount) in enumerate(
            held_events
        ):
            block = blocks[n % len(blocks)]
            status = rng.choices(statuses, weights)[0]
            decided = received + timedelta(minutes=rng.randrange(5, 600))
            holds.add(
                {
                    "id": f"hold_{PREFIX}{event_id.lower()}",
                    "order_id": order_pks[order_id],
                    "status": status,
                    "source": HoldSource.BLOCK,
                    "amount": amount,
                    "currency": "USD",
                    "customer_id": customer,
                    "block_id": block.pk,
                    "block_version": block.version,
                    "reasons": [f"{block.name}: {block.condition}"],
                    "signals": {"order_value": str(amount)},
                    "event_id": event_id,
                    "created_at": received,
                    "decided_at": None if status == HoldStatus.HELD else decided,
                    "decision_reason": "" if status == HoldStatus.HELD else "load test",
                }
            )
        holds.flush()
        self.stderr.write(f"{orders.written} orders, {holds.written} held orders")

    def _deliveries(self, rng, endpoints, count, span, now, batch):
        outcomes, weights = _weighted(OUTCOMES)
        deliveries = Loader(Delivery, batch)
        for n in range(count):
            endpoint = endpoints[n % len(endpoints)]
            outcome = rng.choices(outcomes, weights)[0]
            deliveries.add(
                {
                    "endpoint_id": endpoint.pk,
                    "slug": endpoint.slug,
                    "received_at": now - timedelta(seconds=rng.random() * span),
                    "outcome": outcome,
                    "status_code": 200 if outcome in ("accepted", "duplicate") else 401,
                    "remote_addr": "127.0.0.1",
                    "headers": {},
                    "body_bytes": 180,
                    "latency_ms": round(rng.uniform(2, 40), 2),
                }
            )
        deliveries.flush()
        self.stderr.write(f"{deliveries.written} deliveries")
