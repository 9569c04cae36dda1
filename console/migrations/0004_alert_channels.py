"""Alert channels and the messages sent through them; alerts raised by an operational event
(no threshold: a destination hookdesk disabled); the channels' sweep; Operations manage the
channels, every role sees them."""

import console.models
import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

from core import task_names
from core.migration_operations import roles_grant, schedule_install

SWEEP_SCHEDULE_NAME = "hookdesk: alert channel sweep"  # also console.channels.SWEEP_SCHEDULE_NAME
VIEW = [("console", "view_alertchannel"), ("console", "view_channelmessage")]
ROLES = {
    "Operations": [
        *VIEW,
        ("console", "add_alertchannel"),
        ("console", "change_alertchannel"),
        ("console", "delete_alertchannel"),
    ],
    "Compliance reviewer": VIEW,
    "Auditor": VIEW,
}


class Migration(migrations.Migration):

    dependencies = [
        ('console', '0003_alert_kind_oldest_pending'),
        ('integrations', '0005_destination_limits'),
        ('webhooks', '0009_event_is_test'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        # The roles exist, and their exact grants are set, before these are added.
        ('rules', '0005_console_roles'),
        ('django_q', '0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more'),
    ]

    operations = [
        migrations.CreateModel(
            name='AlertChannel',
            fields=[
                ('id', models.CharField(default=console.models.new_channel_id, editable=False, max_length=40, primary_key=True, serialize=False)),
                ('name', models.CharField(max_length=200)),
                ('kind', models.CharField(choices=[('email', 'E-mail'), ('slack', 'Slack-compatible incoming webhook'), ('webhook', 'Signed webhook (Standard Webhooks)')], max_length=10)),
                ('target_encrypted', models.TextField(editable=False)),
                ('target_display', models.CharField(editable=False, help_text="What may be shown of the target: the addresses, the webhook's URL without its query, or a Slack URL's host and fingerprint.", max_length=300)),
                ('events', models.JSONField(default=console.models.all_operational_events, help_text='The operational events this channel is sent.')),
                ('active', models.BooleanField(default=True)),
                ('secret_encrypted', models.TextField(blank=True, editable=False)),
                ('secret_fingerprint', models.CharField(blank=True, editable=False, max_length=40)),
                ('last_sent_at', models.DateTimeField(blank=True, editable=False, null=True)),
                ('last_failure_at', models.DateTimeField(blank=True, editable=False, null=True)),
                ('last_error', models.CharField(blank=True, editable=False, max_length=500)),
                ('consecutive_failures', models.PositiveIntegerField(default=0, editable=False)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                ('updated_at', models.DateTimeField(auto_now=True)),
            ],
            options={
                'ordering': ['name'],
            },
        ),
        migrations.CreateModel(
            name='ChannelMessage',
            fields=[
                ('id', models.CharField(default=console.models.new_channel_message_id, editable=False, help_text='Sent as the webhook-id of a signed webhook: the same on every attempt.', max_length=40, primary_key=True, serialize=False)),
                ('event', models.CharField(max_length=40)),
                ('group', models.CharField(blank=True, help_text='Messages of one event and group are sent at most once in the quiet period (the dead letters of one destination).', max_length=100)),
                ('subject', models.CharField(max_length=300)),
                ('text', models.TextField()),
                ('data', models.JSONField(blank=True, default=dict)),
                ('link', models.CharField(blank=True, max_length=500)),
                ('status', models.CharField(choices=[('pending', 'Pending'), ('sent', 'Sent'), ('failed', 'Failed')], default='pending', max_length=10)),
                ('attempts', models.PositiveIntegerField(default=0)),
                ('max_attempts', models.PositiveSmallIntegerField()),
                ('next_attempt_at', models.DateTimeField(blank=True, null=True)),
                ('claimed_until', models.DateTimeField(blank=True, null=True)),
                ('queued_at', models.DateTimeField(blank=True, null=True)),
                ('last_status_code', models.PositiveSmallIntegerField(blank=True, null=True)),
                ('last_error', models.CharField(blank=True, max_length=500)),
                ('duration_ms', models.FloatField(blank=True, null=True)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
            ],
            options={
                'ordering': ['-created_at'],
            },
        ),
        migrations.AddField(
            model_name='alert',
            name='destination',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='integrations.destination'),
        ),
        migrations.AddField(
            model_name='alert',
            name='operational_event',
            field=models.CharField(blank=True, choices=[('destination.disabled', 'Destination disabled by hookdesk'), ('delivery.dead', 'Outbound delivery dead-lettered'), ('hold.overdue', 'Hold overdue for review')], help_text='What raised the alert when no threshold did.', max_length=30),
        ),
        migrations.AlterField(
            model_name='alert',
            name='threshold',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='alerts', to='console.alertthreshold'),
        ),
        migrations.AlterField(
            model_name='alert',
            name='value',
            field=models.DecimalField(blank=True, decimal_places=2, help_text='The figure, if any.', max_digits=12, null=True),
        ),
        migrations.AddIndex(
            model_name='alert',
            index=models.Index(condition=models.Q(('threshold__isnull', True)), fields=['operational_event', '-raised_at'], name='alert_by_event'),
        ),
        migrations.AddConstraint(
            model_name='alert',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('operational_event', ''), ('threshold__isnull', False)), models.Q(('threshold__isnull', True), models.Q(('operational_event', ''), _negated=True)), _connector='OR'), name='alert_threshold_or_event'),
        ),
        migrations.AddField(
            model_name='alertchannel',
            name='created_by',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='channelmessage',
            name='channel',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='messages', to='console.alertchannel'),
        ),
        migrations.AddIndex(
            model_name='alertchannel',
            index=models.Index(fields=['active', 'kind'], name='alertchannel_active_kind'),
        ),
        migrations.AddIndex(
            model_name='channelmessage',
            index=models.Index(fields=['channel', '-created_at'], name='channelmessage_channel'),
        ),
        migrations.AddIndex(
            model_name='channelmessage',
            index=models.Index(condition=models.Q(('group', ''), _negated=True), fields=['channel', 'event', 'group', '-created_at'], name='channelmessage_group'),
        ),
        migrations.AddIndex(
            model_name='channelmessage',
            index=models.Index(condition=models.Q(('status', 'pending')), fields=['next_attempt_at'], name='channelmessage_due'),
        ),
        schedule_install(
            name=SWEEP_SCHEDULE_NAME, func=task_names.SWEEP_CHANNEL_MESSAGES, minutes=1
        ),
        roles_grant(ROLES),
    ]
