"""The destination URL guard (SPEC §10.4): http(s) only, ports 1-65535, and hosts that resolve
only to public addresses or to HOOKDESK_DESTINATION_ALLOWED_NETWORKS, refused with 400 when a
destination is saved and again at connect time, against DNS rebinding.

Names are resolved by `integrations.url_guard.resolve`; the `dns` fixture answers for the names
a test gives it, as a DNS server would, and leaves everything else to the system resolver.
Numeric hosts, in every spelling, go through the real getaddrinfo."""

import datetime
import ipaddress
import json
import socket
import ssl
import subprocess
import sys

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.core.checks import run_checks
from hypothesis import given
from hypothesis import strategies as st

from integrations import url_guard
from integrations.models import AttemptResult, DeliveryStatus, Destination, OutboundDelivery
from integrations.outbound import delivery_send
from integrations.services import DestinationError, destination_create, destination_update
from integrations.url_guard import UrlRefused, url_check
from tests.integrations.test_tls import Authority, _key_pem
from tests.security.test_deploy import ROOT, production_env

# A public address (example.com's) the stub answers for names: nothing connects to it, since
# every test that sends makes the name resolve to loopback by then.
PUBLIC = "93.184.215.14"
ERP_MAPPING = {"held": "ON_HOLD", "released": "OPEN", "rejected": "CANCELLED"}


@pytest.fixture
def dns(monkeypatch):
    """dns["erp.example.com"] = ["93.184.215.14"]: what the resolver answers for a name.
    `dns.calls` lists the names asked for, in order."""
    system = url_guard.resolve

    class Zone(dict):
        calls: list[str]

    zone = Zone()
    zone.calls = []

    def resolve(host: str, port: int) -> list[str]:
        zone.calls.append(host)
        if host in zone:
            answer = zone[host]
            if isinstance(answer, Exception):
                raise answer
            return list(answer)
        return system(host, port)

    monkeypatch.setattr(url_guard, "resolve", resolve)
    return zone


@pytest.fixture
def production_allow_list(settings):
    """The production default: no network is allowed beyond the public internet."""
    settings.HOOKDESK_INTEGRATIONS = {
        **settings.HOOKDESK_INTEGRATIONS,
        "DESTINATION_ALLOWED_NETWORKS": [],
    }


def _refusal(url: str) -> str:
    with pytest.raises(UrlRefused) as refused:
        url_check(url)
    return str(refused.value)


# --- Address classes ------------------------------------------------------------------------

CLASSES = [
    ("http://127.0.0.1/", "loopback", "127.0.0.1"),
    ("http://127.8.9.10:8080/x", "loopback", "127.8.9.10"),
    ("http://10.0.0.1/", "private", "10.0.0.1"),
    ("http://172.16.5.4/", "private", "172.16.5.4"),
    ("http://172.31.255.254/", "private", "172.31.255.254"),
    ("http://192.168.1.1/", "private", "192.168.1.1"),
    ("http://100.64.0.1/", "private", "100.64.0.1"),  # carrier-grade NAT
    ("http://169.254.169.254/latest/meta-data/", "link-local", "169.254.169.254"),
    ("http://224.0.0.1/", "multicast", "224.0.0.1"),
    ("http://239.255.255.250/", "multicast", "239.255.255.250"),
    ("http://0.0.0.0/", "unspecified", "0.0.0.0"),  # noqa: S104
    ("http://240.0.0.1/", "reserved", "240.0.0.1"),
    ("http://255.255.255.255/", "reserved", "255.255.255.255"),
    ("http://[::1]/", "loopback", "::1"),
    ("http://[::]/", "unspecified", "::"),
    ("http://[fe80::1]/", "link-local", "fe80::1"),
    ("http://[fc00::1]/", "private", "fc00::1"),
    ("http://[fd12:3456::1]/", "private", "fd12:3456::1"),
    ("http://[fec0::1]/", "private", "fec0::1"),  # deprecated site-local
    ("http://[ff02::1]/", "multicast", "ff02::1"),
    ("http://[::ffff:127.0.0.1]/", "loopback", "127.0.0.1"),
    ("http://[::ffff:169.254.169.254]/", "link-local", "169.254.169.254"),
    ("http://[::ffff:10.1.2.3]/", "private", "10.1.2.3"),
    ("http://[64:ff9b::a01:203]/", "private", "64:ff9b::a01:203"),  # NAT64 of 10.1.2.3
    ("http://[2002:7f00:1::]/", "loopback", "2002:7f00:1::"),  # 6to4 of 127.0.0.1
    ("http://[2002:a9fe:a9fe::1]/", "link-local", "2002:a9fe:a9fe::1"),  # 6to4 of 169.254…
]


