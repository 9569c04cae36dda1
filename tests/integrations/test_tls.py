"""TLS to destinations against an HTTPS receiver whose CA, server and client certificates are
made here: verification on by default, a CA bundle, client certificates, trust-all."""

import datetime
import ipaddress
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from integrations.models import AttemptResult, DeliveryStatus, OutboundDelivery
from integrations.outbound import delivery_send
from integrations.services import DestinationError, destination_create
from tests.integrations.support import signature_valid


def _pem(certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


class Authority:
    """A certificate authority that issues server and client certificates."""

    def __init__(self, name: str):
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.pem = _pem(self.certificate)

    def issue(self, name: str, *, server: bool):
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            )
        return _pem(builder.sign(self.key, hashes.SHA256())), key


def _key_pem(key, password: str | None = None) -> str:
    encryption = (
        serialization.BestAvailableEncryption(password.encode())
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    ).decode()


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    server_ca, client_ca = Authority("hookdesk test server CA"), Authority("test client CA")
    server_cert, server_key = server_ca.issue("127.0.0.1", server=True)
    client_cert, client_key = client_ca.issue("hookdesk", server=False)
    directory = tmp_path_factory.mktemp("pki")
    (directory / "server.pem").write_text(server_cert)
    (directory / "server.key").write_text(_key_pem(server_key))
    return {
        "server_ca": server_ca.pem,
        "client_ca": client_ca.pem,
        "server_chain": (str(directory / "server.pem"), str(directory / "server.key")),
        "client_cert": client_cert,
        "client_key": client_key,
    }


def _server_context(pki, *, require_client_cert: bool) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*pki["server_chain"])
    if require_client_cert:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cadata=pki["client_ca"])
    return context


def _send_once(make_destination, hold_order, url, **values):
    destination, secret = make_destination(url, retry_schedule=[60], **values)
    hold_order()
    delivery = OutboundDelivery.objects.get(destination=destination)
    outcome = delivery_send(delivery_id=delivery.pk)
    return outcome, delivery.log.get(), secret


def test_it_refuses_a_certificate_no_trusted_ca_signed(pki, sinks, make_destination, hold_order):
    sink = sinks(tls=_server_context(pki, require_client_cert=False))

    outcome, attempt, _ = _send_once(make_destination, hold_order, sink.url)

    assert outcome == "retry"
    assert attempt.result == AttemptResult.TLS
    assert "certificate" in attempt.error.lower()
    assert sink.received == []


def test_it_trusts_the_destinations_ca_bundle(pki, sinks, make_destination, hold_order):
    sink = sinks(tls=_server_context(pki, require_client_cert=False))

    outcome, attempt, secret = _send_once(
        make_destination, hold_order, sink.url, tls={"ca_bundle": pki["server_ca"]}
    )

    assert outcome == "succeeded", attempt.error
    assert signature_valid("autranex", sink.received[0], secret)


def test_it_accepts_any_certificate_only_when_trust_all_is_chosen(
    pki, sinks, make_destination, hold_order
):
    sink = sinks(tls=_server_context(pki, require_client_cert=False))

    outcome, attempt, _ = _send_once(
        make_destination, hold_order, sink.url, tls={"trust_all": True}
    )

    assert outcome == "succeeded", attempt.error
    assert len(sink.received) == 1


def test_it_presents_a_client_certificate_with_a_password_protected_key(
    pki, sinks, make_destination, hold_order
):
    sink = sinks(tls=_server_context(pki, require_client_cert=True))

    outcome, attempt, _ = _send_once(
        make_destination,
        hold_order,
        sink.url,
        tls={
            "ca_bundle": pki["server_ca"],
            "client_cert": pki["client_cert"],
            "client_key": _key_pem(pki["client_key"], "s3cret-pass"),
            "client_key_password": "s3cret-pass",
        },
    )

    assert outcome == "succeeded", attempt.error
    assert OutboundDelivery.objects.get().status == DeliveryStatus.SUCCEEDED


def test_it_is_refused_without_the_client_certificate_the_server_requires(
    pki, sinks, make_destination, hold_order
):
    sink = sinks(tls=_server_context(pki, require_client_cert=True))

    outcome, attempt, _ = _send_once(
        make_destination, hold_order, sink.url, tls={"ca_bundle": pki["server_ca"]}
    )

    assert outcome == "retry"
    assert attempt.result in (AttemptResult.TLS, AttemptResult.CONNECTION)
    assert sink.received == []


def test_it_checks_tls_material_when_configured(pki, db):
    base = {"name": "erp", "url": "https://127.0.0.1:9/"}
    cases = [
        ({"ca_bundle": "not a pem"}, "tls.ca_bundle"),
        ({"client_cert": pki["client_cert"]}, "tls.client_key"),
        (
            {
                "client_cert": pki["client_cert"],
                "client_key": _key_pem(pki["client_key"], "right"),
                "client_key_password": "wrong",
            },
            "tls.client_key",
        ),
        (
            {"client_cert": pki["client_cert"], "client_key": _key_pem(pki["client_key"], "pw")},
            "tls.client_key_password",
        ),
        (
            {
                "client_cert": pki["client_cert"],
                "client_key": _key_pem(ec.generate_private_key(ec.SECP256R1())),
            },
            "tls.client_key",
        ),
        ({"verify": False, "trust_all": False}, "tls"),
        ({"sslTrustFile": "x"}, "tls"),
    ]
    for tls, field in cases:
        with pytest.raises(DestinationError) as refused:
            destination_create(**base, tls=tls)
        assert refused.value.field == field, (tls, str(refused.value))
