"""A database made before the audit trail moved to core, and replay runs and alerts to the
console, migrates forward with everything still there, readable and permitted as before."""

import importlib
import json
import os
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path

import psycopg2
import pytest
from django.db import connections
from django.utils import timezone

from console.models import Alert, AlertThreshold, ReplayRun
from core import audit_chain
from core.models import AuditEntry
from integrations.models import Destination
from rules.models import HeldOrder
from webhooks.models import Event

# The schema as it was: every app at its last migration before the move.
BEFORE_THE_MOVE = [
    ("webhooks", "0006_alert_schedule"),
    ("rules", "0007_backtest_run_roles"),
    ("integrations", "0003_roles"),
    ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
]
ALIAS = "migration_check"
# What Operations were granted by migrations made after the move.
_ALERT_CHANNELS = importlib.import_module("console.migrations.0004_alert_channels")
_AUDIT_EXPORT = importlib.import_module("core.migrations.0007_audit_chain_schedule_and_roles")
ADDED_AFTER_THE_MOVE = {
    codename
    for migration in (_ALERT_CHANNELS, _AUDIT_EXPORT)
    for _app, codename in migration.ROLES["Operations"]
}
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def old_database(django_db_blocker):
    """A database of its own, at the schema before the move; dropped afterwards."""
    default = connections["default"].settings_dict
    name = f"hookdesk_migration_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(
        dbname="postgres",
        user=default["USER"],
        password=default["PASSWORD"],
        host=default["HOST"],
        port=default["PORT"],
    )
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    connections.databases[ALIAS] = {**default, "NAME": name}
    url = f"postgres://{default['USER']}@{default['HOST']}:{default['PORT']}/{name}"
    try:
        with django_db_blocker.unblock():
            yield url
    finally:
        connections[ALIAS].close()
        del connections[ALIAS]
        del connections.databases[ALIAS]
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def _manage(url: str, *args: str) -> str:
    """A management command on that database, as an operator upgrading would run it. (The
    role migrations write to the default database, so the old schema is made as default.)"""
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


FILL = """
import json
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from tests.architecture.test_moved_models_migrate import BEFORE_THE_MOVE, fill_old_schema
apps = MigrationExecutor(connection).loader.project_state(BEFORE_THE_MOVE).apps
print(json.dumps(fill_old_schema(apps)))
"""


def fill_old_schema(apps) -> dict:
    """Rows written through the models as they were before the move."""
    now = timezone.now()
    user = apps.get_model("auth", "User").objects.create(username="oscar", is_staff=True)
    endpoint = apps.get_model("webhooks", "Endpoint").objects.create(
        slug="procureiq-live", provider="procureiq"
    )
    event = apps.get_model("webhooks", "Event").objects.create(
        id="evt_moved_1",
        endpoint=endpoint,
        event_type="order.created",
        body=b'{"order_id":"PO-1"}',
        body_sha256="0" * 64,
        status="processed",
        order_id="PO-1",
    )
    order = apps.get_model("rules", "Order").objects.create(order_id="PO-1", endpoint=endpoint)
    hold = apps.get_model("rules", "HeldOrder").objects.create(
        id="hold_moved_1",
        order=order,
        source="local",
        amount=Decimal("7500.0000"),
        event=event,
        reasons=["order value 7500 > 5000"],
    )
    apps.get_model("webhooks", "AuditEntry").objects.create(
        actor=user,
        actor_label="oscar",
        action="hold.created",
        object_type="hold",
        object_id=hold.id,
        order_id="PO-1",
        after={"status": "held"},
    )
    run = apps.get_model("webhooks", "ReplayRun").objects.create(
        created_by=user, description="events matching status=failed", total=3, done=3
    )
    threshold = apps.get_model("webhooks", "AlertThreshold").objects.create(
        name="Signature failures", kind="signature_failures", limit=Decimal("3")
    )
    apps.get_model("webhooks", "Alert").objects.create(
        threshold=threshold, endpoint=endpoint, raised_at=now, value=5, message="5 failures"
    )
    apps.get_model("integrations", "Destination").objects.create(
        name="ERP", adapter="webhook", url="https://erp.example.test/hooks"
    )
    return {"run": str(run.pk), "hold": hold.id, "event": event.id}


