"""The kernel: ids, encryption, the audit trail, plain SQL, caches, the API's and the admin's
base classes. It imports no other app of the project."""

from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "hookdesk"

    def ready(self):
        from django_q.signals import post_spawn

        from core import clock, tokens

        tokens.connect_signals()
        # Each cluster worker runs a clock that queues retries when they fall due.
        post_spawn.connect(clock.clock_start, dispatch_uid="hookdesk-clock")


class HookdeskAdminConfig(AdminConfig):
    """The stock admin on core.admin_site's site, whose login refuses guessing."""

    default_site = "core.admin_site.HookdeskAdminSite"
