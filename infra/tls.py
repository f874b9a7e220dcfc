"""Certificates for the gateway's TLS side: a local CA, made once and cached, and a
server certificate it signs for the names the gateway answers to.

Every start of the harness serves https:// and wss:// on its one port with that server
certificate; every sandbox trusts the CA (`AWS_CA_BUNDLE`, the CA plus the public
roots), so a handler that builds `https://{domainName}/{stage}` as AWS's guide does
reaches the local Management API. Clients outside trust it with their `--ca` option.

The CA's private key never leaves the cache directory (mode 0600); only certificates
for loopback, this host's names and addresses, and the service's own API host name
(`{apiId}.execute-api.{region}.amazonaws.com`, which the sandboxes resolve to the
gateway) are issued, never a wildcard.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import ipaddress
import os
import socket
import ssl
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_NAME = "Local API Gateway CA"
CA_DAYS = 3 * 365
SERVER_DAYS = 30
RENEW_BEFORE = dt.timedelta(days=2)
LOOPBACK = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True)
class CertFiles:
    cert: Path  # PEM certificate (chain) the server presents
    key: Path
    ca: Path | None = None  # what clients must trust; None: the certificate itself

    @property
    def trust(self) -> Path:
        return self.ca or self.cert

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        return ctx

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.trust))


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "local-apigateway" / "tls"


def local_certificate(hosts: Iterable[str], cache_dir: Path | None = None) -> CertFiles:
    """A server certificate for `hosts` (plus loopback) signed by the cached local CA;
    both are made on first use and renewed before they expire."""
    directory = cache_dir or default_cache_dir()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    names = sorted(set(LOOPBACK) | {h for h in hosts if h})
    with _locked(directory):
        ca_cert, ca_key = _ca(directory)
        digest = hashlib.sha256("\n".join(names).encode()).hexdigest()[:12]
        files = CertFiles(
            directory / f"server-{digest}.pem",
            directory / f"server-{digest}.key",
            directory / "ca.pem",
        )
        if not _fresh(files.cert, ca_cert):
            key = ec.generate_private_key(ec.SECP256R1())
            cert = _issue(names, key, ca_cert, ca_key)
            _write_key(files.key, key)
            _write(files.cert, cert.public_bytes(serialization.Encoding.PEM))
    return files


def ca_bundle(files: CertFiles, cache_dir: Path | None = None) -> Path:
    """A CA bundle for the sandboxes' botocore: what `files` needs trusted, then the
    public roots botocore trusts by default (a real AWS endpoint keeps working)."""
    directory = cache_dir or default_cache_dir()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    public = _public_roots()
    local = files.trust.read_bytes()
    digest = hashlib.sha256(local + str(public).encode()).hexdigest()[:12]
    bundle = directory / f"bundle-{digest}.pem"
    if not bundle.exists():
        extra = public.read_bytes() if public is not None else b""
        _write(bundle, local.rstrip(b"\n") + b"\n" + extra)
    return bundle


def self_signed(directory: Path, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> CertFiles:
    """A standalone self-signed certificate for `hosts` (tests of the TLS side)."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _issue(list(hosts), key, None, key)
    files = CertFiles(directory / "cert.pem", directory / "key.pem")
    _write_key(files.key, key)
    _write(files.cert, cert.public_bytes(serialization.Encoding.PEM))
    return files


def host_names(bind_host: str) -> list[str]:
    """The names and addresses clients may use for a gateway bound to `bind_host`."""
    names = [bind_host]
    if bind_host in ("0.0.0.0", "::", ""):
        hostname = socket.gethostname()
        names.append(hostname)
        with contextlib.suppress(OSError):
            names += [str(info[4][0]) for info in socket.getaddrinfo(hostname, None)]
    return [n for n in names if n not in ("0.0.0.0", "::", "")]


# -- the certificates ------------------------------------------------------------------------


def _ca(directory: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert_path, key_path = directory / "ca.pem", directory / "ca.key"
    if cert_path.exists() and key_path.exists():
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), None)
        if isinstance(key, ec.EllipticCurvePrivateKey) and _valid_for(cert, RENEW_BEFORE):
            return cert, key
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, f"{CA_NAME} ({socket.gethostname()})"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, CA_NAME),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_key(key_path, key)
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def _issue(
    hosts: list[str],
    key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate | None,
    ca_key: ec.EllipticCurvePrivateKey,
) -> x509.Certificate:
    """A server certificate for `hosts`, signed by the CA (self-signed when None)."""
    alt_names: list[x509.GeneralName] = []
    for host in dict.fromkeys(hosts):
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            alt_names.append(x509.DNSName(host))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])])
    now = dt.datetime.now(dt.UTC)
    issuer_public = ca_cert.public_key() if ca_cert else key.public_key()
    assert isinstance(issuer_public, ec.EllipticCurvePublicKey)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject if ca_cert else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=SERVER_DAYS))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        # Strict verifiers (Python >= 3.13 defaults) require both key identifiers.
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public), critical=False
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    )
    # A self-signed certificate is its own trust anchor: it must be a CA to be one.
    builder = builder.add_extension(
        x509.BasicConstraints(ca=ca_cert is None, path_length=None), critical=True
    )
    return builder.sign(ca_key, hashes.SHA256())


def _fresh(path: Path, ca_cert: x509.Certificate) -> bool:
    """Whether the cached server certificate is the CA's and not about to expire."""
    if not path.exists() or not path.with_suffix(".key").exists():
        return False
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    return (
        cert.issuer == ca_cert.subject
        and _valid_for(cert, RENEW_BEFORE)
        and _signed_by(cert, ca_cert)
    )


def _signed_by(cert: x509.Certificate, ca_cert: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def _valid_for(cert: x509.Certificate, margin: dt.timedelta) -> bool:
    return cert.not_valid_after_utc - margin > dt.datetime.now(dt.UTC)


def _public_roots() -> Path | None:
    try:
        import certifi
    except ImportError:
        cafile = ssl.get_default_verify_paths().cafile
        return Path(cafile) if cafile else None
    return Path(certifi.where())


# -- files -------------------------------------------------------------------------------


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """One process at a time makes or renews the cached files."""
    with (directory / ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Atomically: readers see the old file or the new one, never half of one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _write(path, pem, 0o600)