@pytest.mark.parametrize(("url", "kind", "address"), CLASSES)
def test_it_refuses_every_non_public_address_class_naming_the_class_only(
    production_allow_list, url, kind, address
):
    message = _refusal(url)

    article = "an" if kind[0] in "aeiou" else "a"
    assert f"resolves to {article} {kind} address" in message
    assert address not in message


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://2130706433/", "loopback"),  # decimal
        ("http://0x7f000001/", "loopback"),  # hex
        ("http://0x7f.0.0.1/", "loopback"),
        ("http://0x7f.0x0.0x0.0x1/", "loopback"),
        ("http://0177.0.0.1/", "loopback"),  # octal: httpx refuses to parse it at all
        ("http://017700000001/", "loopback"),
        ("http://127.1/", "loopback"),  # short
        ("http://127.000.000.001/", "loopback"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),
        ("http://[::ffff:7f00:1]/", "loopback"),
        ("http://[0:0:0:0:0:0:0:1]/", "loopback"),
        ("http://[::1]/", "loopback"),
        ("http://2852039166/", "link-local"),  # 169.254.169.254
        ("http://0xa9.0xfe.0xa9.0xfe/", "link-local"),
        ("http://3232235777/", "private"),  # 192.168.1.1
        ("http://10.1/", "private"),
        ("http://0/", "unspecified"),
    ],
)
def test_it_catches_odd_spellings_of_addresses_like_the_plain_ones(
    production_allow_list, url, kind
):
    assert f"{kind} address" in _refusal(url)


@pytest.mark.parametrize(
    "url",
    ["ftp://erp.example.com/", "file:///etc/passwd", "javascript:alert(1)", "gopher://x/",
     "http:///orders", "http://", "//erp.example.com/x", "erp.example.com/x"],
)  # fmt: skip
def test_it_refuses_other_schemes_and_urls_without_a_host(url):
    assert "http:// or https://" in _refusal(url)


@pytest.mark.parametrize("port", [0, 65536, 99999])
def test_it_refuses_ports_outside_1_to_65535(dns, port):
    dns["erp.example.com"] = [PUBLIC]

    assert "port must be from 1 to 65535" in _refusal(f"https://erp.example.com:{port}/x")


def test_it_accepts_a_public_host_on_any_valid_port(dns):
    dns["erp.example.com"] = [PUBLIC]

    for port in (1, 443, 65535):
        assert url_check(f"https://erp.example.com:{port}/x").port == port


def test_it_refuses_a_name_when_any_of_its_addresses_is_not_public(dns, production_allow_list):
    dns["mixed.example.com"] = [PUBLIC, "10.0.0.7"]
    dns["metadata.example.com"] = ["169.254.169.254"]

    assert "private address" in _refusal("https://mixed.example.com/")
    message = _refusal("http://metadata.example.com/")
    assert "link-local address" in message and "169.254" not in message


def test_it_refuses_a_host_that_does_not_resolve(dns):
    dns["gone.example.com"] = socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    assert "does not resolve" in _refusal("https://gone.example.com/")
    assert "does not resolve" in _refusal("https://erp.example.invalid/")  # the real resolver


