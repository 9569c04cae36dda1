"""The chain's rules in the database: one entry per place, no entry without its content hash,
and (on PostgreSQL) the trigger that links each new entry at its transaction's commit."""

from django.db import migrations, models

from core import audit_chain


def trigger_install(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return  # elsewhere core.audit_chain.entries_link() links entries as they are written
    table = apps.get_model("core", "AuditEntry")._meta.db_table
    install, _ = audit_chain.trigger_sql(schema_editor.connection.ops.quote_name(table))
    schema_editor.execute(install)


def trigger_remove(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = apps.get_model("core", "AuditEntry")._meta.db_table
    _, remove = audit_chain.trigger_sql(schema_editor.connection.ops.quote_name(table))
    schema_editor.execute(remove)


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0005_audit_chain"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="auditentry",
            options={
                "ordering": ["-at", "-id"],
                "permissions": [("export_auditentry", "Can list and export the audit trail through the API")],
                "verbose_name_plural": "audit trail",
            },
        ),
        migrations.AddIndex(
            model_name="auditentry",
            index=models.Index(fields=["actor_label", "-at"], name="audit_actor"),
        ),
        migrations.AddIndex(
            model_name="auditentry",
            index=models.Index(fields=["hash"], name="audit_hash"),
        ),
        migrations.AddConstraint(
            model_name="auditentry",
            constraint=models.UniqueConstraint(fields=("seq",), name="audit_seq_unique"),
        ),
        migrations.AddConstraint(
            model_name="auditentry",
            constraint=models.CheckConstraint(
                condition=models.Q(("content_hash__regex", "^[0-9a-f]{64}$")),
                name="audit_content_hash_set",
                violation_error_message="audit entries are written through core.audit",
            ),
        ),
        migrations.RunPython(trigger_install, trigger_remove),
    ]
