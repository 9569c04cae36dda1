"""Reconciliation after the run: what was sent and answered against what the database holds,
what was processed, held, audited and sent on, and what the API reports.

Figures named `lost_*` and `double_*` add up to `lost` and `double_processed`."""

import json
from collections import Counter
from dataclasses import dataclass, field

import httpx
from django.db.models import Count

from chaos.faults import Fault
from chaos.sink import Sink
from chaos.traffic import Delivery

# After PostgreSQL is back, a web worker may still hold a connection from before the restart
# for its first request: Django's health check replaces it, but allow the stack this long.
OUTAGE_GRACE_SECONDS = 5.0


@dataclass
class Result:
    figures: dict = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def check(self, ok: bool, message: str) -> None:
        if not ok:
            self.failures.append(message)

    @property
    def passed(self) -> bool:
        return not self.failures


def _event_key(scheme: str, provider_event_id: str | None, body: bytes) -> tuple[str, str]:
    """Identity of a provider event: its id, or for the id-less Automation API its order."""
    if provider_event_id:
        return scheme, provider_event_id
    try:
        return scheme, "order:" + str(json.loads(body).get("orderId"))
    except (ValueError, AttributeError):
        return scheme, "unparseable"


def _plan_key(delivery: Delivery) -> tuple[str, str]:
    event = delivery.event
    if event.event_id:
        return event.scheme, event.event_id
    return event.scheme, "order:" + event.order_id


def answers(stream: list[Delivery], faults: list[Fault], result: Result) -> None:
    """Every delivery got the final answer its kind deserves; 5xx only where allowed."""
    figures = result.figures
    refused: Counter[str] = Counter()
    tries: Counter[str] = Counter()
    wrong: Counter[str] = Counter()
    outages = [
        (f.started, f.restored + OUTAGE_GRACE_SECONDS) for f in faults if f.kind == "db_restart"
    ]
    outside_outage_503 = 0
    for delivery in stream:
        for started, ended, outcome in delivery.attempts:
            tries[outcome.split(":")[0]] += 1
            # A try in flight when the database stopped is part of the outage too.
            if outcome == "503" and not any(started <= b and ended >= a for a, b in outages):
                outside_outage_503 += 1
        if delivery.status is None:
            wrong["unresolved"] += 1
            continue
        if 400 <= delivery.status < 500:
            refused[str(delivery.answer.get("reason"))] += 1
        if delivery.status != delivery.expected_status or (
            delivery.expected_reason and delivery.answer.get("reason") != delivery.expected_reason
        ):
            wrong[f"{delivery.kind}->{delivery.status}:{delivery.answer.get('reason', '')}"] += 1
    final_2xx = [d for d in stream if d.status is not None and 200 <= d.status < 300]
    other_5xx = sum(
        n for outcome, n in tries.items() if outcome.startswith("5") and outcome != "503"
    )
    figures |= {
        "sent": len(stream),
        "sent_by_kind": dict(Counter(d.kind for d in stream)),
        "http_tries": sum(tries.values()),
        "accepted": sum(d.answer.get("status") == "received" for d in final_2xx),
        "duplicates": sum(d.answer.get("status") == "duplicate" for d in final_2xx),
        "refused": dict(refused),
        "5xx": {"503": tries["503"], "other": other_5xx},
        "503_outside_outage": outside_outage_503,
        "connection_failures": {"refused": tries["refused"], "broken": tries["error"]},
        "retried_deliveries": sum(len(d.attempts) > 1 for d in stream),
        "unresolved": wrong.pop("unresolved", 0),
        "wrong_answers": dict(wrong),
    }
    unresolved = figures["unresolved"]
    result.check(unresolved == 0, f"{unresolved} deliveries got no answer after all retries")
    result.check(
        not wrong, f"deliveries answered differently than their kind requires: {dict(wrong)}"
    )
    result.check(other_5xx == 0, f"{other_5xx} answers were 5xx other than 503")
    result.check(
        outside_outage_503 == 0, f"{outside_outage_503} answers were 503 outside a database outage"
    )


