"""Encryption at rest for secrets (Fernet, with key rotation through MultiFernet)."""

import base64
import functools
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


class SecretDecryptionError(Exception):
    """A stored secret could not be decrypted with any configured key."""


def _derive_key_from_secret_key() -> bytes:
    hkdf = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=b"hookdesk",
        info=b"hookdesk secret encryption",
    )
    return base64.urlsafe_b64encode(hkdf.derive(settings.SECRET_KEY.encode()))


@functools.cache
def _fernet() -> MultiFernet:
    keys = settings.HOOKDESK["ENCRYPTION_KEYS"] or [_derive_key_from_secret_key()]
    return MultiFernet([Fernet(key) for key in keys])


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode("ascii")


@functools.lru_cache(maxsize=4096)
def decrypt(token: str) -> str:
    """Tokens are immutable, so their plaintext is cached: the receiver decrypts the same few
    secrets on every delivery."""
    try:
        return _fernet().decrypt(token.encode("ascii")).decode()
    except InvalidToken:
        raise SecretDecryptionError(
            "stored secret does not decrypt with the configured keys"
        ) from None


def fingerprint(plaintext: str) -> str:
    """A short, non-reversible name for a secret, safe to show and log."""
    return "sha256:" + hashlib.sha256(plaintext.encode()).hexdigest()[:16]
