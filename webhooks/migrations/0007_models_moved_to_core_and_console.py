"""The audit trail now belongs to core, replay runs and alerts to the console: their tables stay."""

from django.db import migrations



class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0006_alert_schedule"),
        ("core", "0002_audit_entry_from_webhooks"),
        ("console", "0001_console_models_from_webhooks"),
    ]

    operations = [
        # The table stays where it is; only Django's idea of which app owns it changes.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name='alertthreshold',
                    name='endpoint',
                ),
                migrations.RemoveField(
                    model_name='auditentry',
                    name='actor',
                ),
                migrations.RemoveField(
                    model_name='replayrun',
                    name='created_by',
                ),
                migrations.DeleteModel(
                    name='Alert',
                ),
                migrations.DeleteModel(
                    name='AlertThreshold',
                ),
                migrations.DeleteModel(
                    name='AuditEntry',
                ),
                migrations.DeleteModel(
                    name='ReplayRun',
                ),
            ],
            database_operations=[],
        ),
    ]