def storage(stream: list[Delivery], result: Result) -> dict[tuple[str, str], list[str]]:
    """Every acknowledged event stored exactly once; nothing stored that was refused or never
    sent; every 2xx names the stored event. Returns the stored event ids by provider event."""
    from webhooks.models import Event

    stored: dict[tuple[str, str], list[str]] = {}
    for pk, scheme, provider_event_id, body in Event.objects.values_list(
        "pk", "endpoint__provider", "provider_event_id", "body"
    ).iterator(chunk_size=2000):
        stored.setdefault(_event_key(scheme, provider_event_id, bytes(body)), []).append(pk)

    by_key: dict[tuple[str, str], list[Delivery]] = {}
    for delivery in stream:
        by_key.setdefault(_plan_key(delivery), []).append(delivery)

    lost_acked = stored_refused = ack_mismatch = double_stored = redelivered = unacked = 0
    for key, deliveries in by_key.items():
        rows = stored.get(key, [])
        if deliveries[0].kind in ("bad_signature", "malformed", "stale"):
            stored_refused += len(rows)
            continue
        acked = [d for d in deliveries if d.status is not None and 200 <= d.status < 300]
        if acked and not rows:
            lost_acked += 1
        if not acked and rows:
            unacked += 1
        if len(rows) > 1:
            # Only the id-less Automation API can store a delivery twice, and only when a try
            # broke after the server had read it: the retry is, by the scheme, a new event.
            if key[0] == "automation" and any(d.ambiguous for d in deliveries):
                redelivered += len(rows) - 1
            else:
                double_stored += len(rows) - 1
        ack_mismatch += sum(d.answer.get("event") not in rows for d in acked)
    unexpected = sum(len(rows) for key, rows in stored.items() if key not in by_key)
    result.figures |= {
        "stored_events": sum(len(rows) for rows in stored.values()),
        "lost_acknowledged": lost_acked,
        "double_stored": double_stored,
        "stored_refused": stored_refused,
        "stored_unexpected": unexpected,
        "stored_unacknowledged": unacked,
        "ack_names_other_event": ack_mismatch,
        "automation_redelivered": redelivered,
    }
    result.check(stored_refused == 0, f"{stored_refused} refused deliveries were stored")
    result.check(unexpected == 0, f"{unexpected} stored events were never sent")
    result.check(ack_mismatch == 0, f"{ack_mismatch} 2xx answers name an event not stored for it")
    return stored