NON_PUBLIC_V4 = ["127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                 "169.254.0.0/16", "100.64.0.0/10", "0.0.0.0/8", "224.0.0.0/4"]  # fmt: skip
SPELLINGS = ["dotted", "decimal", "hex", "dotted-hex", "dotted-octal", "short", "mapped"]


@given(
    network=st.sampled_from(NON_PUBLIC_V4),
    offset=st.integers(min_value=0, max_value=2**32),
    spelling=st.sampled_from(SPELLINGS),
)
def test_it_refuses_any_address_of_a_non_public_network_in_any_spelling(
    production_allow_list, network, offset, spelling
):
    network = ipaddress.ip_network(network)
    address = network[offset % network.num_addresses]
    octets = address.packed
    host = {
        "dotted": str(address),
        "decimal": str(int(address)),
        "hex": hex(int(address)),
        "dotted-hex": ".".join(hex(octet) for octet in octets),
        "dotted-octal": ".".join(f"0{octet:o}" for octet in octets),
        "short": f"{octets[0]}.{int.from_bytes(octets[1:], 'big')}",
        "mapped": f"[::ffff:{address}]",
    }[spelling]

    message = _refusal(f"http://{host}:8080/x")

    assert " address; destinations may only reach public addresses" in message
    assert str(address) not in message


# --- The allow-list -------------------------------------------------------------------------


def test_it_allows_loopback_by_default_in_development():
    # The test run's environment is development (HOOKDESK_ENV unset), as the local sinks need.
    assert url_check("http://127.0.0.1:9/hooks").host == "127.0.0.1"
    assert url_check("http://[::1]:9/hooks").host == "::1"
    assert url_check("http://localhost:9/hooks").host == "localhost"
    # Only this machine: the rest of the private networks stay refused.
    assert "private address" in _refusal("http://10.0.0.1/")
    assert "link-local address" in _refusal("http://169.254.169.254/")


def test_it_allows_nothing_but_public_addresses_by_default_in_production(tmp_path):
    code = (
        "import json; from integrations.conf import conf; "
        "print(json.dumps(conf()['DESTINATION_ALLOWED_NETWORKS']))"
    )
    production = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT, env=production_env(tmp_path), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    development = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT, env=production_env(tmp_path, HOOKDESK_ENV="development"),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip

    assert production.returncode == 0, production.stderr
    assert json.loads(production.stdout.strip().splitlines()[-1]) == []
    assert json.loads(development.stdout.strip().splitlines()[-1]) == ["127.0.0.0/8", "::1/128"]


def test_it_refuses_loopback_under_the_production_default(production_allow_list):
    assert "loopback address" in _refusal("http://127.0.0.1:9/hooks")
    assert "loopback address" in _refusal("http://localhost:9/hooks")


def test_it_allows_what_an_allowed_network_contains_and_nothing_beside_it(settings, dns):
    settings.HOOKDESK_INTEGRATIONS = {
        **settings.HOOKDESK_INTEGRATIONS,
        "DESTINATION_ALLOWED_NETWORKS": "10.20.0.0/16, fd00:20::/32",
    }
    dns["erp.internal"] = ["10.20.3.4", "fd00:20::5"]

    assert url_check("http://10.20.1.2/").host == "10.20.1.2"
    assert url_check("http://[::ffff:10.20.1.2]/")
    assert url_check("https://erp.internal/orders")
    assert "private address" in _refusal("http://10.21.0.1/")
    assert "private address" in _refusal("http://[fd00:21::1]/")
    assert "loopback address" in _refusal("http://127.0.0.1/")  # not the development default


def test_it_reports_an_allowed_network_it_cannot_read_as_a_system_check_error(settings):
    settings.HOOKDESK_INTEGRATIONS = {
        **settings.HOOKDESK_INTEGRATIONS,
        "DESTINATION_ALLOWED_NETWORKS": ["10.0.0.1/8"],
    }

    errors = [error for error in run_checks() if error.id == "integrations.E003"]

    assert len(errors) == 1 and "10.0.0.1/8" in errors[0].msg


# --- At save time: services, API, admin -----------------------------------------------------


def test_it_refuses_to_save_a_guarded_url_naming_the_url_field(db, dns, production_allow_list):
    dns["erp.example.com"] = [PUBLIC]
    dns["rebound.example.com"] = ["192.168.0.10"]

    with pytest.raises(DestinationError, match="link-local address") as refused:
        destination_create(name="Metadata", url="http://169.254.169.254/latest/meta-data/")
    assert refused.value.field == "url"
    assert not Destination.objects.exists()

    destination, _ = destination_create(name="ERP", url="https://erp.example.com/hooks")
    with pytest.raises(DestinationError, match="private address") as refused:
        destination_update(destination=destination, url="https://rebound.example.com/hooks")
    assert refused.value.field == "url"
    destination.refresh_from_db()
    assert destination.url == "https://erp.example.com/hooks"


def test_it_does_not_resolve_a_url_again_when_other_fields_change(db, dns):
    dns["erp.example.com"] = [PUBLIC]
    destination, _ = destination_create(name="ERP", url="https://erp.example.com/hooks")
    dns["erp.example.com"] = socket.gaierror(socket.EAI_AGAIN, "Temporary failure")

    destination, _ = destination_update(destination=destination, name="ERP (warehouse 2)")

    assert destination.name == "ERP (warehouse 2)"
    assert dns.calls == ["erp.example.com"]  # once, when it was created


def test_it_answers_400_naming_the_url_in_the_api(api, dns, production_allow_list):
    dns["erp.example.com"] = [PUBLIC]
    oscar = api("oscar")

    refused = oscar.post(
        "/api/v2/destinations/",
        {"name": "Metadata", "url": "http://169.254.169.254/latest/meta-data/"},
        format="json",
    )
    assert refused.status_code == 400
    assert refused.json()["field"] == "url"
    assert "link-local address" in refused.json()["error"]
    assert "169.254" not in refused.json()["error"]

    created = oscar.post(
        "/api/v2/destinations/", {"name": "ERP", "url": "https://erp.example.com/"}, format="json"
    )
    assert created.status_code == 201, created.content
    changed = oscar.patch(
        f"/api/v2/destinations/{created.json()['id']}/",
        {"url": "http://2130706433:8080/admin"},
        format="json",
    )
    assert changed.status_code == 400
    assert changed.json() == {"error": changed.json()["error"], "field": "url"}
    assert "loopback address" in changed.json()["error"]


ADMIN_FORM = {
    "name": "Internal",
    "adapter": "webhook",
    "signature_scheme": "autranex",
    "connection_timeout": "PT30S",
    "event_types": ["order.held", "order.released", "order.rejected"],
    "block_id": "",
    "scope": "full",
    "active": "on",
    "status_mapping": "",
    "body_template": "",
    "retry_schedule_text": "",
    "key": "",
    "tls_ca_bundle": "",
    "tls_client_cert": "",
    "client_key": "",
    "client_key_password": "",
}


def test_it_shows_the_refusal_beside_the_url_field_in_the_admin(
    admin_client, production_allow_list
):
    response = admin_client.post(
        "/admin/integrations/destination/add/", {**ADMIN_FORM, "url": "http://10.0.0.5:8080/"}
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["url"]
    assert "private address" in errors["url"][0]
    assert not Destination.objects.exists()


# --- Custom ERP URL templates ---------------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        "http://${order_id}:18080/x",
        "http://erp.example.com:${order_id}/x",
        "http://${customer_id}.erp.example.com/x",
        "${status}://erp.example.com/x",
        "http://user${order_id}@erp.example.com/x",
    ],
)
def test_it_refuses_a_template_that_lets_an_order_choose_the_host(db, dns, template):
    dns["erp.example.com"] = [PUBLIC]

    with pytest.raises(DestinationError, match="only in the URL's path or query") as refused:
        destination_create(
            name="ERP", url=template, adapter="custom_erp", status_mapping=ERP_MAPPING
        )
    assert refused.value.field == "url"


