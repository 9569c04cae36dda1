"""Event consumers plugged into HOOKDESK["EVENT_CONSUMERS"] by pipeline tests."""

from django.contrib.auth.models import Group

from webhooks.models import Event


class ConsumerFailure(RuntimeError):
    pass


def record_group(*, event, order_view):
    """Writes inside the processing transaction: tests check it is kept or rolled back."""
    Group.objects.create(name=f"seen {event.pk}")


def failing(*, event, order_view):
    Group.objects.create(name=f"partial {event.pk}")
    raise ConsumerFailure("downstream rule store unavailable")


def steal_claim(*, event, order_view):
    """As if the sweep judged this run dead and another run claimed the event meanwhile."""
    Event.objects.filter(pk=event.pk).update(attempts=event.attempts + 1)
    Group.objects.create(name=f"stolen {event.pk}")


def failing_for_marked_orders(*, event, order_view):
    """Records every event, and fails those whose order id says so."""
    Group.objects.create(name=f"seen {event.pk}")
    if "fail" in (order_view.order_id or ""):
        raise ConsumerFailure(f"cannot take order {order_view.order_id}")