def processing(
    stream: list[Delivery], stored: dict[tuple[str, str], list[str]], result: Result
) -> None:
    """Every stored event processed once in effect: one successful attempt, one hold per held
    order, one audit entry per hold, one outbound delivery per hold and destination."""
    from core.models import AuditEntry
    from integrations.models import AttemptResult, DeliveryStatus, OutboundAttempt, OutboundDelivery
    from rules.models import AuditAction, HeldOrder
    from webhooks.models import AttemptOutcome, Event, ProcessingAttempt

    statuses = dict(Event.objects.values_list("status").annotate(n=Count("id")))
    unprocessed = sum(n for status, n in statuses.items() if status != "processed")
    processed_twice = (
        ProcessingAttempt.objects.filter(outcome=AttemptOutcome.SUCCEEDED)
        .values("event")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )

    acked_events = {}
    for delivery in stream:
        if delivery.kind in ("valid", "duplicate") and delivery.status == 200:
            acked_events[_plan_key(delivery)] = delivery.event
    expected_holds = {e.order_id for e in acked_events.values() if e.should_hold}
    holds_per_order = dict(HeldOrder.objects.values_list("order__order_id").annotate(n=Count("id")))
    missing_holds = expected_holds - holds_per_order.keys()
    unexpected_holds = holds_per_order.keys() - expected_holds
    doubled_holds = sum(n - 1 for n in holds_per_order.values() if n > 1)

    audit_per_hold = Counter(
        dict(
            AuditEntry.objects.filter(action=AuditAction.HOLD_CREATED)
            .values_list("object_id")
            .annotate(n=Count("id"))
        )
    )
    hold_ids = set(HeldOrder.objects.values_list("id", flat=True))
    doubled_audit = sum(n - 1 for n in audit_per_hold.values() if n > 1)
    holds_without_audit = sum(1 for hold_id in hold_ids if not audit_per_hold[str(hold_id)])

    result.figures |= {
        "events_by_status": statuses,
        "lost_unprocessed": unprocessed,
        "double_processing_attempts": processed_twice,
        "holds": sum(holds_per_order.values()),
        "holds_expected": len(expected_holds),
        "lost_holds": len(missing_holds),
        "double_holds": doubled_holds,
        "unexpected_holds": len(unexpected_holds),
        "double_audit": doubled_audit,
        "holds_without_audit": holds_without_audit,
    }
    result.check(not unexpected_holds,
                 f"orders held that should not be: {sorted(unexpected_holds)[:5]}")  # fmt: skip
    result.check(holds_without_audit == 0, f"{holds_without_audit} holds have no audit entry")

    per_decision = (
        OutboundDelivery.objects.values("hold", "destination", "event_type")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    held_with_delivery = set(
        OutboundDelivery.objects.filter(event_type="order.held").values_list("hold", flat=True)
    )
    outbound = dict(OutboundDelivery.objects.values_list("status").annotate(n=Count("id")))
    succeeded_twice = (
        OutboundAttempt.objects.filter(result=AttemptResult.SUCCEEDED)
        .values("delivery")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    result.figures |= {
        "outbound_by_status": outbound,
        "lost_outbound_pending": outbound.get(DeliveryStatus.PENDING, 0),
        "lost_outbound_missing": len(hold_ids - held_with_delivery),
        "double_outbound": sum(row["n"] - 1 for row in per_decision),
        "double_outbound_success": succeeded_twice,
    }


def sink(result: Result, received: Sink) -> None:
    """Every delivery hookdesk calls succeeded reached the sink; the sink heard of nothing else."""
    from integrations.models import DeliveryStatus, OutboundDelivery

    statuses = dict(OutboundDelivery.objects.values_list("pk", "status"))
    succeeded = {pk for pk, status in statuses.items() if status == DeliveryStatus.SUCCEEDED}
    not_received = sum(1 for pk in succeeded if not received.succeeded[pk])
    unknown = sum(1 for pk in received.received if pk not in statuses)
    resent = sum(n - 1 for n in received.succeeded.values() if n > 1)
    result.figures |= {
        "sink_requests": sum(received.received.values()),
        "sink_deliveries": len(received.received),
        "lost_outbound_not_received": not_received,
        "sink_unknown_deliveries": unknown,
        "outbound_resent_after_success": resent,
    }
    result.check(unknown == 0, f"the sink got {unknown} deliveries hookdesk has no record of")
    result.check(received.malformed == 0, f"the sink got {received.malformed} unlabelled requests")


def api(result: Result, *, base_url: str, token: str, destination_id: str, sample: int) -> None:
    """The REST API tells the same story: held orders held, others clear, outbound settled."""
    from rules.models import HeldOrder, Order

    headers = {"Authorization": f"Token {token}"}
    held = list(HeldOrder.objects.values_list("order__order_id", flat=True)[:sample])
    clear = list(
        Order.objects.filter(holds__isnull=True).values_list("order_id", flat=True)[:sample]
    )
    disagreements = []
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
        for order_id, expected in [(o, "held") for o in held] + [(o, "clear") for o in clear]:
            answer = client.get(f"/api/v2/orders/{order_id}/")
            status = (
                answer.json().get("status") if answer.status_code == 200 else answer.status_code
            )
            if status != expected:
                disagreements.append(f"{order_id}: {status}, expected {expected}")
        answer = client.get(f"/api/v2/destinations/{destination_id}/deliveries/")
        if answer.status_code != 200:
            disagreements.append(f"destination deliveries: HTTP {answer.status_code}")
        else:
            unsettled = [
                d for d in answer.json().get("results", [])
                if d.get("status") not in ("succeeded", "dead")
            ]  # fmt: skip
            if unsettled:
                disagreements.append(f"{len(unsettled)} outbound deliveries listed unsettled")
    result.figures["api_orders_checked"] = len(held) + len(clear)
    result.check(not disagreements, f"the API disagrees: {disagreements[:5]}")


def totals(result: Result) -> None:
    figures = result.figures
    figures["lost"] = sum(v for k, v in figures.items() if k.startswith("lost_"))
    figures["double_processed"] = sum(
        v for k, v in figures.items() if k.startswith("double_") and k != "double_processed"
    )
    result.check(figures["lost"] == 0, "something was lost (see the lost_* figures)")
    result.check(
        figures["double_processed"] == 0, "something was done twice (see the double_* figures)"
    )
