"""Replay runs, alert thresholds and alerts move from the webhooks app to the console."""

import django.db.models.deletion
import django.utils.timezone
import uuid
from django.conf import settings
from django.db import migrations, models

from core.migration_operations import content_types_move


MOVED = ('replayrun', 'alertthreshold', 'alert')


class Migration(migrations.Migration):
    dependencies = [
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
                    name='AlertThreshold',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(max_length=200)),
                        ('kind', models.CharField(choices=[('signature_failures', 'Signature failures on an endpoint'), ('processing_failures', 'Processing failures on an endpoint'), ('hold_rate', 'Hold rate (% of order events held)')], max_length=30)),
                        ('limit', models.DecimalField(decimal_places=2, help_text='Raised when the figure is above this: a count of failures, or a percentage for the hold rate.', max_digits=10)),
                        ('window_minutes', models.PositiveIntegerField(default=10, help_text='The figure is taken over this many minutes back from now.')),
                        ('min_events', models.PositiveIntegerField(default=20, help_text='Hold rate only: fewer order events than this in the window say nothing.')),
                        ('recipients', models.CharField(blank=True, help_text="Comma-separated e-mail addresses; empty: the Operations group's members.", max_length=500)),
                        ('enabled', models.BooleanField(default=True)),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                        ('endpoint', models.ForeignKey(blank=True, help_text='Empty: every endpoint, each judged on its own.', null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='webhooks.endpoint')),
                    ],
                    options={
                        'db_table': 'webhooks_alertthreshold',
                        'ordering': ['name'],
                    },
                ),
                migrations.CreateModel(
                    name='Alert',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('raised_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('value', models.DecimalField(decimal_places=2, max_digits=12)),
                        ('message', models.TextField()),
                        ('order_ids', models.JSONField(blank=True, default=list)),
                        ('emailed_to', models.JSONField(blank=True, default=list)),
                        ('acknowledged_at', models.DateTimeField(blank=True, null=True)),
                        ('acknowledged_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('endpoint', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='webhooks.endpoint')),
                        ('threshold', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='alerts', to='console.alertthreshold')),
                    ],
                    options={
                        'db_table': 'webhooks_alert',
                        'ordering': ['-raised_at'],
                        'indexes': [models.Index(fields=['threshold', 'endpoint', '-raised_at'], name='alert_threshold'), models.Index(condition=models.Q(('acknowledged_at__isnull', True)), fields=['-raised_at'], name='alert_open')],
                    },
                ),
                migrations.CreateModel(
                    name='ReplayRun',
                    fields=[
                        ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                        ('dry_run', models.BooleanField(default=False, help_text='Shows what a replay would change without changing anything.')),
                        ('description', models.CharField(blank=True, max_length=500)),
                        ('filters', models.JSONField(blank=True, default=dict, help_text='The filter that chose the events (by-filter runs).')),
                        ('event_ids', models.JSONField(blank=True, help_text='The events chosen one by one (selection runs).', null=True)),
                        ('status', models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('done', 'Done'), ('failed', 'Failed')], default='queued', max_length=10)),
                        ('total', models.PositiveIntegerField(blank=True, null=True)),
                        ('done', models.PositiveIntegerField(default=0)),
                        ('processed', models.PositiveIntegerField(default=0)),
                        ('failed', models.PositiveIntegerField(default=0)),
                        ('skipped', models.PositiveIntegerField(default=0)),
                        ('would_hold', models.PositiveIntegerField(default=0, help_text='Dry runs: holds a replay makes.')),
                        ('result', models.JSONField(blank=True, default=dict, help_text='Dry runs: a sample of the holds a replay would make.')),
                        ('chunk', models.PositiveIntegerField(default=0, help_text='Chunks claimed so far.')),
                        ('cursor_received_at', models.DateTimeField(blank=True, null=True)),
                        ('cursor_event_id', models.CharField(blank=True, max_length=40)),
                        ('heartbeat_at', models.DateTimeField(blank=True, null=True)),
                        ('finished_at', models.DateTimeField(blank=True, null=True)),
                        ('error', models.TextField(blank=True)),
                        ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'webhooks_replayrun',
                        'ordering': ['-created_at'],
                        'indexes': [models.Index(fields=['-created_at'], name='replayrun_created')],
                    },
                ),
            ],
            database_operations=[],
        ),
        content_types_move(models=MOVED, from_app="webhooks", to_app="console"),
    ]
