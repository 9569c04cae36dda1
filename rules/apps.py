from django.apps import AppConfig


class RulesConfig(AppConfig):
    name = "rules"
    verbose_name = "Hold rules"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from rules.evaluation import blocks_live, ofac_regions_cached
        from rules.models import Block, RiskListEntry
        from rules.selectors import events_with_holds
        from webhooks.retention import retention_keeper_register

        # A change to a block or a risk list applies to every event stored after it commits,
        # in every process: the change bumps the cache's generation in its own transaction.
        for model, cache in ((Block, blocks_live), (RiskListEntry, ofac_regions_cached)):
            for signal, when in ((post_save, "saved"), (post_delete, "deleted")):
                uid = f"rules.cache.{cache.name}.{when}"
                signal.connect(cache.invalidate, sender=model, weak=False, dispatch_uid=uid)

        # Purging old events keeps those a hold was created by: they are the hold's evidence.
        retention_keeper_register(events_with_holds)
