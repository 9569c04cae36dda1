"""django-q2 task entry points: each fetches by id and calls the pipeline."""

from webhooks.processing import endpoint_drain, events_process, events_sweep


def process_event(event_id: str, trigger: str = "queue") -> str | None:
    return events_process(event_id=event_id, trigger=trigger)


def process_endpoint(endpoint_id: int) -> int:
    return endpoint_drain(endpoint_id=endpoint_id)


def sweep_events() -> dict[str, int]:
    return events_sweep()
