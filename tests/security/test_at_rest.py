"""Secrets at rest: after every kind of secret was created and used, no table holds one."""

import pytest
from django.db import connection
from rest_framework.authtoken.models import Token

from core.tokens import token_digest
from tests.security.conftest import held_order


def every_table_as_text() -> dict[str, str]:
    """Each table's rows, every column as text; binary columns both decoded and in hex."""
    dump = {}
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            # Table names come from the database catalogue, quoted.
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            parts = []
            for row in cursor.fetchall():
                for value in row:
                    if isinstance(value, memoryview | bytes):
                        value = bytes(value)
                        parts += [value.decode("latin-1"), value.hex()]
                    else:
                        parts.append(str(value))
            dump[table] = "\n".join(parts)
    return dump


@pytest.mark.django_db
def test_it_keeps_no_secret_in_any_column_of_any_table(secret_world, settings):
    # Use the secrets too: deliveries verified by them, a hold, outbound deliveries owed.
    endpoint = secret_world.endpoints["autranex"]
    held_order(endpoint, secret_world.secrets["autranex rotated secret"], order_id="ord_rest")

    dump = every_table_as_text()

    assert "authtoken_token" in dump and "webhooks_endpointsecret" in dump
    leaks = {table: secret_world.leaks(text) for table, text in dump.items()}
    assert {table: labels for table, labels in leaks.items() if labels} == {}


@pytest.mark.django_db
def test_it_stores_what_decrypts_to_each_secret(secret_world):
    """The dump above must not pass because nothing was stored: the ciphertexts are there."""
    from core import crypto
    from integrations.crypto_fields import destination_key, destination_secret

    endpoint = secret_world.endpoints["standard"]
    stored = endpoint.secrets.get()
    assert crypto.decrypt(stored.encrypted) == secret_world.secrets["standard secret"]
    automation = secret_world.endpoints["automation"]
    assert crypto.decrypt(automation.installation_key_encrypted) == "install-key-Zq81vX3pL0"
    destination = secret_world.destination
    destination.refresh_from_db()
    assert destination_secret(destination) == secret_world.secrets["destination secret"]
    assert destination_key(destination) == secret_world.secrets["destination key"]


@pytest.mark.django_db
def test_it_stores_api_tokens_as_digests_that_still_authenticate(secret_world, client):
    stored = Token.objects.get(key=token_digest(secret_world.token))
    assert stored.key != secret_world.token

    ok = client.get("/api/v2/events/", HTTP_AUTHORIZATION=f"Token {secret_world.token}")
    assert ok.status_code == 200
    # The digest itself, read from a copy of the database, is not a token.
    stolen = client.get("/api/v2/events/", HTTP_AUTHORIZATION=f"Token {stored.key}")
    assert stolen.status_code == 401


@pytest.mark.django_db
def test_it_hashes_tokens_issued_before_digests_were_stored(secret_world, client):
    from django.db.migrations.executor import MigrationExecutor

    # A token row as DRF wrote it before: the key in clear.
    user = Token.objects.get(key=token_digest(secret_world.token)).user
    Token.objects.filter(user=user).delete()
    plain = "0123456789abcdef0123456789abcdef01234567"
    Token.objects.bulk_create([Token(key=plain, user=user)])  # bulk_create skips the signals

    executor = MigrationExecutor(connection)
    migration = executor.loader.get_migration("core", "0001_hash_api_tokens")
    migration.operations[0].code(executor.loader.project_state().apps, None)

    assert list(Token.objects.values_list("key", flat=True)) == [token_digest(plain)]
    ok = client.get("/api/v2/events/", HTTP_AUTHORIZATION=f"Token {plain}")
    assert ok.status_code == 200
