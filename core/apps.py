"""The kernel: ids, encryption, the audit trail, plain SQL, caches, the API's and the admin's
base classes. It imports no other app of the project."""

from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "hookdesk"

    def ready(self):
        from core import tokens

        tokens.connect_signals()


class HookdeskAdminConfig(AdminConfig):
    """The stock admin on core.admin_site's site, whose login refuses guessing."""

    default_site = "core.admin_site.HookdeskAdminSite"
