"""Triage of failed events and careful replays, without a browser: the error and the field at
fault as recorded, attempts numbered in order, the confirmation of "Replay all matching", a dry
run's failures and its "Replay these N"."""

import html
import re

import pytest
from django.test import Client
from django.utils import timezone

from console import admin as console_admin
from console import replay
from console.models import ReplayRun, ReplayStatus
from tests.admin.conftest import order_created
from tests.support.events import deliver, process
from webhooks.models import AttemptTrigger, Delivery, Event, EventStatus, ProcessingAttempt
from webhooks.processing import error_field, error_text
from webhooks.providers import EnvelopeError

pytestmark = pytest.mark.django_db

REPLAY_MATCHING = "/admin/webhooks/event/replay-matching/"
UNPARSEABLE = b'{"id": "evt_gone", "type": "order.created"}'


@pytest.fixture
def client_for(people):
    def login(username: str) -> Client:
        user = people[username]
        user.is_staff = True
        user.save(update_fields=["is_staff"])
        client = Client()
        client.force_login(user)
        return client

    return login


@pytest.fixture
def run_steps(monkeypatch):
    """Replay steps run at once, in this process, instead of on the broker (and without
    waiting for a commit these tests never make)."""
    monkeypatch.setattr(
        replay, "replay_run_enqueue", lambda run: replay.replay_run_step(str(run.pk), run.chunk)
    )
    monkeypatch.setattr(replay.transaction, "on_commit", lambda callback, robust=False: callback())


def broken_event(endpoint, secret, order_id: str) -> Event:
    """An event received whole whose stored body no longer parses, processed once: failed."""
    event = deliver(endpoint, secret, order_created(order_id, 6000))
    Event.objects.filter(pk=event.pk).update(body=UNPARSEABLE)
    assert process(event) == EventStatus.FAILED
    return event


# --- The error and the field at fault ---------------------------------------------------------


def test_it_names_the_field_at_fault_in_the_recorded_error():
    text = error_text(EnvelopeError("missing object field 'data'", field="data"))
    assert text == "EnvelopeError (field 'data'): missing object field 'data'"
    assert error_field(text) == "data"
    assert error_field(error_text(RuntimeError("store unavailable"))) is None
    assert error_field("RuntimeError: missing object field 'data'") is None


def test_it_records_the_field_on_the_event_and_its_attempt(make_endpoint):
    endpoint, secret = make_endpoint("procureiq")
    event = broken_event(endpoint, secret, "ord_field")
    attempt = ProcessingAttempt.objects.get(event=event)
    assert event.last_error == attempt.error
    assert error_field(event.last_error) == "data"


def test_it_shows_the_last_error_in_the_list_and_the_field_on_the_page(make_endpoint, client_for):
    endpoint, secret = make_endpoint("procureiq")
    event = broken_event(endpoint, secret, "ord_shown")
    operator = client_for("oscar")
    listing = operator.get("/admin/webhooks/event/", {"q": "ord_shown"}).content.decode()
    cell = re.search(r'<span class="hd-last-error" title="([^"]*)">([^<]*)</span>', listing)
    assert cell is not None
    assert html.unescape(cell[1]) == event.last_error
    short = html.unescape(cell[2])
    assert len(short) <= 40 and short.endswith("…")
    assert event.last_error.startswith(short[:-1])
    page = operator.get(f"/admin/webhooks/event/{event.pk}/change/").content.decode()
    assert '<code id="field-at-fault">data</code>' in page


# --- Attempts and latencies -------------------------------------------------------------------


def test_it_numbers_attempts_in_order_and_rounds_durations(make_endpoint, client_for):
    endpoint, secret = make_endpoint("procureiq")
    event = broken_event(endpoint, secret, "ord_attempts")
    Event.objects.filter(pk=event.pk).update(next_attempt_at=timezone.now())
    assert process(event, trigger="retry") == EventStatus.FAILED
    # Stored numbers count claims, which can skip: the page numbers what happened.
    ProcessingAttempt.objects.filter(event=event, trigger=AttemptTrigger.RETRY).update(number=7)
    page = client_for("audrey").get(f"/admin/webhooks/event/{event.pk}/change/").content.decode()
    attempts = page[page.index('id="processing_attempts-group"') :]
    attempts = attempts[: attempts.index("</table>")]
    assert re.findall(r'class="field-ordinal">\s*<p>(\d+)</p>', attempts) == ["1", "2"]
    durations = re.findall(r'class="field-duration">\s*<p>([^<]*)</p>', attempts)
    assert len(durations) == 2 and all(re.fullmatch(r"\d+ ms", d) for d in durations)
    started = re.findall(r'class="field-started_at">\s*<p>([^<]*)</p>', attempts)
    assert len(started) == 2
    assert all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", moment) for moment in started)


def test_it_rounds_delivery_latencies(make_endpoint, client_for):
    endpoint, secret = make_endpoint("procureiq")
    event = deliver(endpoint, secret, order_created("ord_latency", 10))
    Delivery.objects.filter(event=event).update(latency_ms=12.3456789)
    listing = client_for("audrey").get("/admin/webhooks/delivery/").content.decode()
    assert '<td class="field-latency">12 ms</td>' in listing
    assert "12.345" not in listing


# --- Replay all matching asks first -----------------------------------------------------------


