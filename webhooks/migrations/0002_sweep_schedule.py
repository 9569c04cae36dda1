"""The periodic sweep that recovers lost enqueues, due retries and dead workers' claims."""

from django.db import migrations

from core import task_names
from core.migration_operations import schedule_install

SCHEDULE_NAME = "hookdesk: sweep events"  # also webhooks.processing.SWEEP_SCHEDULE_NAME


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [schedule_install(name=SCHEDULE_NAME, func=task_names.SWEEP_EVENTS, minutes=1)]
