"""The roles' permissions on the console's replay runs, alerts and four-eyes review."""

from django.db import migrations

from core.migration_operations import roles_grant

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


class Migration(migrations.Migration):
    dependencies = [
        ("rules", "0004_four_eyes"),
        ("rules", "0003_roles"),
        ("webhooks", "0004_console"),
    ]

    operations = [roles_grant(ADDED)]
