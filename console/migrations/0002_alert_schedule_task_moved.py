"""The alert schedule runs the console's task, which moved with the console out of webhooks."""

from django.db import migrations

SCHEDULE_NAME = "hookdesk: evaluate alerts"  # also console.alerts.ALERT_SCHEDULE_NAME
MOVES = {"webhooks.console.alerts.alerts_evaluate_task": "console.alerts.alerts_evaluate_task"}


def point_forward(apps, schema_editor):
    schedule = apps.get_model("django_q", "Schedule")
    for old, new in MOVES.items():
        schedule.objects.filter(func=old).update(func=new)


def point_back(apps, schema_editor):
    schedule = apps.get_model("django_q", "Schedule")
    for old, new in MOVES.items():
        schedule.objects.filter(func=new).update(func=old)


class Migration(migrations.Migration):
    dependencies = [
        ("console", "0001_console_models_from_webhooks"),
        ("webhooks", "0006_alert_schedule"),
    ]

    operations = [migrations.RunPython(point_forward, point_back)]
