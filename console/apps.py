from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The operations console on top of the other apps: dashboard, alerts, health and metrics,
    replay runs, the demo and load-data commands."""

    name = "console"
    verbose_name = "Console"
