"""A destination's drain: due deliveries claimed in batches under the destination's lock,
within its circuit and limits, sent at once from threads, each answer recorded; against real
receivers on loopback."""

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations import drain
from integrations.admission import admit
from integrations.models import AttemptResult, DeliveryStatus, Destination, OutboundDelivery
from rules.services import hold_release
from tests.integrations.support import Reply, signature_valid

pytestmark = pytest.mark.django_db


def _holds(hold_order, count: int) -> list:
    return [hold_order(f"ord_{n:03d}") for n in range(count)]


def _answered_before(destination) -> None:
    """A destination that has answered before: a drain sends it a whole batch at once."""
    Destination.objects.filter(pk=destination.pk).update(last_success_at=timezone.now())
    destination.refresh_from_db()


def test_a_drain_sends_every_due_delivery_of_its_destination_at_once(
    hold_order, make_destination, sinks
):
    sink = sinks([Reply(delay=0.3)])
    destination, secret = make_destination(sink.url)
    _answered_before(destination)
    other, _ = make_destination(sinks().url)
    _holds(hold_order, 8)

    assert drain.destination_drain(destination_id=destination.pk) == 8

    assert len(sink.received) == 8
    assert max(request.concurrent for request in sink.received) > 1  # sent together
    assert all(signature_valid("autranex", request, secret) for request in sink.received)
    mine = OutboundDelivery.objects.filter(destination=destination)
    assert set(mine.values_list("status", "attempts")) == {(DeliveryStatus.SUCCEEDED, 1)}
    assert all(d.log.get().result == AttemptResult.SUCCEEDED for d in mine)
    # Another destination's deliveries are its own drain's.
    assert set(
        OutboundDelivery.objects.filter(destination=other).values_list("status", flat=True)
    ) == {DeliveryStatus.PENDING}


def test_a_drain_takes_at_most_a_batch_and_leaves_the_rest_due(hold_order, make_destination, sinks):
    destination, _ = make_destination(sinks().url)
    _answered_before(destination)
    _holds(hold_order, 5)

    assert drain.destination_drain(destination_id=destination.pk, batch=3) == 3
    assert OutboundDelivery.objects.filter(status=DeliveryStatus.PENDING).count() == 2
    assert drain.destination_drain(destination_id=destination.pk, batch=3) == 2


def test_an_order_hears_held_before_released(hold_order, make_destination, sinks, people):
    sink = sinks()
    destination, _ = make_destination(sink.url)
    hold = hold_order("ord_sequence")
    hold_release(hold=hold, actor=people["alice"], reason="verified")

    drain.destination_drain(destination_id=destination.pk)
    assert [r.json()["event_type"] for r in sink.received] == ["order.held"]
    drain.destination_drain(destination_id=destination.pk)
    assert [r.json()["event_type"] for r in sink.received] == ["order.held", "order.released"]


def test_a_drain_of_an_inactive_destination_sends_nothing(hold_order, make_destination, sinks):
    sink = sinks()
    destination, _ = make_destination(sink.url)
    hold_order()
    Destination.objects.filter(pk=destination.pk).update(active=False)

    assert drain.destination_drain(destination_id=destination.pk) == 0
    assert sink.received == []
    assert OutboundDelivery.objects.get().status == DeliveryStatus.PENDING  # kept


def test_max_in_flight_caps_what_is_claimed_while_others_are_in_flight(
    hold_order, make_destination, sinks
):
    destination, _ = make_destination(sinks().url, max_in_flight=2)
    _answered_before(destination)
    _holds(hold_order, 5)
    now = timezone.now()

    _, taken, _ = drain._claim_batch(destination.pk, now, batch=50)
    assert len(taken) == 2
    # Those two are in flight (claimed, unanswered): nothing more until one answers.
    _, more, _ = drain._claim_batch(destination.pk, now, batch=50)
    assert more == []


