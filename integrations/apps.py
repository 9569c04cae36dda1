from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations"

    def ready(self) -> None:
        from integrations import checks  # noqa: F401  registers the system checks
        from integrations.outbound import on_hold_changed
        from rules.signals import hold_changed

        # The outbox rows are written inside the transaction that decided the hold.
        hold_changed.connect(on_hold_changed, dispatch_uid="integrations.outbox")
