"""The interface every adapter implements: how one decision becomes one HTTP request."""

from dataclasses import dataclass
from typing import Any

from integrations.envelopes import envelope_body, notice_data
from integrations.url_guard import UrlRefused, url_target

STATUSES = ("held", "released", "rejected")


@dataclass(frozen=True)
class OutboundRequest:
    url: str
    body: bytes


@dataclass(frozen=True)
class OutboundEvent:
    """One event as adapters see it: the outbox's notice plus its identity."""

    event_id: str
    event_type: str
    created_at: Any  # datetime
    notice: dict[str, Any]


class Adapter:
    """A plain signed webhook in the destination's scheme. Adapters for particular receivers
    override `extra_data` (fields added to `data`) or `request` (the whole request)."""

    name: str = ""
    label: str = ""
    #: Whether operators map hookdesk statuses to the receiver's, and the mapping by default.
    uses_status_mapping = False
    default_status_mapping: dict[str, str] = {}
    #: Whether the URL and body are operator-written templates.
    uses_templates = False

    def status_mapping(self, configured: dict[str, str] | None) -> dict[str, str]:
        """The mapping in effect: the operator's entries over the adapter's defaults."""
        if not self.uses_status_mapping:
            return {}
        return {**self.default_status_mapping, **(configured or {})}

    def config_errors(
        self, *, url: str, status_mapping: dict[str, Any], body_template: str
    ) -> dict[str, str]:
        """Problems with a destination's configuration, by field; empty when usable."""
        errors: dict[str, str] = {}
        if not self.uses_templates:
            try:
                url_target(url or "")
            except UrlRefused as error:
                errors["url"] = str(error)
            if body_template:
                errors["body_template"] = f"the {self.name} adapter takes no body template"
        if status_mapping and not self.uses_status_mapping:
            errors["status_mapping"] = f"the {self.name} adapter takes no status mapping"
        elif status_mapping:
            unknown = set(status_mapping) - set(STATUSES)
            if unknown:
                errors["status_mapping"] = (
                    f"unknown hookdesk statuses {', '.join(sorted(unknown))}; "
                    f"map {', '.join(STATUSES)}"
                )
            elif not all(isinstance(v, str) and v.strip() for v in status_mapping.values()):
                errors["status_mapping"] = "each mapped status must be a non-empty string"
        return errors

    def connect_url(self, url: str) -> str:
        """A URL with the scheme, host and port every request of this destination goes to:
        what the URL guard checks when the destination is saved."""
        return url

    def extra_data(self, *, event: OutboundEvent, status_mapping: dict[str, str]) -> dict:
        return {}

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
        data = notice_data(event.notice, scope=scope)
        data |= self.extra_data(event=event, status_mapping=self.status_mapping(status_mapping))
        body = envelope_body(
            scheme=scheme,
            event_id=event.event_id,
            event_type=event.event_type,
            created_at=event.created_at,
            data=data,
        )
        return OutboundRequest(url=url, body=body)
