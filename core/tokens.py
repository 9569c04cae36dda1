"""API tokens, stored as digests: a copy of the database does not hold a usable token.

DRF's Token model keeps its key in clear. Here every save of a Token stores the digest of the
key instead, and authentication looks the digest of the presented key up. The instance that was
saved keeps the plaintext key in memory, so `Token.objects.create(user=u).key` is still the
token to hand out, once; a token read back from the database only has its digest."""

import base64
import hashlib

from django.db.models.signals import post_save, pre_save
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token, TokenProxy

DIGEST_PREFIX = "h:"
_PLAINTEXT = "_hookdesk_plaintext_key"


def token_digest(key: str) -> str:
    """What is stored for `key`: 40 characters, as DRF's key column holds (228 bits of SHA-256)."""
    digest = base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest()).decode()
    return DIGEST_PREFIX + digest[:38]


def is_digest(value: str) -> bool:
    # DRF's keys are 40 hexadecimal characters: they never start with the prefix.
    return value.startswith(DIGEST_PREFIX)


class HashedTokenAuthentication(TokenAuthentication):
    """`Authorization: Token <key>`, checked against the stored digest."""

    def authenticate_credentials(self, key):
        return super().authenticate_credentials(token_digest(key))


def api_token_issue(*, user) -> str:
    """A new API token for `user`, replacing any earlier one. The plaintext is returned once:
    only its digest is stored."""
    Token.objects.filter(user=user).delete()
    return Token.objects.create(user=user).key


def _store_digest(sender, instance, raw=False, **kwargs):
    if raw or not instance.key or is_digest(instance.key):
        return
    setattr(instance, _PLAINTEXT, instance.key)
    instance.key = token_digest(instance.key)


def _give_back_plaintext(sender, instance, raw=False, **kwargs):
    plaintext = instance.__dict__.pop(_PLAINTEXT, None)
    if plaintext is not None:
        instance.key = plaintext


def connect_signals() -> None:
    for model in (Token, TokenProxy):
        pre_save.connect(_store_digest, sender=model, dispatch_uid=f"token-digest-{model.__name__}")
        post_save.connect(
            _give_back_plaintext, sender=model, dispatch_uid=f"token-plain-{model.__name__}"
        )
