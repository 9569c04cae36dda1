"""The roles' permission on backtest runs: everyone who sees blocks sees their backtests.
Starting and cancelling one takes change_block, which operations already have."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ADDED = {
    "Compliance reviewer": [("rules", "view_backtestrun")],
    "Operations": [("rules", "view_backtestrun")],
    "Auditor": [("rules", "view_backtestrun")],
}


def grant(apps, schema_editor):
    # Permissions are normally created after all migrations ran; the groups need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    for name, codenames in ADDED.items():
        group, _ = group_model.objects.get_or_create(name=name)
        group.permissions.add(
            *[
                permission_model.objects.get(content_type__app_label=app, codename=codename)
                for app, codename in codenames
            ]
        )


def revoke(apps, schema_editor):
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    for name, codenames in ADDED.items():
        group = group_model.objects.filter(name=name).first()
        if group is None:
            continue
        for app, codename in codenames:
            group.permissions.remove(
                *permission_model.objects.filter(content_type__app_label=app, codename=codename)
            )


class Migration(migrations.Migration):
    dependencies = [("rules", "0006_backtest_runs")]

    operations = [migrations.RunPython(grant, revoke)]