def _operations_grants() -> set[tuple[str, str]]:
    with connections[ALIAS].cursor() as cursor:
        cursor.execute(
            "SELECT ct.app_label, p.codename FROM auth_group g "
            "JOIN auth_group_permissions gp ON gp.group_id = g.id "
            "JOIN auth_permission p ON p.id = gp.permission_id "
            "JOIN django_content_type ct ON ct.id = p.content_type_id "
            "WHERE g.name = 'Operations'"
        )
        return set(cursor.fetchall())


def test_a_database_from_before_the_move_migrates_with_everything_still_there(old_database):
    for app, migration in BEFORE_THE_MOVE:
        _manage(old_database, "migrate", app, migration, "--noinput")
    ids = json.loads(_manage(old_database, "shell", "--no-imports", "-c", FILL).splitlines()[-1])
    granted_before = _operations_grants()
    assert ("webhooks", "add_replayrun") in granted_before
    connections[ALIAS].close()

    _manage(old_database, "migrate", "--noinput")

    entry = AuditEntry.objects.using(ALIAS).get(object_id=ids["hold"])
    assert (entry.action, entry.actor.username, entry.after) == (
        "hold.created",
        "oscar",
        {"status": "held"},
    )
    assert entry.get_action_display() == "Hold created"
    # The entries written before the chain existed were chained in the order they were written.
    assert (entry.seq, entry.prev_hash) == (1, audit_chain.GENESIS)
    assert entry.hash == audit_chain.link_hash(1, audit_chain.GENESIS, entry.content_hash)
    assert entry.content_hash == audit_chain.content_hash(audit_chain.instance_values(entry))
    run = ReplayRun.objects.using(ALIAS).get(pk=ids["run"])
    assert (run.description, run.done, run.created_by.username) == (
        "events matching status=failed",
        3,
        "oscar",
    )
    alert = Alert.objects.using(ALIAS).select_related("threshold", "endpoint").get()
    assert (alert.threshold.name, alert.endpoint.slug, alert.message) == (
        "Signature failures",
        "procureiq-live",
        "5 failures",
    )
    assert AlertThreshold.objects.using(ALIAS).count() == 1
    hold = HeldOrder.objects.using(ALIAS).select_related("event").get(pk=ids["hold"])
    assert hold.event.pk == ids["event"] and hold.amount == Decimal("7500")
    assert Event.objects.using(ALIAS).count() == 1
    assert Destination.objects.using(ALIAS).get().url == "https://erp.example.test/hooks"

    # The roles keep their grants: the permissions followed the models to their new apps.
    with connections[ALIAS].cursor() as cursor:
        cursor.execute(
            "SELECT app_label FROM django_content_type WHERE model IN "
            "('auditentry', 'replayrun', 'alertthreshold', 'alert') ORDER BY model"
        )
        assert [row[0] for row in cursor.fetchall()] == ["console", "console", "core", "console"]
    granted_after = _operations_grants()
    assert ("console", "add_replayrun") in granted_after
    assert ("console", "change_alertthreshold") in granted_after
    # Later migrations may grant more (alert channels); nothing granted before is lost.
    assert {codename for _app, codename in granted_after} - ADDED_AFTER_THE_MOVE == {
        codename for _app, codename in granted_before
    }

    schedule = connections[ALIAS].cursor()
    schedule.execute("SELECT func FROM django_q_schedule WHERE name = 'hookdesk: evaluate alerts'")
    assert schedule.fetchone() == ("console.alerts.alerts_evaluate_task",)
    schedule.close()
