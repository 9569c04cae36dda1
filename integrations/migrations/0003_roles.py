"""What the console's roles may do with destinations and outbound deliveries: Operations
manage them, Compliance reviewers and Auditors read them."""

from django.db import migrations

from core.migration_operations import roles_grant

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


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0002_watchdog_schedule"),
        ("rules", "0003_roles"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [roles_grant(ROLES)]
