"""django-q2 task entry points: each fetches by id and calls the pipeline."""

from webhooks.processing import events_process, events_sweep


def process_event(event_id: str, trigger: str = "queue") -> str | None:
    return events_process(event_id=event_id, trigger=trigger)


def sweep_events() -> dict[str, int]:
    return events_sweep()
