"""The console's three roles, with exactly the permissions their work needs."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

# (app_label, codename) per role. Compliance reviewers decide holds; operations run endpoints,
# secrets, blocks and replays but do not decide holds; auditors read everything, change nothing.
VIEW_ALL = [
    ("webhooks", "view_endpoint"),
    ("webhooks", "view_endpointsecret"),
    ("webhooks", "view_event"),
    ("webhooks", "view_delivery"),
    ("webhooks", "view_processingattempt"),
    ("webhooks", "view_auditentry"),
    ("rules", "view_block"),
    ("rules", "view_blockversion"),
    ("rules", "view_order"),
    ("rules", "view_heldorder"),
    ("rules", "view_decision"),
    ("rules", "view_risklistentry"),
]
ROLES = {
    "Compliance reviewer": [
        *VIEW_ALL,
        ("rules", "change_order"),
        ("rules", "decide_heldorder"),
    ],
    "Operations": [
        *VIEW_ALL,
        ("webhooks", "add_endpoint"),
        ("webhooks", "change_endpoint"),
        ("webhooks", "rotate_secret"),
        ("webhooks", "replay_event"),
        ("rules", "add_block"),
        ("rules", "change_block"),
        ("rules", "add_risklistentry"),
        ("rules", "change_risklistentry"),
        ("rules", "delete_risklistentry"),
    ],
    "Auditor": VIEW_ALL,
}


def create_roles(apps, schema_editor):
    # Permissions are normally created after all migrations ran; the groups need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    for name, codenames in ROLES.items():
        group, _ = group_model.objects.get_or_create(name=name)
        permissions = [
            permission_model.objects.get(content_type__app_label=app, codename=codename)
            for app, codename in codenames
        ]
        group.permissions.set(permissions)


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=list(ROLES)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("rules", "0002_default_ofac_regions"),
        ("webhooks", "0003_audit_trail_and_permissions"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