def test_a_rate_limit_spaces_the_starts_and_holds_across_claims(
    hold_order, make_destination, sinks
):
    destination, _ = make_destination(sinks().url, rate_limit=5)
    _answered_before(destination)
    _holds(hold_order, 12)
    now = timezone.now()

    _, taken, _ = drain._claim_batch(destination.pk, now, batch=50)
    starts = [start for _, start in taken]
    # One start every 0.2 s, within the next second.
    assert starts == [now + timedelta(seconds=0.2 * n) for n in range(len(starts))]
    assert len(starts) == 6
    # A second claim at the same moment (another worker) gets only later starts: none within
    # its second, as the first claim reserved them.
    _, more, _ = drain._claim_batch(destination.pk, now, batch=50)
    assert more == []
    destination.refresh_from_db()
    assert destination.rate_next_at == now + timedelta(seconds=1.2)


def test_a_destination_that_never_answered_is_probed_with_one_delivery_first(
    hold_order, make_destination, sinks
):
    sink = sinks()
    destination, _ = make_destination(sink.url)
    _holds(hold_order, 4)

    assert drain.destination_drain(destination_id=destination.pk) == 1  # the probe
    assert drain.destination_drain(destination_id=destination.pk) == 3  # it answered: the rest


def test_a_failing_destination_is_probed_by_one_delivery_at_a_time(
    hold_order, make_destination, sinks
):
    destination, _ = make_destination(sinks().url)
    _holds(hold_order, 4)
    Destination.objects.filter(pk=destination.pk).update(consecutive_failures=3)
    now = timezone.now()

    _, taken, _ = drain._claim_batch(destination.pk, now, batch=50)
    assert len(taken) == 1
    _, more, _ = drain._claim_batch(destination.pk, now, batch=50)
    assert more == []


def test_an_open_circuit_claims_nothing_until_it_closes(hold_order, make_destination, sinks):
    destination, _ = make_destination(sinks().url)
    hold_order()
    now = timezone.now()
    Destination.objects.filter(pk=destination.pk).update(paused_until=now + timedelta(seconds=30))

    assert drain._claim_batch(destination.pk, now, batch=50)[1] == []
    later = now + timedelta(seconds=31)
    assert len(drain._claim_batch(destination.pk, later, batch=50)[1]) == 1


def test_admission_says_why_and_when_to_ask_again(make_destination):
    destination, _ = make_destination("http://127.0.0.1:9/x", rate_limit=2)
    now = timezone.now()
    destination.rate_next_at = now + timedelta(seconds=3)

    admission = admit(destination, now=now, wanted=1)
    assert (admission.slots, admission.retry_at, admission.why) == (
        [],
        now + timedelta(seconds=3),
        "rate limit",
    )


def test_an_open_circuit_waits_no_longer_than_the_first_retry_delay(hold_order, make_destination):
    from integrations.outbound import delivery_send
    from tests.integrations.support import free_port

    destination, _ = make_destination(
        f"http://127.0.0.1:{free_port()}/closed", retry_schedule=[2, 4]
    )
    hold_order()
    before = timezone.now()

    assert delivery_send(delivery_id=OutboundDelivery.objects.get().pk) == "retry"

    destination.refresh_from_db()
    assert before < destination.paused_until <= timezone.now() + timedelta(seconds=2)


def test_a_receiver_that_answers_again_gets_what_waited_at_once(
    hold_order, make_destination, sinks
):
    from integrations.outbound import delivery_send

    sink = sinks([Reply(500), Reply(200)])
    destination, _ = make_destination(sink.url, retry_schedule=[600])
    _answered_before(destination)
    _holds(hold_order, 3)
    first, *others = OutboundDelivery.objects.order_by("created_at")
    assert delivery_send(delivery_id=first.pk) == "retry"  # failing now: retry in 10 min
    OutboundDelivery.objects.filter(pk__in=[d.pk for d in others]).update(
        next_attempt_at=timezone.now() + timedelta(minutes=5)  # deferred by the circuit
    )
    OutboundDelivery.objects.filter(pk=first.pk).update(next_attempt_at=timezone.now())

    assert delivery_send(delivery_id=first.pk) == "succeeded"  # the receiver is back

    assert drain.destination_drain(destination_id=destination.pk) == 2
    assert OutboundDelivery.objects.filter(status=DeliveryStatus.SUCCEEDED).count() == 3