def test_it_asks_before_replaying_all_matching(make_endpoint, client_for, run_steps):
    endpoint, secret = make_endpoint("procureiq", slug="ask-first")
    for n in range(3):
        process(deliver(endpoint, secret, order_created(f"ord_ask{n}", 10)))
    operator = client_for("oscar")
    url = "/admin/webhooks/event/replay-matching/"
    asked = operator.post(url, {"query": "endpoint=ask-first"})
    assert asked.status_code == 200
    assert asked.context["count_label"] == "3"
    assert not ReplayRun.objects.exists()
    started = operator.post(url, {"query": "endpoint=ask-first", "confirmed": "1"})
    run = ReplayRun.objects.get()
    assert started.url == f"/admin/console/replayrun/{run.pk}/change/"
    assert (run.dry_run, run.status, run.processed) == (False, ReplayStatus.DONE, 3)


def test_it_says_more_than_the_cap_rather_than_counting_everything(
    make_endpoint, client_for, monkeypatch
):
    monkeypatch.setattr(console_admin.ReplayCountPaginator, "count_cap", 2)
    endpoint, secret = make_endpoint("procureiq", slug="many")
    for n in range(3):
        deliver(endpoint, secret, order_created(f"ord_many{n}", 10))
    asked = client_for("oscar").post(
        "/admin/webhooks/event/replay-matching/", {"query": "endpoint=many"}
    )
    assert asked.context["count_label"] == "more than 2"
    assert b"more than 2" in asked.content


def test_it_keeps_the_confirmation_from_roles_that_may_not_replay(client_for):
    for username in ("alice", "audrey"):
        answer = client_for(username).post("/admin/webhooks/event/replay-matching/", {"query": ""})
        assert answer.status_code == 403


# --- Dry runs: failures, then "Replay these N" -------------------------------------------------


def test_it_lists_the_events_a_dry_run_could_not_parse(make_endpoint, people, run_steps):
    endpoint, secret = make_endpoint("procureiq", slug="dry")
    good = deliver(endpoint, secret, order_created("ord_good", 10))
    bad = broken_event(endpoint, secret, "ord_bad")
    run = replay.replay_run_start(actor=people["oscar"], dry_run=True, filters={"endpoint": "dry"})
    run.refresh_from_db()
    assert (run.status, run.total, run.failed, run.processed) == (ReplayStatus.DONE, 2, 1, 1)
    assert run.result["parse_failed"] == 1
    assert run.result["errors"] == [
        {
            "event": bad.pk,
            "stage": "parse",
            "error": "EnvelopeError (field 'data'): missing object field 'data'",
        }
    ]
    assert good.pk not in str(run.result)


def test_it_replays_what_a_dry_run_showed(make_endpoint, people, run_steps, client_for):
    endpoint, secret = make_endpoint("procureiq", slug="then-real")
    events = [deliver(endpoint, secret, order_created(f"ord_then{n}", 10)) for n in range(2)]
    dry = replay.replay_run_start(
        actor=people["oscar"], dry_run=True, filters={"endpoint": "then-real"}
    )
    later = deliver(endpoint, secret, order_created("ord_after_dry_run", 10))
    page = client_for("oscar").get(f"/admin/console/replayrun/{dry.pk}/change/")
    assert b'id="replay-these">Replay these 2<' in page.content

    answer = client_for("oscar").post(REPLAY_MATCHING, {"dry_run_of": str(dry.pk)})
    run = ReplayRun.objects.get(dry_run=False)
    assert answer.url == f"/admin/console/replayrun/{run.pk}/change/"
    assert run.filters["endpoint"] == "then-real"
    assert (run.status, run.total, run.processed) == (ReplayStatus.DONE, 2, 2)
    replayed = ProcessingAttempt.objects.filter(trigger=AttemptTrigger.REPLAY)
    assert sorted(replayed.values_list("event_id", flat=True)) == sorted(e.pk for e in events)
    assert not replayed.filter(event=later).exists()

    selection = replay.replay_run_start(
        actor=people["oscar"], dry_run=True, event_ids=[events[0].pk]
    )
    selection.refresh_from_db()
    again = replay.replay_run_from_dry_run(dry_run=selection, actor=people["oscar"])
    assert (again.dry_run, again.event_ids) == (False, [events[0].pk])


def test_it_replays_only_finished_dry_runs_and_only_for_operations(
    make_endpoint, people, client_for, monkeypatch
):
    monkeypatch.setattr(replay, "replay_run_enqueue", lambda run: None)
    endpoint, secret = make_endpoint("procureiq")
    event = deliver(endpoint, secret, order_created("ord_queued", 10))
    queued = replay.replay_run_start(actor=people["oscar"], dry_run=True, event_ids=[event.pk])
    with pytest.raises(replay.ReplayError):
        replay.replay_run_from_dry_run(dry_run=queued, actor=people["oscar"])
    ReplayRun.objects.filter(pk=queued.pk).update(status=ReplayStatus.DONE)
    for username in ("alice", "audrey"):
        page = client_for(username).get(f"/admin/console/replayrun/{queued.pk}/change/")
        assert b"replay-these" not in page.content
        answer = client_for(username).post(REPLAY_MATCHING, {"dry_run_of": str(queued.pk)})
        assert answer.status_code == 403
    assert ReplayRun.objects.count() == 1
