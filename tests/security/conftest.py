"""Every kind of secret hookdesk holds, made through its own services, and the encodings in
which a leak of one could show up."""

import base64
import datetime
import itertools
import json
from dataclasses import dataclass, field

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.contrib.auth.models import User
from django.test import Client

from core.tokens import api_token_issue
from integrations.services import destination_create
from rules.models import HeldOrder
from tests.signing import as_meta, autranex_headers
from webhooks.models import Event
from webhooks.processing import event_process
from webhooks.services import secret_rotate

PROVIDERS = ("autranex", "procureiq", "automation", "standard")
_numbers = itertools.count(1)


def client_certificate() -> tuple[str, str]:
    """A self-signed client certificate and its private key (PEM), for a destination's mTLS."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hookdesk client")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return (
        certificate.public_bytes(serialization.Encoding.PEM).decode(),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"client-key-passphrase-81"),
        ).decode(),
    )


def encodings(secret: str) -> set[str]:
    """The forms in which a secret could leak: as is, base64, hex, and for `whsec_` secrets the
    key bytes they stand for."""
    raw = secret.encode()
    forms = {secret, base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode(),
             raw.hex()}  # fmt: skip
    if secret.startswith("whsec_"):
        key = base64.b64decode(secret.removeprefix("whsec_"))
        forms |= {key.hex(), base64.b64encode(key).decode().rstrip("=")}
    if "PRIVATE KEY" in secret:
        # The key's body lines, each a distinctive stretch of base64.
        forms = {line for line in secret.splitlines() if len(line) >= 40}
    return forms


@dataclass
class SecretWorld:
    endpoints: dict = field(default_factory=dict)  # provider -> Endpoint
    secrets: dict = field(default_factory=dict)  # label -> plaintext
    destination: object = None
    token: str = ""

    def forms(self) -> dict[str, set[str]]:
        return {label: encodings(value) for label, value in self.secrets.items()}

    def leaks(self, text: str) -> list[str]:
        """Labels of the secrets that appear in `text`, in any of their forms."""
        return sorted(
            label for label, forms in self.forms().items() if any(f in text for f in forms)
        )


@pytest.fixture
def secret_world(make_endpoint, db) -> SecretWorld:
    world = SecretWorld()
    for provider in PROVIDERS:
        extra = {"installation_key": "install-key-Zq81vX3pL0"} if provider == "automation" else {}
        endpoint, secret = make_endpoint(provider, slug=f"sec-{provider}", **extra)
        world.endpoints[provider] = endpoint
        world.secrets[f"{provider} secret"] = secret
    world.secrets["automation installation key"] = "install-key-Zq81vX3pL0"
    _, rotated = secret_rotate(endpoint=world.endpoints["autranex"])
    world.secrets["autranex rotated secret"] = rotated
    certificate, private_key = client_certificate()
    world.destination, destination_secret = destination_create(
        name="ERP",
        url="https://127.0.0.1:9/hooks",
        key="destination-key-Hq02mmW7Tn",
        tls={
            "client_cert": certificate,
            "client_key": private_key,
            "client_key_password": "client-key-passphrase-81",
        },
    )
    world.secrets |= {
        "destination secret": destination_secret,
        "destination key": "destination-key-Hq02mmW7Tn",
        "destination client key": private_key,
        "destination client key password": "client-key-passphrase-81",
    }
    owner = User.objects.create_superuser(f"root{next(_numbers)}", password="root-pass-0123")
    world.token = api_token_issue(user=owner)
    world.secrets["API token"] = world.token
    return world


def held_order(endpoint, secret, *, order_id: str, client: Client | None = None) -> HeldOrder:
    """An AUTRANEX order.held delivered through the receiver and processed as a worker does."""
    body = json.dumps(
        {
            "event_id": f"evt_sec_{next(_numbers)}",
            "event_type": "order.held",
            "data": {"order_id": order_id, "order_value": 7800, "currency": "USD",
                     "customer_id": "cus_sec", "block_id": "blk_high_risk_over_5000"},
        }
    ).encode()  # fmt: skip
    response = (client or Client()).post(
        endpoint.receiver_path,
        data=body,
        content_type="application/json",
        **as_meta(autranex_headers(body, secret)),
    )
    assert response.status_code == 200, response.content
    event = Event.objects.get(pk=response.json()["event"])
    event_process(event_id=event.pk, trigger="queue")
    return HeldOrder.objects.get(event=event)
