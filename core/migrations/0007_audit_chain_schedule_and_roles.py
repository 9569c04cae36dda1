"""The daily walk of the audit chain, and who may list and export the audit trail through the
API: auditors and operations."""

from django.db import migrations

from core import task_names
from core.migration_operations import roles_grant, schedule_install

SCHEDULE_NAME = "hookdesk: verify audit chain"
ROLES = {
    "Auditor": [("core", "export_auditentry")],
    "Operations": [("core", "export_auditentry")],
}


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0006_audit_chain_constraints"),
        ("rules", "0003_roles"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [
        schedule_install(name=SCHEDULE_NAME, func=task_names.VERIFY_AUDIT_CHAIN, minutes=24 * 60),
        roles_grant(ROLES),
    ]
