"""A destination's encrypted fields, in and out (core.crypto: Fernet at rest)."""

from core import crypto
from integrations.models import Destination


def encrypt_or_empty(value: str | None) -> str:
    return crypto.encrypt(value) if value else ""


def decrypt_or_empty(token: str) -> str:
    return crypto.decrypt(token) if token else ""


def destination_secret(destination: Destination) -> str:
    return decrypt_or_empty(destination.secret_encrypted)


def destination_key(destination: Destination) -> str:
    return decrypt_or_empty(destination.key_encrypted)


def destination_tls(destination: Destination) -> dict:
    """Keyword arguments of integrations.tls.ssl_context for the destination."""
    return {
        "trust_all": destination.tls_trust_all,
        "ca_bundle": destination.tls_ca_bundle,
        "client_cert": destination.tls_client_cert,
        "client_key": decrypt_or_empty(destination.tls_client_key_encrypted),
        "client_key_password": decrypt_or_empty(destination.tls_client_key_password_encrypted),
    }
