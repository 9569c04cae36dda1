"""The roles' permission on backtest runs: everyone who sees blocks sees their backtests.
Starting and cancelling one takes change_block, which operations already have."""

from django.db import migrations

from core.migration_operations import roles_grant

ADDED = {
    "Compliance reviewer": [("rules", "view_backtestrun")],
    "Operations": [("rules", "view_backtestrun")],
    "Auditor": [("rules", "view_backtestrun")],
}


class Migration(migrations.Migration):
    dependencies = [("rules", "0006_backtest_runs")]

    operations = [roles_grant(ADDED)]
