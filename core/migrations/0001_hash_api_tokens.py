"""Tokens issued before keys were stored as digests: replace each stored key by its digest, so
the same token keeps working and the table no longer holds it."""

from django.db import migrations

from core.tokens import is_digest, token_digest


def hash_keys(apps, schema_editor):
    token_model = apps.get_model("authtoken", "Token")
    for token in list(token_model.objects.all()):
        if is_digest(token.key):
            continue
        key, user_id, created = token.key, token.user_id, token.created
        token.delete()  # the key is the primary key, and one token per user
        token_model.objects.create(key=token_digest(key), user_id=user_id, created=created)


class Migration(migrations.Migration):
    dependencies = [("authtoken", "0004_alter_tokenproxy_options")]

    # Irreversible by nature: the plaintext is gone.
    operations = [migrations.RunPython(hash_keys, migrations.RunPython.noop)]
