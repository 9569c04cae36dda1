"""Recovery times from the run's records, and the printed and JSON report."""

import json
from datetime import UTC, datetime
from pathlib import Path

from chaos.faults import Fault
from chaos.traffic import Delivery
from chaos.verify import Result


def _first_success_after(stream: list[Delivery], moment: float) -> float | None:
    """End of the first try that started at or after `moment` and was acknowledged."""
    ends = [
        ended
        for delivery in stream
        for started, ended, outcome in delivery.attempts
        if started >= moment and outcome == "200"
    ]
    return min(ends, default=None)


def _first_processing_after(moment: float) -> float | None:
    from webhooks.models import ProcessingAttempt

    first = (
        ProcessingAttempt.objects.filter(started_at__gte=datetime.fromtimestamp(moment, UTC))
        .order_by("finished_at")
        .values_list("finished_at", flat=True)
        .first()
    )
    return first.timestamp() if first else None


def recovery(faults: list[Fault], stream: list[Delivery]) -> None:
    """Seconds from each fault until the stack did its job again: acknowledged a delivery
    (web worker, database) or processed an event (worker cluster, database)."""
    for fault in faults:
        if not fault.started:
            continue
        acked = _first_success_after(stream, fault.outage_from or fault.started)
        processed = _first_processing_after(fault.restored or fault.started)
        window = [
            outcome
            for delivery in stream
            for started, ended, outcome in delivery.attempts
            if fault.started <= ended and started <= (fault.restored or fault.started) + 5
        ]
        fault.recovery = {
            "down_s": round((fault.restored or fault.started) - fault.started, 2),
            "acknowledging_after_s": round(acked - fault.started, 2) if acked else None,
            "processing_after_s": round(processed - fault.started, 2) if processed else None,
            "503_in_window": window.count("503"),
            "connection_failures_in_window": sum(
                o.startswith(("refused", "error")) for o in window
            ),
        }


def _line(name: str, value) -> str:
    if isinstance(value, dict):
        value = " ".join(f"{k}={v}" for k, v in value.items()) or "-"
    return f"  {name:<28} {value}"


def print_report(result: Result, faults: list[Fault], *, duration: float) -> None:
    f = result.figures
    print("chaos run figures:")
    for name in (
        "sent", "sent_by_kind", "http_tries", "accepted", "duplicates", "refused", "5xx",
        "503_outside_outage", "connection_failures", "retried_deliveries", "unresolved",
        "stored_events", "events_by_status", "holds", "holds_expected", "outbound_by_status",
        "sink_requests", "outbound_resent_after_success", "automation_redelivered",
        "drain_s", "traffic_s",
    ):  # fmt: skip
        if name in f:
            print(_line(name, f[name]))
    print(_line("lost", {k: v for k, v in f.items() if k.startswith("lost_")}))
    doubles = {k: v for k, v in f.items() if k.startswith("double_") and k != "double_processed"}
    print(_line("double_processed", doubles))
    for fault in faults:
        print(_line(f"recovery {fault.kind}", fault.recovery))
    for name in ("unplanned_restarts",):
        if f.get(name):
            print(_line(name, f[name]))
    for failure in result.failures:
        print(f"  FAILED: {failure}")
    verdict = "PASS" if result.passed else "FAIL"
    print(
        f"chaos {verdict} in {duration:.0f} s: sent={f.get('sent', 0)} "
        f"accepted={f.get('accepted', 0)} duplicates={f.get('duplicates', 0)} "
        f"refused={sum(f.get('refused', {}).values())} "
        f"5xx={sum(f.get('5xx', {}).values())} "
        f"lost={f.get('lost', 'n/a')} double_processed={f.get('double_processed', 'n/a')}",
        flush=True,
    )


def write_json(path: Path, result: Result, faults: list[Fault]) -> None:
    path.write_text(
        json.dumps(
            {
                "passed": result.passed,
                "failures": result.failures,
                "figures": result.figures,
                "faults": [
                    {
                        "kind": f.kind,
                        "at_progress": f.at_progress,
                        "injected": bool(f.started),
                        "detail": f.detail,
                        "recovery": f.recovery,
                    }
                    for f in faults
                ],
            },
            indent=2,
            default=str,
        )
    )
