"""The project's own app: API tokens stored as digests (config.tokens) and their migration."""

from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig


class HookdeskConfig(AppConfig):
    name = "config"
    label = "hookdesk_config"
    verbose_name = "hookdesk"

    def ready(self):
        from config import tokens

        tokens.connect_signals()


class HookdeskAdminConfig(AdminConfig):
    """The stock admin on config.admin_site's site, whose login refuses guessing."""

    default_site = "config.admin_site.HookdeskAdminSite"
