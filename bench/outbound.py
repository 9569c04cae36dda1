"""Benchmark of outbound deliveries through a real django-q2 cluster, with one receiver hanging.

N held orders are written with their outbox rows (the production function
integrations.outbound.deliveries_create_for_hold, in batches as decisions commit) while a
`qcluster` with 2 workers runs. Two runs on a fresh database each:

* **alone**: one destination, a local sink answering 200 at once.
* **with a hanging destination**: the same sink, plus a destination whose receiver accepts
  connections and never answers (connection timeout PT2S). Every hold is owed to both.

Figures: deliveries/s to the healthy sink (first commit to last success), p50/p99 of decision to
delivered, and what the hanging destination cost (attempts made, deliveries deferred by its open
circuit). The healthy rate with a hanging destination should stay close to the rate alone.

    .venv/bin/python bench/outbound.py [--holds N] [--broker orm|redis] [--json]

Needs PostgreSQL on 127.0.0.1 (user postgres, trust auth); Redis for --broker redis.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

# Run as a script: the stack library is beside bench/.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import stack

REPO = stack.ROOT

DB_URL = stack.database_url("hookdesk_bench_outbound")
SECRET_KEY = "bench-outbound-secret-key"  # noqa: S105  every process of a run shares it
REDIS_URL = "redis://127.0.0.1:6379/15"
PY = sys.executable


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def env_for(broker: str) -> dict[str, str]:
    return stack.environment(
        database_url=DB_URL,
        secret_key=SECRET_KEY,
        redis_url=REDIS_URL if broker == "redis" else None,
        LOG_LEVEL="WARNING",
    )


def fresh_database(env: dict[str, str]) -> None:
    stack.fresh_database(env)
    if env.get("REDIS_URL"):
        stack.redis_flush(REDIS_URL)


def answer_ok(headers, body: bytes) -> tuple[int, bytes]:
    return 200, b'{"ok":true}'


def make_holds(count: int) -> None:
    """Held orders as processing leaves them, each decision committing with its outbox rows."""
    from django.db import transaction
    from django.utils import timezone

    from integrations.outbound import deliveries_create_for_hold
    from rules.models import HeldOrder, HoldSource, Order
    from webhooks.models import Event
    from webhooks.services import endpoint_create

    endpoint, _ = endpoint_create(slug=f"bench-{time.time_ns()}", provider="autranex")
    batch = 25
    for start in range(0, count, batch):
        with transaction.atomic():
            now = timezone.now()
            numbers = range(start, min(start + batch, count))
            events = Event.objects.bulk_create(
                [
                    Event(
                        endpoint=endpoint,
                        provider_event_id=f"evt_b{n}",
                        event_type="order.held",
                        body=b"{}",
                        body_sha256="0" * 64,
                        status="processed",
                        received_at=now,
                    )
                    for n in numbers
                ]
            )
            orders = Order.objects.bulk_create([Order(order_id=f"ord_b{n}") for n in numbers])
            holds = HeldOrder.objects.bulk_create(
                [
                    HeldOrder(
                        order=order,
                        event=event,
                        source=HoldSource.UPSTREAM,
                        amount=5500 + n,
                        currency="USD",
                        reasons=["bench"],
                    )
                    for n, order, event in zip(numbers, orders, events, strict=True)
                ]
            )
            for hold in holds:
                deliveries_create_for_hold(hold=hold, event_type="order.held")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def run(*, holds: int, broker: str, hanging: bool, timeout: float) -> dict:
    env = env_for(broker)
    fresh_database(env)
    stack.django_setup(env)
    from django.db import connections

    from integrations.models import DeliveryStatus, OutboundAttempt, OutboundDelivery
    from integrations.services import destination_create

    connections.close_all()
    with stack.Sink(answer_ok) as sink, stack.black_hole() as hole_url:
        healthy, _ = destination_create(name="healthy", url=sink.url)
        if hanging:
            destination_create(name="hanging", url=hole_url, connection_timeout="PT2S")
        with stack.running(stack.qcluster(env, workers=2), timeout=30):
            time.sleep(3)  # the cluster's workers are up
            log(f"{'with' if hanging else 'without'} a hanging destination: {holds} holds")
            started = time.monotonic()
            make_holds(holds)
            deadline = started + timeout
            done = 0
            while time.monotonic() < deadline:
                done = OutboundDelivery.objects.filter(
                    destination=healthy, status=DeliveryStatus.SUCCEEDED
                ).count()
                if done >= holds:
                    break
                time.sleep(0.2)
            elapsed = time.monotonic() - started
            latencies = [
                (succeeded - created).total_seconds()
                for created, succeeded in OutboundDelivery.objects.filter(
                    destination=healthy, status=DeliveryStatus.SUCCEEDED
                ).values_list("created_at", "succeeded_at")
            ]
            hanging_attempts = OutboundAttempt.objects.filter(
                delivery__destination__name="hanging"
            ).count()
            hanging_pending = OutboundDelivery.objects.filter(
                destination__name="hanging", status=DeliveryStatus.PENDING, attempts=0
            ).count()
    connections.close_all()
    return {
        "hanging_destination": hanging,
        "holds": holds,
        "delivered": done,
        "seconds": round(elapsed, 2),
        "deliveries_per_second": round(done / elapsed, 1) if elapsed else 0.0,
        "p50_decision_to_delivered_s": round(percentile(latencies, 0.5), 3),
        "p99_decision_to_delivered_s": round(percentile(latencies, 0.99), 3),
        "hanging_attempts": hanging_attempts,
        "hanging_deferred_without_attempt": hanging_pending,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--holds", type=int, default=500)
    parser.add_argument("--broker", choices=["orm", "redis"], default="orm")
    parser.add_argument("--timeout", type=float, default=180.0)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--only", choices=["alone", "hanging"])
    args = parser.parse_args()
    results = []
    for hanging in (False, True):
        if args.only and args.only != ("hanging" if hanging else "alone"):
            continue
        # Each run in its own process: Django is set up once per process.
        if args.only:
            results.append(
                run(holds=args.holds, broker=args.broker, hanging=hanging, timeout=args.timeout)
            )
            continue
        output = subprocess.run(
            [
                PY,
                __file__,
                "--holds",
                str(args.holds),
                "--broker",
                args.broker,
                "--timeout",
                str(args.timeout),
                "--json",
                "--only",
                "hanging" if hanging else "alone",
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        )
        results.extend(json.loads(output.stdout))
    if args.json:
        print(json.dumps(results))
        return 0
    print(f"outbound deliveries ({args.broker} broker, 2 workers, {args.holds} holds)")
    print(
        f"{'run':<28}{'delivered':>10}{'per s':>8}{'p50 s':>8}{'p99 s':>8}"
        f"{'hang attempts':>15}{'hang deferred':>15}"
    )
    for r in results:
        name = "with a hanging destination" if r["hanging_destination"] else "healthy sink alone"
        print(
            f"{name:<28}{r['delivered']:>10}{r['deliveries_per_second']:>8}"
            f"{r['p50_decision_to_delivered_s']:>8}{r['p99_decision_to_delivered_s']:>8}"
            f"{r['hanging_attempts']:>15}{r['hanging_deferred_without_attempt']:>15}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
