"""Custom ERP: the operator maps hookdesk statuses to the ERP's and may write the URL and the
JSON body as templates (integrations/body_templates.py: placeholders only, nothing evaluated)."""

from typing import Any

from integrations.adapters.base import STATUSES, Adapter, OutboundEvent, OutboundRequest
from integrations.body_templates import (
    TemplateError,
    body_render,
    body_template_validate,
    url_render,
    url_template_origin,
    url_template_validate,
)
from integrations.envelopes import notice_data


class CustomErp(Adapter):
    name = "custom_erp"
    label = "Custom ERP"
    uses_status_mapping = True
    uses_templates = True

    def config_errors(
        self, *, url: str, status_mapping: dict[str, Any], body_template: str
    ) -> dict[str, str]:
        errors = super().config_errors(
            url=url, status_mapping=status_mapping, body_template=body_template
        )
        if not status_mapping and "status_mapping" not in errors:
            errors["status_mapping"] = (
                f"a custom ERP needs a status mapping for {', '.join(STATUSES)}, "
                'e.g. {"held": "ON_HOLD", "released": "OPEN", "rejected": "CANCELLED"}'
            )
        try:
            url_template_validate(url or "")
        except TemplateError as error:
            errors["url"] = str(error)
        if body_template:
            try:
                body_template_validate(body_template)
            except TemplateError as error:
                errors["body_template"] = str(error)
        return errors

    def connect_url(self, url: str) -> str:
        # Placeholders stand only in the path and query (refused elsewhere when saved), so
        # the template without them has the host of every URL it renders.
        return url_template_origin(url)

    def extra_data(self, *, event: OutboundEvent, status_mapping: dict[str, str]) -> dict:
        status = event.notice["status"]
        return {"erp_status": status_mapping.get(status, status)}

    def request(
        self,
        *,
        event: OutboundEvent,
        url: str,
        scheme: str,
        scope: str,
        status_mapping: dict[str, str],
        body_template: str,
    ) -> OutboundRequest:
        plain = super().request(
            event=event,
            url=url,
            scheme=scheme,
            scope=scope,
            status_mapping=status_mapping,
            body_template=body_template,
        )
        values = {
            **notice_data(event.notice, scope=scope),
            **self.extra_data(event=event, status_mapping=self.status_mapping(status_mapping)),
            "event_id": event.event_id,
            "event_type": event.event_type,
            "created_at": event.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        return OutboundRequest(
            url=url_render(url, values),
            body=body_render(body_template, values) if body_template else plain.body,
        )
