"""What the console's roles may do with destinations and outbound deliveries: Operations
manage them, Compliance reviewers and Auditors read them."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

MODELS = ("destination", "outbounddelivery", "outboundattempt")
VIEW = [("integrations", f"view_{model}") for model in MODELS]
ROLES = {
    "Operations": [
        *VIEW,
        *[
            ("integrations", f"{verb}_{model}")
            for model in ("destination", "outbounddelivery")
            for verb in ("add", "change", "delete")
        ],
    ],
    "Compliance reviewer": VIEW,
    "Auditor": VIEW,
}


def grant(apps, schema_editor):
    # Permissions are normally created after all migrations ran; the groups need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    for name, codenames in ROLES.items():
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
    permissions = permission_model.objects.filter(content_type__app_label="integrations")
    for group in group_model.objects.filter(name__in=list(ROLES)):
        group.permissions.remove(*permissions)


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0002_watchdog_schedule"),
        ("rules", "0003_roles"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
