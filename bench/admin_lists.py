"""Server time of the console's big list pages: events and held orders, filtered and not.

Runs against the database DATABASE_URL names (PostgreSQL: the estimates and index plans are
what is measured). With fewer events than --min-events it first fills it with
`manage.py generate_load_data` (1M events, 100k holds by default). Each page is fetched once to
warm up, then --runs times through Django's test client with an authenticated superuser; the
median and the worst run are printed against the 300 ms target.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/hookdesk_bench_admin python bench/admin_lists.py
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

TARGET_MS = 300.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--min-events", type=int, default=1_000_000)
    parser.add_argument("--holds", type=int, default=100_000)
    parser.add_argument("--no-generate", action="store_true")
    args = parser.parse_args()

    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from core.pagination import estimated_rows
    from rules.models import Block, HeldOrder
    from webhooks.models import Endpoint, Event

    if connection.vendor != "postgresql":
        print("admin list benchmark: needs PostgreSQL (set DATABASE_URL); skipped")
        return 0
    call_command("migrate", verbosity=0)
    events = estimated_rows(Event.objects.all()) or Event.objects.count()
    if events < args.min_events * 0.95 and not args.no_generate:
        print(f"{events} events stored; generating the data set (takes a few minutes)…")
        call_command(
            "generate_load_data",
            events=args.min_events - events,
            holds=args.holds,
            stdout=sys.stderr,
            stderr=sys.stderr,
        )
        events = estimated_rows(Event.objects.all()) or Event.objects.count()
    holds = estimated_rows(HeldOrder.objects.all()) or HeldOrder.objects.count()

    users = get_user_model()
    admin = users.objects.filter(username="bench-admin").first() or users.objects.create_superuser(
        "bench-admin", password=None
    )
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(admin)

    endpoint = Endpoint.objects.order_by("pk").last()
    block = Block.objects.order_by("pk").last()
    some_order = Event.objects.order_by("-received_at").values_list("order_id", flat=True)[:1][0]
    pages = [
        ("events", "/admin/webhooks/event/"),
        ("events", f"/admin/webhooks/event/?endpoint={endpoint.slug}"),
        ("events", "/admin/webhooks/event/?status=dead"),
        ("events", "/admin/webhooks/event/?event_type=payment.failed&received=7d"),
        ("events", f"/admin/webhooks/event/?endpoint={endpoint.slug}&status=processed"),
        ("events", f"/admin/webhooks/event/?q={some_order}"),
        ("events", "/admin/webhooks/event/?p=50"),
        ("holds", "/admin/rules/heldorder/"),
        ("holds", "/admin/rules/heldorder/?status__exact=held"),
        ("holds", f"/admin/rules/heldorder/?block__id__exact={block.pk}"),
        ("holds", "/admin/rules/heldorder/?status__exact=held&amount=10000-50000"),
        ("holds", "/admin/rules/heldorder/?age=gt7d&provider=procureiq"),
        ("holds", f"/admin/rules/heldorder/?endpoint={endpoint.slug}&status__exact=held"),
        ("holds", f"/admin/rules/heldorder/?q={some_order}"),
        ("deliveries", "/admin/webhooks/delivery/?signature=failed"),
    ]
    print(f"admin list pages — {events:,} events, {holds:,} held orders (planner estimates)")
    print(f"{'page':<78} {'median':>8} {'worst':>8}")
    failures = 0
    for _kind, url in pages:
        response = client.get(url)
        if response.status_code != 200:
            print(f"{url:<78} HTTP {response.status_code}")
            failures += 1
            continue
        timings = []
        for _ in range(args.runs):
            started = time.perf_counter()
            client.get(url)
            timings.append((time.perf_counter() - started) * 1000)
        median, worst = statistics.median(timings), max(timings)
        flag = "" if median < TARGET_MS else "  over target"
        failures += bool(flag)
        print(f"{url:<78} {median:>6.0f}ms {worst:>6.0f}ms{flag}")
    print(f"target: median < {TARGET_MS:.0f} ms per page; {failures} page(s) over")
    return 0


if __name__ == "__main__":
    sys.exit(main())
