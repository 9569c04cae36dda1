"""Every task hookdesk queues or schedules, by the dotted path django-q2 imports it from.

This is the one place a task is named. Code that queues a task and migrations that install a
schedule refer to these constants; a test imports every one of them, so a task renamed or moved
without its name fails the suite instead of failing in a worker long after it was queued. The
values are strings, not imports: the kernel names the tasks of the apps above it without
importing them."""

# core: the audit trail's daily chain verification
VERIFY_AUDIT_CHAIN = "core.audit.audit_chain_verify_task"

# webhooks: processing
PROCESS_EVENT = "webhooks.tasks.process_event"
PROCESS_ENDPOINT = "webhooks.tasks.process_endpoint"
SWEEP_EVENTS = "webhooks.tasks.sweep_events"

# rules: background backtests and bulk decisions
BACKTEST_RUN_STEP = "rules.backtest.backtest_run_step"
HOLDS_DECIDE = "rules.bulk.holds_decide_task"

# integrations: outbound delivery
SEND_DELIVERY = "integrations.tasks.send_delivery"
DRAIN_DESTINATION = "integrations.tasks.drain_destination"
OUTBOUND_WATCHDOG = "integrations.tasks.watchdog"

# console: replay runs, alerts and alert channels
REPLAY_RUN_STEP = "console.replay.replay_run_step"
EVALUATE_ALERTS = "console.alerts.alerts_evaluate_task"
SEND_CHANNEL_MESSAGE = "console.channels.channel_message_send_task"
SWEEP_CHANNEL_MESSAGES = "console.channels.channel_messages_sweep_task"


def task_names() -> dict[str, str]:
    """Every constant above, by its name."""
    return {name: value for name, value in globals().items() if name.isupper()}
