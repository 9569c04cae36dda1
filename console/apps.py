from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The operations console on top of the other apps: dashboard, alerts and alert channels,
    health and metrics, replay runs, the demo and load-data commands."""

    name = "console"
    verbose_name = "Console"

    def ready(self) -> None:
        from console.receivers import receivers_connect

        receivers_connect()
