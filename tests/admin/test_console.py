"""The console's services and pages without a browser: four eyes, replay runs step by step,
dry runs, alerts, permissions refused on the server, and list pages that never count a table."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_q.models import Schedule

from console import replay
from console.alerts import ALERT_SCHEDULE_NAME, alerts_evaluate
from console.models import Alert, AlertKind, AlertThreshold, ReplayRun, ReplayStatus
from core.models import AuditEntry
from core.pagination import EstimatedCountPaginator
from rules.models import AuditAction, Decision, HeldOrder, HoldStatus, ReleaseRequest
from rules.services import (
    RuleError,
    block_create,
    hold_release_confirm,
    hold_release_request,
    review_policy_set,
)
from tests.admin.conftest import order_created
from tests.support.events import deliver, process
from webhooks.admin_filters import event_filters_from_params, event_types_stored
from webhooks.models import AttemptTrigger, Event, ProcessingAttempt

pytestmark = pytest.mark.django_db


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


# --- Four eyes ---------------------------------------------------------------------------------


def test_it_releases_at_once_below_the_four_eyes_amount(hold_for, people):
    review_policy_set(four_eyes_amount=Decimal("10000"), actor=people["oscar"])
    hold = hold_for("ord_small", 6000)
    hold = hold_release_request(hold=hold, actor=people["alice"], reason="fine")
    assert hold.status == HoldStatus.RELEASED


def test_it_needs_a_different_reviewer_to_confirm_a_big_release(hold_for, people):
    review_policy_set(four_eyes_amount=Decimal("10000"), actor=people["oscar"])
    hold = hold_for("ord_large", 20000)
    hold_release_request(hold=hold, actor=people["alice"], reason="known customer")
    hold.refresh_from_db()
    assert hold.status == HoldStatus.HELD
    assert ReleaseRequest.objects.filter(hold=hold).exists()
    with pytest.raises(RuleError, match="already waiting"):
        hold_release_request(hold=hold, actor=people["alice"], reason="again")
    with pytest.raises(RuleError, match="different reviewer"):
        hold_release_confirm(hold=hold, actor=people["alice"])

    bob = User.objects.create_user("bob")
    hold = hold_release_confirm(hold=hold, actor=bob, reason="checked")
    assert hold.status == HoldStatus.RELEASED
    assert not ReleaseRequest.objects.filter(hold=hold).exists()
    actions = list(
        AuditEntry.objects.filter(object_id=hold.pk)
        .order_by("at", "id")
        .values_list("action", "actor_label")
    )
    assert actions[-2:] == [
        (AuditAction.HOLD_RELEASE_CONFIRMATION, "alice"),
        (AuditAction.HOLD_RELEASED, "bob"),
    ]


def test_it_refuses_a_decision_without_a_reason(client_for, hold_for):
    hold = hold_for("ord_no_reason", 9000)
    response = client_for("alice").post(
        f"/admin/rules/heldorder/{hold.pk}/decide/", {"decision": "release", "reason": " "}
    )
    assert response.status_code == 302
    hold.refresh_from_db()
    assert hold.status == HoldStatus.HELD


# --- Roles, refused on the server --------------------------------------------------------------


def test_it_refuses_what_a_role_may_not_do(client_for, hold_for, make_endpoint):
    hold = hold_for("ord_roles", 9000)
    endpoint, _ = make_endpoint("procureiq")
    secret = endpoint.secrets.get()
    auditor, reviewer, operator = client_for("audrey"), client_for("alice"), client_for("oscar")
    decide = f"/admin/rules/heldorder/{hold.pk}/decide/"
    assert auditor.post(decide, {"decision": "release", "reason": "x"}).status_code == 403
    assert operator.post(decide, {"decision": "release", "reason": "x"}).status_code == 403
    rotate = f"/admin/webhooks/endpoint/{endpoint.pk}/rotate/"
    assert reviewer.post(rotate, {"grace": "1h", "nonce": "x"}).status_code == 403
    assert auditor.post(rotate, {"grace": "1h", "nonce": "x"}).status_code == 403
    expire = f"/admin/webhooks/endpoint/{endpoint.pk}/secrets/{secret.pk}/expire/"
    assert reviewer.post(expire).status_code == 403
    replay_matching = "/admin/webhooks/event/replay-matching/"
    assert reviewer.post(replay_matching, {"query": ""}).status_code == 403
    assert auditor.post(replay_matching, {"query": ""}).status_code == 403
    assert reviewer.post(f"/admin/webhooks/event/{hold.event_id}/replay/").status_code == 403
    assert auditor.get(f"/admin/rules/block/{hold.block.pk}/backtest/").status_code == 403
    assert client_for("mallory").get("/admin/console/dashboard/").status_code == 403
    hold.refresh_from_db()
    assert hold.status == HoldStatus.HELD
    assert endpoint.secrets.count() == 1
    assert not ReplayRun.objects.exists()


def test_it_never_rotates_twice_for_one_form(client_for, make_endpoint):
    endpoint, _ = make_endpoint("procureiq")
    operator = client_for("oscar")
    page = operator.get(f"/admin/webhooks/endpoint/{endpoint.pk}/change/")
    nonce = page.context["rotation_nonce"]
    url = f"/admin/webhooks/endpoint/{endpoint.pk}/rotate/"
    shown = operator.post(url, {"grace": "24h", "nonce": nonce})
    assert shown.status_code == 200
    assert "no-store" in shown["Cache-Control"]
    secret = shown.context["secret"]
    assert secret.encode() in shown.content
    again = operator.post(url, {"grace": "24h", "nonce": nonce}, follow=True)
    assert secret.encode() not in again.content
    assert b"already used" in again.content
    assert endpoint.secrets.count() == 2
    # Nowhere else: not in the session, the messages or the audit trail.
    assert secret not in str(dict(operator.session))
    assert not AuditEntry.objects.filter(after__icontains=secret).exists()


# --- Replay runs -------------------------------------------------------------------------------


@pytest.fixture
def queued(monkeypatch):
    """Replay steps are queued here instead of on the broker; run_all() works them off."""
    steps = []
    monkeypatch.setattr(replay, "replay_run_enqueue", lambda run: steps.append((run.pk, run.chunk)))

    def run_all():
        ran = 0
        while steps and ran < 100:
            run_id, chunk = steps.pop(0)
            replay.replay_run_step(str(run_id), chunk)
            ran += 1
        return ran

    return steps, run_all


def _events(make_endpoint, count: int, slug: str = "rr"):
    endpoint, secret = make_endpoint("procureiq", slug=slug)
    events = []
    for n in range(count):
        events.append(deliver(endpoint, secret, order_created(f"ord_{slug}{n}", 6000)))
        process(events[-1])
    return events


def test_it_replays_by_filter_in_chunks(make_endpoint, people, queued, monkeypatch,
                                        django_capture_on_commit_callbacks):  # fmt: skip
    steps, run_all = queued
    monkeypatch.setattr(replay, "REPLAY_CHUNK_EVENTS", 2)
    _events(make_endpoint, 5)
    _events(make_endpoint, 1, slug="other")
    with django_capture_on_commit_callbacks(execute=True):
        run = replay.replay_run_start(
            actor=people["oscar"], filters={"endpoint": "rr"}, description="rr"
        )
    assert steps == [(run.pk, 0)]
    assert run_all() == 3
    run.refresh_from_db()
    assert (run.status, run.total, run.done, run.processed, run.failed) == (
        ReplayStatus.DONE, 5, 5, 5, 0,
    )  # fmt: skip
    replayed = ProcessingAttempt.objects.filter(trigger=AttemptTrigger.REPLAY)
    assert set(replayed.values_list("event__endpoint__slug", flat=True)) == {"rr"}
    # A redelivered task for a chunk already worked does nothing.
    replay.replay_run_step(str(run.pk), 0)
    run.refresh_from_db()
    assert run.done == 5


def test_it_dry_runs_without_changing_anything(make_endpoint, people, queued):
    # queued: the step is run here, by hand, not by the broker
    events = _events(make_endpoint, 3)
    block_create(name="Late rule", condition="order_value > 5000", action="hold")
    before = (
        HeldOrder.objects.count(),
        Decision.objects.count(),
        AuditEntry.objects.count(),
        sorted(Event.objects.values_list("pk", "status", "attempts", "updated_at")),
    )
    run = replay.replay_run_start(
        actor=people["oscar"], dry_run=True, event_ids=[e.pk for e in events]
    )
    replay.replay_run_step(str(run.pk), 0)
    run.refresh_from_db()
    assert run.status == ReplayStatus.DONE
    assert run.would_hold == 3
    assert {hold["order_id"] for hold in run.result["holds"]} == {"ord_rr0", "ord_rr1", "ord_rr2"}
    after = (
        HeldOrder.objects.count(),
        Decision.objects.count(),
        AuditEntry.objects.count(),
        sorted(Event.objects.values_list("pk", "status", "attempts", "updated_at")),
    )
    assert after == before


def test_it_turns_list_filters_into_a_replay_filter():
    now = timezone.now()
    filters = event_filters_from_params(
        {"endpoint": "a", "status": "dead", "event_type": "order.created", "received": "1h",
         "q": " ord_1 ", "o": "2"},
        now=now,
    )  # fmt: skip
    assert filters == {
        "endpoint": "a",
        "status": "dead",
        "event_type": "order.created",
        "since": (now - timedelta(hours=1)).isoformat(),
        "search": "ord_1",
    }


# --- Alerts ------------------------------------------------------------------------------------


def test_it_schedules_the_alert_evaluation():
    schedule = Schedule.objects.get(name=ALERT_SCHEDULE_NAME)
    assert schedule.func == "console.alerts.alerts_evaluate_task"
    assert schedule.repeats == -1


def test_it_alerts_on_the_hold_rate_with_order_ids(make_endpoint, people, high_value_block):
    people["oscar"].email = "oscar@example.com"
    people["oscar"].save()
    endpoint, secret = make_endpoint("procureiq", slug="holdy")
    for n, amount in enumerate((9000, 9500, 100, 200)):
        process(deliver(endpoint, secret, order_created(f"ord_h{n}", amount)))
    AlertThreshold.objects.create(
        name="Hold rate", kind=AlertKind.HOLD_RATE, limit=Decimal("25"), window_minutes=60,
        min_events=4,
    )  # fmt: skip
    mail.outbox.clear()
    [alert] = alerts_evaluate()
    assert alert.value == Decimal("50.00")
    assert alert.endpoint == endpoint
    assert set(alert.order_ids) == {"ord_h0", "ord_h1"}
    assert mail.outbox[0].to == ["oscar@example.com"]  # the Operations group, none listed
    assert "ord_h0" in mail.outbox[0].body


def test_it_alerts_on_repeated_processing_failures(make_endpoint, monkeypatch):
    endpoint, secret = make_endpoint("procureiq", slug="failing")
    monkeypatch.setattr("webhooks.processing.event_consumers", lambda: (lambda **_: 1 / 0,))
    for n in range(3):
        process(deliver(endpoint, secret, order_created(f"ord_f{n}", 10)))
    AlertThreshold.objects.create(
        name="Failures", kind=AlertKind.PROCESSING_FAILURES, limit=2, endpoint=endpoint
    )
    [alert] = alerts_evaluate()
    assert alert.value == 3
    for event in Event.objects.filter(endpoint=endpoint):
        assert event.pk in alert.message
    assert alerts_evaluate() == []
    assert Alert.objects.count() == 1


# --- Lists at scale ----------------------------------------------------------------------------


def test_it_never_counts_a_whole_table_on_a_list_page(client_for, hold_for):
    for n in range(3):
        hold_for(f"ord_list{n}", 9000 + n)
    operator = client_for("oscar")
    pages = [
        "/admin/webhooks/event/",
        "/admin/webhooks/event/?status=processed&endpoint=procureiq-1",
        "/admin/webhooks/event/?q=ord_list1",
        "/admin/webhooks/delivery/?signature=failed",
        "/admin/rules/heldorder/",
        "/admin/rules/heldorder/?status__exact=held&amount=5000-10000&age=lt1h&provider=procureiq",
        "/admin/rules/heldorder/?q=ord_list2",
        "/admin/core/auditentry/",
    ]
    for url in pages:
        with CaptureQueriesContext(connection) as queries:
            response = operator.get(url)
        assert response.status_code == 200, url
        for query in queries.captured_queries:
            sql = query["sql"].upper()
            if "COUNT(" in sql:
                assert "LIMIT" in sql, (url, sql)
            if connection.vendor == "postgresql":  # elsewhere event types come from a DISTINCT
                assert "DISTINCT" not in sql or "WITH RECURSIVE" in sql, (url, sql)
    listed = operator.get("/admin/rules/heldorder/?q=ord_list2")
    assert b"ord_list2" in listed.content and b"ord_list1" not in listed.content


def test_it_estimates_an_unfiltered_count_and_caps_a_filtered_one(hold_for, monkeypatch):
    hold_for("ord_p1", 9000)
    paginator = EstimatedCountPaginator(Event.objects.all(), 10)
    assert paginator.count == 1  # tiny table: counted
    monkeypatch.setattr(EstimatedCountPaginator, "count_cap", 0)
    capped = EstimatedCountPaginator(Event.objects.filter(event_type="order.created"), 10)
    assert capped.count == 1 and capped.approximate


def test_it_lists_event_types_without_scanning(hold_for):
    hold_for("ord_t1", 9000)
    assert event_types_stored() == ["order.created"]


def test_it_generates_a_load_data_set(db):
    from django.core.management import call_command

    call_command("generate_load_data", events=60, holds=15, deliveries=20, batch=25)
    assert Event.objects.filter(order_id__startswith="load_").count() == 60
    holds = HeldOrder.objects.filter(id__startswith="hold_load_")
    assert holds.count() == 15
    assert holds.filter(status=HoldStatus.HELD).exists()
    # Each hold is on its own order and its own event, as the constraints want.
    assert holds.values("order").distinct().count() == 15
