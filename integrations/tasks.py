"""django-q2 task entry points: each fetches by id and calls the delivery engine."""

from integrations.drain import destination_drain
from integrations.outbound import deliveries_requeue_due, delivery_send


def send_delivery(delivery_id: str) -> str:
    return delivery_send(delivery_id=delivery_id)


def watchdog() -> int:
    return deliveries_requeue_due()


def drain_destination(destination_id: str) -> int:
    return destination_drain(destination_id=destination_id)
