"""The roles' permissions on the console's replay runs, alerts and four-eyes review."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

# Added to the groups of 0003_roles. Everyone sees replay runs, alerts and the review policy;
# operations start replays, set alert thresholds and the four-eyes amount, and acknowledge
# alerts; reviewers see release requests waiting for them (deciding stays decide_heldorder).
VIEW_ALL = [
    ("webhooks", "view_replayrun"),
    ("webhooks", "view_alert"),
    ("webhooks", "view_alertthreshold"),
    ("rules", "view_reviewpolicy"),
    ("rules", "view_releaserequest"),
]
ADDED = {
    "Compliance reviewer": VIEW_ALL,
    "Operations": [
        *VIEW_ALL,
        ("webhooks", "add_replayrun"),
        ("webhooks", "change_alert"),
        ("webhooks", "add_alertthreshold"),
        ("webhooks", "change_alertthreshold"),
        ("webhooks", "delete_alertthreshold"),
        ("rules", "change_reviewpolicy"),
    ],
    "Auditor": VIEW_ALL,
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
    dependencies = [
        ("rules", "0004_four_eyes"),
        ("rules", "0003_roles"),
        ("webhooks", "0004_console"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
