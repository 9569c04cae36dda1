"""Benchmark of outbound deliveries through a real django-q2 cluster, with one receiver hanging.

N held orders are written with their outbox rows (the production function
integrations.outbound.deliveries_create_for_hold, in batches as decisions commit) while a
`qcluster` with 2 workers runs. Two runs on a fresh database each:

* **alone**: one destination, a local sink answering 200 at once.
* **with a hanging destination**: the same sink, plus a destination whose receiver accepts
  connections and never answers (connection timeout PT2S). Every hold is owed to both.

Each run writes the holds twice: first as a burst (as fast as decisions commit), for
deliveries/s to the healthy sink (first decision to last success); then paced at --rate holds/s
for --paced-seconds, for p50/p99 of decision to delivered at that rate. Also reported: what the
hanging destination cost (attempts made, deliveries deferred by its open circuit), deliveries
that needed a retry, and the sink's own ceiling, measured in the same run by a client process
posting to it from 50 threads. The healthy rate with a hanging destination should stay close
to the rate alone.

    .venv/bin/python bench/outbound.py [--holds N] [--broker orm|redis] [--rate R] [--json]

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


def make_holds(count: int, *, rate: float | None = None, prefix: str = "b") -> None:
    """Held orders as processing leaves them, each decision committing with its outbox rows:
    as fast as they commit, or `rate` a second."""
    from django.db import transaction
    from django.utils import timezone

    from integrations.outbound import deliveries_create_for_hold
    from rules.models import HeldOrder, HoldSource, Order
    from webhooks.models import Event
    from webhooks.services import endpoint_create

    endpoint, _ = endpoint_create(slug=f"bench-{time.time_ns()}", provider="autranex")
    batch = 25 if rate is None else max(1, round(rate / 20))
    began = time.monotonic()
    for start in range(0, count, batch):
        if rate is not None:
            time.sleep(max(0.0, began + start / rate - time.monotonic()))
        with transaction.atomic():
            now = timezone.now()
            numbers = range(start, min(start + batch, count))
            events = Event.objects.bulk_create(
                [
                    Event(
                        endpoint=endpoint,
                        provider_event_id=f"evt_{prefix}{n}",
                        event_type="order.held",
                        body=b"{}",
                        body_sha256="0" * 64,
                        status="processed",
                        received_at=now,
                    )
                    for n in numbers
                ]
            )
            orders = Order.objects.bulk_create(
                [Order(order_id=f"ord_{prefix}{n}") for n in numbers]
            )
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


# The sink's ceiling: a client process posting to it from many threads, as the drains do.
CEILING_CLIENT = """
import sys, threading, time, httpx
url, seconds, threads = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
counts, stop = [0] * threads, time.monotonic() + seconds
def post(i):
    with httpx.Client(limits=httpx.Limits(max_connections=1)) as client:
        while time.monotonic() < stop:
            client.post(url, content=b'{"event_type":"order.held"}')
            counts[i] += 1
