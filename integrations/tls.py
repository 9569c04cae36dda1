"""TLS for outbound deliveries: checking the PEM material operators paste, and the SSL context a
destination's requests use. Verification is on unless trust-all was explicitly chosen."""

import contextlib
import os
import ssl
import tempfile

from cryptography import x509
from cryptography.hazmat.primitives import serialization


class TlsConfigError(ValueError):
    """TLS material that cannot be used; `field` names the input at fault."""

    def __init__(self, message: str, *, field: str):
        super().__init__(message)
        self.field = field


MAX_PEM_CHARS = 64 * 1024


def certificates_validate(text: str, *, field: str) -> str:
    """One or more PEM certificates; returns them stripped."""
    text = (text or "").strip()
    if len(text) > MAX_PEM_CHARS:
        raise TlsConfigError(f"at most {MAX_PEM_CHARS} characters of PEM", field=field)
    try:
        certificates = x509.load_pem_x509_certificates(text.encode())
    except ValueError:
        raise TlsConfigError(
            "not PEM certificates (-----BEGIN CERTIFICATE----- …)", field=field
        ) from None
    if not certificates:
        raise TlsConfigError("no certificate found", field=field)
    return text + "\n"


def client_key_validate(*, key: str, password: str, certificate: str) -> str:
    """A PEM private key that `password` opens and that belongs to the client certificate."""
    key = (key or "").strip()
    if len(key) > MAX_PEM_CHARS:
        raise TlsConfigError(f"at most {MAX_PEM_CHARS} characters of PEM", field="client_key")
    try:
        private_key = serialization.load_pem_private_key(
            key.encode(), password=password.encode() if password else None
        )
    except TypeError:
        # Raised both for "a password was given but the key is not encrypted" and the reverse.
        message = (
            "the client key is encrypted: give its password"
            if not password
            else "the client key is not encrypted: leave the password empty"
        )
        raise TlsConfigError(message, field="client_key_password") from None
    except ValueError:
        raise TlsConfigError(
            "not a PEM private key, or the password does not open it", field="client_key"
        ) from None
    leaf = x509.load_pem_x509_certificates(certificate.encode())[0]
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    if private_key.public_key().public_bytes(
        serialization.Encoding.DER, spki
    ) != leaf.public_key().public_bytes(serialization.Encoding.DER, spki):
        raise TlsConfigError("the client key does not belong to the client certificate",
                             field="client_key")  # fmt: skip
    return key + "\n"


def ssl_context(
    *,
    trust_all: bool,
    ca_bundle: str = "",
    client_cert: str = "",
    client_key: str = "",
    client_key_password: str = "",
) -> ssl.SSLContext:
    """The context for one destination's connections."""
    if trust_all:
        # The operator chose this explicitly; the admin and API show it as insecure.
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif ca_bundle:
        context = ssl.create_default_context(cadata=ca_bundle)
    else:
        context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if client_cert and client_key:
        # The ssl module loads a certificate chain only from files: the PEM exists on disk, in a
        # private directory and still encrypted if it came with a password, for the call only.
        with tempfile.TemporaryDirectory(prefix="hookdesk-tls-") as directory:
            cert_path = os.path.join(directory, "cert.pem")
            key_path = os.path.join(directory, "key.pem")
            for path, text in ((cert_path, client_cert), (key_path, client_key)):
                descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(descriptor, "w") as handle:
                    handle.write(text)
            try:
                context.load_cert_chain(cert_path, key_path, password=client_key_password or None)
            finally:
                for path in (cert_path, key_path):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(path)
    return context
