from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from integrations import checks  # noqa: F401  registers the system checks
        from integrations.evidence import hold_outbound_evidence
        from integrations.models import Destination
        from integrations.outbound import destinations_cache_clear, on_hold_changed
        from integrations.timeline import order_downstream_entries
        from rules.evidence import evidence_section_register
        from rules.signals import hold_changed
        from rules.timeline import timeline_source_register

        timeline_source_register(order_downstream_entries)
        evidence_section_register("outbound_deliveries", hold_outbound_evidence)
        # The outbox rows are written inside the transaction that decided the hold.
        hold_changed.connect(on_hold_changed, dispatch_uid="integrations.outbox")
        post_save.connect(destinations_cache_clear, sender=Destination,
                          dispatch_uid="integrations.destinations_cache.saved")  # fmt: skip
        post_delete.connect(destinations_cache_clear, sender=Destination,
                            dispatch_uid="integrations.destinations_cache.deleted")  # fmt: skip