workers = [threading.Thread(target=post, args=(i,)) for i in range(threads)]
[w.start() for w in workers]; [w.join() for w in workers]
print(sum(counts) / seconds)
"""


def sink_ceiling(url: str, *, seconds: float = 4.0, threads: int = 50) -> float:
    output = subprocess.run(
        [PY, "-c", CEILING_CLIENT, url, str(seconds), str(threads)],
        capture_output=True,
        text=True,
        check=True,
    )
    return round(float(output.stdout.strip()), 1)


def _wait_for_successes(destination, count: int, deadline: float) -> int:
    from integrations.models import DeliveryStatus, OutboundDelivery

    done = 0
    while time.monotonic() < deadline:
        done = OutboundDelivery.objects.filter(
            destination=destination, status=DeliveryStatus.SUCCEEDED
        ).count()
        if done >= count:
            break
        time.sleep(0.2)
    return done


def _latencies(destination, prefix: str) -> list[float]:
    from integrations.models import DeliveryStatus, OutboundDelivery

    return [
        (succeeded - created).total_seconds()
        for created, succeeded in OutboundDelivery.objects.filter(
            destination=destination,
            status=DeliveryStatus.SUCCEEDED,
            order_id__startswith=f"ord_{prefix}",
        ).values_list("created_at", "succeeded_at")
    ]


def run(
    *, holds: int, broker: str, hanging: bool, timeout: float, rate: float, paced_seconds: float
) -> dict:
    env = env_for(broker)
    fresh_database(env)
    stack.django_setup(env)
    from django.db import connections
    from django.db.models import Count, Max, Min

    from integrations.models import DeliveryStatus, OutboundAttempt, OutboundDelivery
    from integrations.services import destination_create

    connections.close_all()
    with stack.Sink(answer_ok) as sink, stack.black_hole() as hole_url:
        healthy, _ = destination_create(name="healthy", url=sink.url)
        if hanging:
            destination_create(name="hanging", url=hole_url, connection_timeout="PT2S")
        ceiling = sink_ceiling(sink.url)
        log(f"{'with' if hanging else 'without'} a hanging destination: a backlog of {holds}")
        make_holds(holds, prefix="k")  # before the cluster starts: deliveries wait for it
        with stack.running(stack.qcluster(env, workers=2), timeout=30):
            _wait_for_successes(healthy, holds, time.monotonic() + timeout)
            backlog = OutboundAttempt.objects.filter(
                delivery__destination=healthy, delivery__order_id__startswith="ord_k"
            ).aggregate(first=Min("started_at"))
            backlog |= OutboundDelivery.objects.filter(
                destination=healthy, status=DeliveryStatus.SUCCEEDED, order_id__startswith="ord_k"
            ).aggregate(last=Max("succeeded_at"), done=Count("id"))
            backlog_span = (backlog["last"] - backlog["first"]).total_seconds()
            log(f"a burst of {holds} holds")
            started = time.monotonic()
            make_holds(holds, prefix="b")
            written = time.monotonic() - started
            done = _wait_for_successes(healthy, 2 * holds, started + timeout) - holds
            burst = OutboundDelivery.objects.filter(
                destination=healthy, status=DeliveryStatus.SUCCEEDED, order_id__startswith="ord_b"
            ).aggregate(first=Min("created_at"), last=Max("succeeded_at"))
            span = (burst["last"] - burst["first"]).total_seconds() if done else 0.0
            burst_latencies = _latencies(healthy, "b")
            paced = round(rate * paced_seconds)
            log(f"paced: {paced} holds at {rate:g}/s")
            make_holds(paced, rate=rate, prefix="p")
            _wait_for_successes(healthy, 2 * holds + paced, time.monotonic() + timeout)
            paced_latencies = _latencies(healthy, "p")
            retried = OutboundDelivery.objects.filter(destination=healthy, attempts__gt=1).count()
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
        "seconds": round(span, 2),
        "deliveries_per_second": round(done / span, 1) if span else 0.0,
        "backlog_per_second": round(backlog["done"] / backlog_span, 1) if backlog_span else 0.0,
        "sink_ceiling_per_second": ceiling,
        "holds_written_per_second": round(holds / written, 1),
        "burst_p99_decision_to_delivered_s": round(percentile(burst_latencies, 0.99), 3),
        "paced_rate": rate,
        "p50_decision_to_delivered_s": round(percentile(paced_latencies, 0.5), 3),
        "p99_decision_to_delivered_s": round(percentile(paced_latencies, 0.99), 3),
        "retried": retried,
        "hanging_attempts": hanging_attempts,
        "hanging_deferred_without_attempt": hanging_pending,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--holds", type=int, default=3000)
    parser.add_argument("--broker", choices=["orm", "redis"], default="redis")
    parser.add_argument("--rate", type=float, default=100.0, help="holds/s of the paced run")
    parser.add_argument("--paced-seconds", type=float, default=15.0)
    parser.add_argument("--timeout", type=float, default=180.0)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--only", choices=["alone", "hanging"])
    args = parser.parse_args()
    options = {"holds": args.holds, "broker": args.broker, "timeout": args.timeout,
               "rate": args.rate, "paced_seconds": args.paced_seconds}  # fmt: skip
    results = []
    for hanging in (False, True):
        if args.only and args.only != ("hanging" if hanging else "alone"):
            continue
        if args.only:
            results.append(run(hanging=hanging, **options))
            continue
        # Each run in its own process: Django is set up once per process.
        flags = [f"--{name.replace('_', '-')}={value}" for name, value in options.items()]
        output = subprocess.run(
            [PY, __file__, *flags, "--json", "--only", "hanging" if hanging else "alone"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        )
        results.extend(json.loads(output.stdout))
    if args.json:
        print(json.dumps(results))
        return 0
    print(
        f"outbound deliveries ({args.broker} broker, 2 workers): a backlog of {args.holds},"
        f" a burst of {args.holds} holds, then {args.rate:g} holds/s for {args.paced_seconds:g} s"
    )
    print(
        f"{'run':<28}{'backlog/s':>10}{'sink max':>10}{'ratio':>7}{'holds/s':>8}{'per s':>8}"
        f"{'p50 s':>8}{'p99 s':>8}{'retried':>8}{'hang att.':>10}{'hang def.':>10}"
    )
    for r in results:
        name = "with a hanging destination" if r["hanging_destination"] else "healthy sink alone"
        ratio = r["backlog_per_second"] / r["sink_ceiling_per_second"]
        print(
            f"{name:<28}{r['backlog_per_second']:>10}{r['sink_ceiling_per_second']:>10}"
            f"{ratio:>7.2f}{r['holds_written_per_second']:>8}{r['deliveries_per_second']:>8}"
            f"{r['p50_decision_to_delivered_s']:>8}{r['p99_decision_to_delivered_s']:>8}"
            f"{r['retried']:>8}{r['hanging_attempts']:>10}{r['hanging_deferred_without_attempt']:>10}"
        )
    print(
        "backlog/s: deliveries/s to the healthy sink draining a backlog written before the"
        " cluster started (first attempt to last success); sink max: the sink's own ceiling;"
        " holds/s, per s: a burst of live decisions, as fast as they commit, and its"
        " deliveries/s; p50/p99: decision to delivered in the paced run."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
