"""The console's three roles, with exactly the permissions their work needs."""

from django.db import migrations

from core.migration_operations import roles_grant

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


class Migration(migrations.Migration):
    dependencies = [
        ("rules", "0002_default_ofac_regions"),
        ("webhooks", "0003_audit_trail_and_permissions"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [roles_grant(ROLES, exactly=True)]
