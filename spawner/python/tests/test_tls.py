"""The shim against a spawner service that serves TLS (the chart's spawner.tls)."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import socket
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from tornado import httpserver, netutil

from kubedesk_spawner import ServiceError

from .conftest import collect
from .fake_service import DEFAULT_STEPS, FakeService


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def make_ca(cn: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert, key


@pytest.fixture
def tls_files(tmp_path: Path) -> dict[str, Path]:
    """A CA and a certificate for 127.0.0.1 it signed, as a TLS Secret's files."""
    ca, ca_key = make_ca("kubedesk test CA")
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("kubedesk-spawner"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    other, _ = make_ca("another CA")
    files = {
        "tls.crt": _pem(cert),
        "tls.key": key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        "ca.crt": _pem(ca),
        "other-ca.crt": _pem(other),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    return {name: tmp_path / name for name in files}


@pytest.fixture
async def tls_service(tls_files):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(tls_files["tls.crt"], tls_files["tls.key"])
    svc = FakeService()
    sockets = netutil.bind_sockets(0, "127.0.0.1", family=socket.AF_INET)
    server = httpserver.HTTPServer(svc.app(), ssl_options=ctx)
    server.add_sockets(sockets)
    svc.url = f"https://127.0.0.1:{sockets[0].getsockname()[1]}"
    yield svc
    svc.release.set()
    server.stop()
    for session in svc.sessions.values():
        if session.task:
            session.task.cancel()
    await server.close_all_connections()


async def test_spawn_and_stop_over_tls(tls_service, tls_files, make_spawner):
    """Trusting the service's CA (service_ca_file): start, progress, poll, stop."""
    spawner = make_spawner(
        service_url=tls_service.url,
        service_token=tls_service.token,
        service_ca_file=str(tls_files["ca.crt"]),
    )
    url = await asyncio.wait_for(spawner.start(), 10)
    assert url == tls_service.ready_url
    events = await collect(spawner)
    messages = [e["message"] for e in events]
    for _, step in DEFAULT_STEPS:
        assert step in messages, "the progress stream came over TLS too"
    assert await spawner.poll() is None
    await spawner.stop()
    assert [m for m, uri, _ in tls_service.requests if not uri.endswith("/progress")][
        -1
    ] == "DELETE"


@pytest.mark.parametrize("ca", ["", "other-ca.crt"])
async def test_an_untrusted_certificate_is_said_at_once(tls_service, tls_files, make_spawner, ca):
    """Without the service's CA, or with another one: one clear sentence, no
    retries (a certificate does not fix itself while the hub waits)."""
    spawner = make_spawner(
        service_url=tls_service.url,
        service_token=tls_service.token,
        service_ca_file=str(tls_files[ca]) if ca else "",
        start_timeout=60,
    )
    with pytest.raises(ServiceError) as err:
        await asyncio.wait_for(spawner.start(), 10)
    assert "presented a certificate this hub does not trust" in str(err.value)
    assert "service_ca_file" in str(err.value)
    assert tls_service.requests == [], "the service saw a request over an untrusted connection"
