"""What sits on the django-q2 ORM queue."""

from django_q.models import OrmQ


def queued_event_ids() -> list[tuple[str, str]]:
    """(event id, trigger) of every queued processing task, oldest first."""
    return [
        tuple(row.task["args"])
        for row in OrmQ.objects.order_by("id")
        if row.task.get("func") == "webhooks.tasks.process_event"
    ]
