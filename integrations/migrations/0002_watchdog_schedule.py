"""The periodic watchdog that sends due retries and recovers lost enqueues and dead workers."""

from django.db import migrations

from core import task_names
from core.migration_operations import schedule_install

SCHEDULE_NAME = "hookdesk: outbound watchdog"  # also integrations.outbound.WATCHDOG_SCHEDULE_NAME


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [schedule_install(name=SCHEDULE_NAME, func=task_names.OUTBOUND_WATCHDOG, minutes=1)]
