"""The audit trail moves from the webhooks app to core, the kernel every app writes it from."""

import core.audit_actions
import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

from core.migration_operations import content_types_move


MOVED = ('auditentry',)


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0001_hash_api_tokens"),
        ("webhooks", "0006_alert_schedule"),
        ("rules", "0007_backtest_run_roles"),
        ("integrations", "0003_roles"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # The table stays where it is; only Django's idea of which app owns it changes.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='AuditEntry',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('at', models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                        ('actor_label', models.CharField(editable=False, help_text="Username at the time, or 'system'.", max_length=150)),
                        ('action', models.CharField(choices=core.audit_actions.audit_action_choices, editable=False, max_length=40)),
                        ('object_type', models.CharField(editable=False, max_length=40)),
                        ('object_id', models.CharField(editable=False, max_length=100)),
                        ('order_id', models.CharField(blank=True, editable=False, max_length=200)),
                        ('reason', models.TextField(blank=True, editable=False)),
                        ('before', models.JSONField(blank=True, editable=False, null=True)),
                        ('after', models.JSONField(blank=True, editable=False, null=True)),
                        ('actor', models.ForeignKey(blank=True, editable=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'verbose_name_plural': 'audit trail',
                        'db_table': 'webhooks_auditentry',
                        'ordering': ['-at', '-id'],
                        'indexes': [models.Index(fields=['-at'], name='audit_at'), models.Index(fields=['object_type', 'object_id', '-at'], name='audit_object'), models.Index(condition=models.Q(('order_id', ''), _negated=True), fields=['order_id', '-at'], name='audit_order'), models.Index(fields=['action', '-at'], name='audit_action')],
                    },
                ),
            ],
            database_operations=[],
        ),
        content_types_move(models=MOVED, from_app="webhooks", to_app="core"),
    ]
