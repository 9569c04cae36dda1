"""The periodic evaluation of the alert thresholds operations set."""

from django.db import migrations

from core import task_names
from core.migration_operations import schedule_install

SCHEDULE_NAME = "hookdesk: evaluate alerts"  # also console.alerts.ALERT_SCHEDULE_NAME


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0005_event_status_index"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [schedule_install(name=SCHEDULE_NAME, func=task_names.EVALUATE_ALERTS, minutes=1)]