def test_it_checks_a_templates_host_with_its_placeholders_left_out(db, dns, production_allow_list):
    dns["erp.example.com"] = [PUBLIC]

    with pytest.raises(DestinationError, match="private address"):
        destination_create(name="ERP", url="http://10.0.0.5/orders/${order_id}",
                           adapter="custom_erp", status_mapping=ERP_MAPPING)  # fmt: skip
    destination, _ = destination_create(
        name="ERP",
        url="https://erp.example.com/orders/${order_id}/status?ref=${event_id}",
        adapter="custom_erp",
        status_mapping=ERP_MAPPING,
    )
    assert destination.pk
    assert dns.calls == ["10.0.0.5", "erp.example.com"]  # each template's host, nothing else


def test_it_never_lets_an_order_id_send_a_stored_template_to_loopback(
    make_destination, hold_order, sinks
):
    """The attack as tried from outside: an order id 127.0.0.1 in the host of the URL. Here the
    template got into the database past the service (as one saved before the guard might), and
    loopback is allowed (development): the render itself refuses it."""
    sink = sinks()
    port = sink.url.split(":")[2].split("/")[0]
    destination, _ = make_destination(
        sink.url, adapter="custom_erp", status_mapping=ERP_MAPPING, retry_schedule=[60]
    )
    Destination.objects.filter(pk=destination.pk).update(url=f"http://${{order_id}}:{port}/x")

    hold_order("127.0.0.1")
    delivery = OutboundDelivery.objects.get()
    delivery_send(delivery_id=delivery.pk)

    delivery.refresh_from_db()
    attempt = delivery.log.get()
    assert attempt.result == AttemptResult.CONFIGURATION
    assert "path or query" in attempt.error
    assert delivery.status == DeliveryStatus.DEAD
    assert sink.received == []


# --- At connect time: DNS rebinding ---------------------------------------------------------


