from django.apps import AppConfig


class RulesConfig(AppConfig):
    name = "rules"
    verbose_name = "Hold rules"

    def ready(self) -> None:
        from rules.selectors import events_with_holds
        from webhooks.retention import retention_keeper_register

        # Purging old events keeps those a hold was created by: they are the hold's evidence.
        retention_keeper_register(events_with_holds)
