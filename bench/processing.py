"""Benchmark of background processing through a real django-q2 cluster.

Figures, for the ORM broker and the Redis broker:

* throughput: N stored events (orders, half of them over $5,000) processed by `qcluster`
  with the default block and every risk signal, against the same cluster running N no-op tasks
  (bench.tasks.noop) as the baseline. Both are timed from the first enqueue to the last task
  done, with the cluster already running. Events are queued as the receiver queues them
  (webhooks.processing.event_enqueue): with Redis, as wake-ups of their endpoint.
* receipt to hold (Redis broker): signed deliveries posted over HTTP to gunicorn at a steady
  rate (default 100/s) while the cluster runs; p50/p99 of hold.created_at - event.received_at.

Targets: >= 500 events/s with Redis; receipt-to-hold p99 < 1 s at 100 events/s.
Each run uses a fresh PostgreSQL database (hookdesk_bench_proc) and Redis db 13.

    .venv/bin/python bench/processing.py [--events N] [--rate R] [--seconds S] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import subprocess
import sys
import time
from pathlib import Path

# Run as a script: the stack library is beside bench/.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import stack

REPO = stack.ROOT

DB_URL = stack.database_url("hookdesk_bench_proc")
SECRET_KEY = "bench-processing-secret-key"  # noqa: S105  every process of a run shares it
REDIS_URL = "redis://127.0.0.1:6379/13"
SECRET = "bench-processing-secret-0123456789"  # noqa: S105  a throwaway bench endpoint
PY = sys.executable


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def base_env(broker: str) -> dict[str, str]:
    return stack.environment(
        database_url=DB_URL,
        secret_key=SECRET_KEY,
        redis_url=REDIS_URL if broker == "redis" else None,
        LOG_LEVEL="WARNING",
    )


def fresh_database() -> None:
    stack.fresh_database(base_env("orm"))
    stack.redis_flush(REDIS_URL)


def prepare_events(count: int) -> list[str]:
    """Store `count` signed ProcureIQ orders as the receiver would, without queueing them."""
    from rules.models import Block
    from rules.services import block_create
    from webhooks.models import Endpoint, Event
    from webhooks.services import endpoint_create

    if not Block.objects.exists():
        block_create(name="High-value order auto-hold", condition="order_value > 5000")
    endpoint = (
        Endpoint.objects.filter(slug="bench").first()
        or endpoint_create(slug="bench", provider="procureiq", secret=SECRET)[0]
    )
    secret_row = endpoint.secrets.first()
    stamp = time.time_ns()
    events = []
    for n in range(count):
        body = json.dumps({
            "id": f"evt_b{stamp}_{n}", "type": "order.created", "version": "1.0",
            "created": int(time.time()),
            "data": {"orderId": f"ord_b{stamp}_{n}", "userId": f"usr_{n % 500}",
                     "totalAmount": 7000 if n % 2 else 900, "currency": "USD"},
        }).encode()  # fmt: skip
        events.append(
            Event(
                endpoint=endpoint,
                provider_event_id=f"evt_b{stamp}_{n}",
                event_type="order.created",
                body=body,
                body_sha256=hashlib.sha256(body).hexdigest(),
                headers={"x-procureiq-signature": "sha256=" + hmac.new(
                    SECRET.encode(), body, "sha256").hexdigest()},
                verified_by=secret_row,
            )
        )  # fmt: skip
    Event.objects.bulk_create(events, batch_size=1000)
    return endpoint.pk, [e.pk for e in events]


def wait_until(predicate, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic()
        time.sleep(0.05)
    raise TimeoutError("the cluster did not finish in time")


def measure_throughput(broker: str, count: int) -> dict[str, float]:
    from django_q.brokers import get_broker
    from django_q.tasks import async_task

    from webhooks.models import Event, EventStatus
    from webhooks.processing import event_enqueue

    queue = get_broker()
    with stack.running(stack.qcluster(base_env(broker), workers=2)):
        time.sleep(4)  # cluster start-up, not measured

        # Baseline: no-op tasks. Their completion is seen as an empty queue plus the tasks in
        # flight; with bulk dequeue that is a little early, which flatters the baseline.
        started = time.monotonic()
        for n in range(count):
            async_task("bench.tasks.noop", f"noop{n}", broker=queue)
        wait_until(lambda: (queue.queue_size() or 0) == 0, timeout=600)
        time.sleep(0.3)
        baseline = count / (time.monotonic() - started)

        endpoint_id, ids = prepare_events(count)
        started = time.monotonic()
        for event_id in ids:
            # As the receiver queues each event it stores (coalesced per endpoint on Redis).
            event_enqueue(event_id, trigger="queue", endpoint_id=endpoint_id)
        done = wait_until(
            lambda: Event.objects.filter(pk__in=ids, status=EventStatus.PROCESSED).count() == count,
            timeout=900,
        )
        hookdesk = count / (done - started)
    return {"baseline_tasks_per_s": baseline, "events_per_s": hookdesk}


def measure_latency(rate: float, seconds: float) -> dict[str, float]:
    import httpx

    from rules.models import HeldOrder

    env = base_env("redis")
    port = stack.free_port()
    web = stack.web(env, port=port, workers=2)
    url = f"http://127.0.0.1:{port}/webhooks/bench/"
    with stack.running(web, stack.qcluster(env, workers=2)):
        web.wait_answering(port, "/admin/login/")
        time.sleep(4)  # the cluster's workers are up
        total = int(rate * seconds)
        stamp = time.time_ns()
        started = time.monotonic()
        with httpx.Client(timeout=10) as client:
            for n in range(total):
                body = json.dumps({"id": f"evt_l{stamp}_{n}", "type": "order.created",
                                   "data": {"orderId": f"ord_l{stamp}_{n}", "userId": "u1",
                                            "totalAmount": 8000}}).encode()  # fmt: skip
                digest = hmac.new(SECRET.encode(), body, "sha256").hexdigest()
                due = started + n / rate
                time.sleep(max(0.0, due - time.monotonic()))
                response = client.post(url, content=body, headers={
                    "X-ProcureIQ-Signature": f"sha256={digest}",
                    "Content-Type": "application/json"})  # fmt: skip
                if response.status_code != 200:
                    raise RuntimeError(f"receiver answered {response.status_code}")
        holds = HeldOrder.objects.filter(order__order_id__startswith=f"ord_l{stamp}_")
        wait_until(lambda: holds.count() == total, timeout=120)
        delays = sorted(
            (hold.created_at - hold.event.received_at).total_seconds()
            for hold in holds.select_related("event")
        )
    return {
        "rate": rate,
        "holds": len(delays),
        "p50_s": delays[len(delays) // 2],
        "p99_s": delays[min(len(delays) - 1, int(len(delays) * 0.99))],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    results: dict[str, dict] = {}
    for broker in ("orm", "redis"):
        log(f"processing throughput, {broker} broker, {args.events} events …")
        fresh_database()
        # Each broker is a separate interpreter: django-q2 reads its broker once per process.
        completed = subprocess.run(
            [PY, __file__, "--inner-throughput", broker, str(args.events)],
            cwd=REPO, env=base_env(broker), check=True, capture_output=True, text=True,
        )  # fmt: skip
        results[broker] = json.loads(completed.stdout.strip().splitlines()[-1])
    log(f"receipt to hold at {args.rate:g} events/s for {args.seconds:g} s …")
    completed = subprocess.run(
        [PY, __file__, "--inner-latency", str(args.rate), str(args.seconds)],
        cwd=REPO, env=base_env("redis"), check=True, capture_output=True, text=True,
    )  # fmt: skip
    results["latency"] = json.loads(completed.stdout.strip().splitlines()[-1])

    print(f"{'figure':44} {'hookdesk':>10} {'baseline':>10} {'ratio':>7}  target")
    for broker in ("orm", "redis"):
        figures = results[broker]
        ratio = figures["events_per_s"] / figures["baseline_tasks_per_s"]
        target = "≥ 500/s " + ("met" if figures["events_per_s"] >= 500 else "missed")
        print(
            f"{'events/s processed, ' + broker + ' broker':44} {figures['events_per_s']:10.0f} "
            f"{figures['baseline_tasks_per_s']:10.0f} {ratio:7.2f}  "
            + (target if broker == "redis" else "(no-op tasks)")
        )
    latency = results["latency"]
    p99_ok = "met" if latency["p99_s"] < 1 else "missed"
    print(f"{'receipt→hold p50 at {:g}/s (s)'.format(latency['rate']):44} {latency['p50_s']:10.3f}")
    print(f"{'receipt→hold p99 at {:g}/s (s)'.format(latency['rate']):44} {latency['p99_s']:10.3f}"
          f"{'':19}< 1 s {p99_ok}")  # fmt: skip
    if args.json:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--inner-throughput":
        stack.django_setup(base_env(sys.argv[2]))
        print(json.dumps(measure_throughput(sys.argv[2], int(sys.argv[3]))))
    elif len(sys.argv) == 4 and sys.argv[1] == "--inner-latency":
        stack.django_setup(base_env("redis"))
        print(json.dumps(measure_latency(float(sys.argv[2]), float(sys.argv[3]))))
    else:
        sys.exit(main())