def test_it_refuses_at_connect_time_a_name_that_resolved_elsewhere_when_saved(
    dns, make_destination, hold_order, sinks, production_allow_list
):
    """Saved while `localhost` answered with a public address; at connect time the system
    resolver answers 127.0.0.1, where a real listener waits. Nothing may reach it."""
    sink = sinks()
    url = sink.url.replace("127.0.0.1", "localhost")
    dns["localhost"] = [PUBLIC]
    make_destination(url, retry_schedule=[60, 60])
    del dns["localhost"]  # from now on the system's answer: 127.0.0.1

    hold_order()
    delivery = OutboundDelivery.objects.get()
    delivery_send(delivery_id=delivery.pk)

    delivery.refresh_from_db()
    attempt = delivery.log.get()
    assert sink.received == []
    assert attempt.result == AttemptResult.CONFIGURATION
    assert "loopback address" in attempt.error and "127.0.0.1" not in attempt.error
    assert delivery.status == DeliveryStatus.DEAD  # retrying cannot help: no second attempt
    assert dns.calls == ["localhost", "localhost"]  # at save, and at connect


def test_it_refuses_at_connect_time_when_any_answer_is_not_public(
    dns, make_destination, hold_order, sinks, production_allow_list
):
    sink = sinks()
    port = sink.url.split(":")[2].split("/")[0]
    dns["erp.example.com"] = [PUBLIC]
    make_destination(f"http://erp.example.com:{port}/hooks", retry_schedule=[60])
    dns["erp.example.com"] = ["127.0.0.1", PUBLIC]

    hold_order()
    delivery_send(delivery_id=OutboundDelivery.objects.get().pk)

    attempt = OutboundDelivery.objects.get().log.get()
    assert attempt.result == AttemptResult.CONFIGURATION
    assert "loopback address" in attempt.error
    assert sink.received == []


def test_it_retries_a_name_that_stopped_resolving_at_connect_time(
    dns, make_destination, hold_order
):
    dns["erp.example.com"] = [PUBLIC]
    make_destination("https://erp.example.com/hooks", retry_schedule=[60])
    dns["erp.example.com"] = socket.gaierror(socket.EAI_AGAIN, "Temporary failure")

    hold_order()
    delivery = OutboundDelivery.objects.get()
    delivery_send(delivery_id=delivery.pk)

    delivery.refresh_from_db()
    attempt = delivery.log.get()
    assert attempt.result == AttemptResult.CONNECTION
    assert "does not resolve" in attempt.error
    assert delivery.status == DeliveryStatus.PENDING  # a retry is due


def _server_context_for(name: str, tmp_path) -> tuple[ssl.SSLContext, str]:
    """A TLS server context whose certificate names only `name` (no IP address), and the PEM
    of the CA that signed it."""
    authority = Authority("hookdesk url guard test CA")
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(authority.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(authority.key, hashes.SHA256())
    )
    (tmp_path / "server.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "server.key").write_text(_key_pem(key))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "server.pem", tmp_path / "server.key")
    return context, authority.pem


def test_it_connects_to_the_checked_address_keeping_the_name_for_host_and_tls(
    dns, make_destination, hold_order, sinks, tmp_path
):
    """The name resolves only through the guard's resolver (the system knows nothing of it),
    so the delivery arrives only if the connection went to the address checked; the receiver's
    certificate names only the host name, so it verifies only if TLS used the name. Two
    deliveries share one connection: the name is resolved once at connect time."""
    name = "erp.hookdesk.test"
    context, ca_pem = _server_context_for(name, tmp_path)
    sink = sinks(tls=context)
    port = sink.url.split(":")[2].split("/")[0]
    dns[name] = ["127.0.0.1"]  # allowed: the development default
    make_destination(f"https://{name}:{port}/hooks/orders", tls={"ca_bundle": ca_pem})

    hold_order("ord_first")
    hold_order("ord_second")
    outcomes = [delivery_send(delivery_id=d.pk) for d in OutboundDelivery.objects.all()]

    assert outcomes == ["succeeded", "succeeded"], [
        attempt.error for d in OutboundDelivery.objects.all() for attempt in d.log.all()
    ]
    assert [request.headers["host"] for request in sink.received] == [f"{name}:{port}"] * 2
    assert {request.json()["data"]["order_id"] for request in sink.received} == {
        "ord_first",
        "ord_second",
    }
    assert dns.calls == [name, name]  # at save, and once at connect
