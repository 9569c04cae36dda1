"""The console's answers to the operational signals of the apps below it: a dead letter is
announced to the alert channels; a destination hookdesk switched off raises an alert.

Connected in ConsoleConfig.ready(). The signals are sent after commit with send_robust, so a
receiver that fails is logged by Django and undoes nothing in the delivery engine."""

from console.alerts import alert_raise_for_audit_chain_broken, alert_raise_for_destination_disabled
from console.channels import console_url, operational_event
from console.models import OperationalEvent
from core.audit_chain import audit_chain_broken
from integrations.models import OutboundDelivery
from integrations.signals import delivery_dead, destination_disabled


def on_delivery_dead(sender, delivery: OutboundDelivery, **kwargs) -> None:
    # The instance is the one the engine read before writing the outcome: read what it wrote.
    delivery = (
        OutboundDelivery.objects.select_related("destination").filter(pk=delivery.pk).first()
        or delivery
    )
    destination = delivery.destination
    text = (
        f"Delivery {delivery.pk} ({delivery.event_type}, order {delivery.order_id or '-'}) to "
        f"{destination.name} is dead after {delivery.attempts} attempts: "
        f"{delivery.last_error or 'no error recorded'}. Later dead letters of this destination "
        "are in its dead-letter list, announced here at most every few minutes."
    )
    operational_event(
        OperationalEvent.DELIVERY_DEAD,
        subject=f"Dead letter for {destination.name}",
        text=text,
        data={
            "delivery_id": delivery.pk,
            "destination_id": destination.pk,
            "destination": destination.name,
            "event_type": delivery.event_type,
            "order_id": delivery.order_id,
            "attempts": delivery.attempts,
            "last_status_code": delivery.last_status_code,
            "last_error": delivery.last_error,
        },
        link=console_url(
            "admin:integrations_outbounddelivery_changelist",
            destination__id__exact=destination.pk,
            status__exact="dead",
        ),
        # One destination's outage dead-letters its deliveries one by one: one message.
        group=destination.pk,
    )


def on_destination_disabled(sender, destination, reason: str, **kwargs) -> None:
    alert_raise_for_destination_disabled(destination=destination, reason=reason)


def on_audit_chain_broken(sender, verification, **kwargs) -> None:
    alert_raise_for_audit_chain_broken(verification=verification)


def receivers_connect() -> None:
    # dispatch_uid: ready() may run more than once (tests, the autoreloader).
    delivery_dead.connect(on_delivery_dead, dispatch_uid="console.delivery_dead")
    destination_disabled.connect(on_destination_disabled, dispatch_uid="console.destination_off")
    audit_chain_broken.connect(on_audit_chain_broken, dispatch_uid="console.audit_chain_broken")
