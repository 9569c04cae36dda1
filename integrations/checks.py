"""System checks: outbound settings that would make deliveries run twice or never retry, or
let the URL guard start with an allow-list it cannot read."""

from django.conf import settings
from django.core.checks import Error, register
from django.core.exceptions import ImproperlyConfigured

from integrations.conf import conf
from integrations.url_guard import allowed_networks


@register()
def outbound_settings_check(app_configs=None, **kwargs):
    errors = []
    values = conf()
    schedule = values["RETRY_SCHEDULE_SECONDS"]
    if not schedule or not all(isinstance(s, int | float) and s >= 0 for s in schedule):
        errors.append(
            Error(
                "HOOKDESK_INTEGRATIONS['RETRY_SCHEDULE_SECONDS'] must be a non-empty list of "
                "non-negative seconds",
                id="integrations.E001",
            )
        )
    # A send may run for twice the connection timeout; the ORM broker hands a task to another
    # worker after `retry` seconds, so a longer send would be started twice.
    retry = settings.Q_CLUSTER.get("retry")
    if retry and 2 * values["MAX_CONNECTION_TIMEOUT_SECONDS"] + 15 >= retry:
        errors.append(
            Error(
                "HOOKDESK_INTEGRATIONS['MAX_CONNECTION_TIMEOUT_SECONDS'] is too long for "
                f"Q_CLUSTER['retry'] ({retry} s): keep 2 * timeout + 15 below it",
                id="integrations.E002",
            )
        )
    try:
        allowed_networks()
    except ImproperlyConfigured as error:
        errors.append(Error(str(error), id="integrations.E003"))
    return errors
