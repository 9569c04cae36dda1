"""The audit trail becomes a hash chain (core.audit_chain): each entry gets its content hash,
its place and the previous entry's hash. Entries already written are chained in the order they
were written (by id); then the database links every new entry at its transaction's commit."""

from django.db import migrations, models

from core import audit_chain

BATCH = 2000


def chain_existing(apps, schema_editor):
    entry_model = apps.get_model("core", "AuditEntry")
    connection = schema_editor.connection
    table = connection.ops.quote_name(entry_model._meta.db_table)
    update = f"UPDATE {table} SET seq = %s, content_hash = %s, prev_hash = %s, hash = %s WHERE id = %s"
    seq, prev, last_id = 0, audit_chain.GENESIS, 0
    while True:
        rows = list(
            entry_model.objects.filter(id__gt=last_id)
            .order_by("id")
            .values("id", *audit_chain.CONTENT_FIELDS)[:BATCH]
        )
        if not rows:
            break
        params = []
        for row in rows:
            seq += 1
            content = audit_chain.content_hash(row)
            digest = audit_chain.link_hash(seq, prev, content)
            params.append((seq, content, prev, digest, row["id"]))
            prev = digest
        with connection.cursor() as cursor:
            cursor.executemany(update, params)
        last_id = rows[-1]["id"]


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0004_cache_generations"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditentry",
            name="seq",
            field=models.BigIntegerField(blank=True, editable=False, help_text="Place in the chain, from 1; set when the writing transaction commits.", null=True),
        ),
        migrations.AddField(
            model_name="auditentry",
            name="content_hash",
            field=models.CharField(default="", editable=False, help_text="SHA-256 of the entry's canonical content.", max_length=64),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="auditentry",
            name="prev_hash",
            field=models.CharField(blank=True, default="", editable=False, help_text="The previous entry's hash.", max_length=64),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="auditentry",
            name="hash",
            field=models.CharField(blank=True, default="", editable=False, help_text="SHA-256 of the place, the previous hash and the content hash.", max_length=64),
            preserve_default=False,
        ),
        migrations.RunPython(chain_existing, migrations.RunPython.noop),
    ]
