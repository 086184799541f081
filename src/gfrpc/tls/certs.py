"""Write GlusterFS-style certificate files for tests, benchmarks and small clusters.

``write_certs(directory, cn)`` makes a throwaway CA and one peer certificate signed by it;
``write_certs(other, cn2, ca_dir=directory)`` signs a second peer with the same CA, so that
every peer trusts every other one through ``glusterfs.ca``.

Files (the GlusterFS default names, so :meth:`TLSOptions.from_dir` finds them):

* ``glusterfs.pem`` - the peer certificate: EC P-256 key, SHA-256 signature, subject CN and a
  subjectAltName with the same name, usable as TLS client and server (EKU serverAuth and
  clientAuth), valid from one day ago for ten years, random serial;
* ``glusterfs.key`` - its private key (PKCS#8 PEM, unencrypted, mode 0600);
* ``glusterfs.ca`` - the CA certificate that ``ssl-ca-list`` should trust;
* ``ca.pem`` + ``ca.key`` (0600) - only when a new CA was made: the CA itself, kept to sign
  further peers.

These choices satisfy OpenSSL 3 at security level 2 (as used by GlusterFS 10.3 on current
distributions). Needs the optional ``cryptography`` package (``pip install gfrpc[certs]``).
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import os
import secrets
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from gfrpc.errors import ConfigError
from gfrpc.tls.options import CA_LIST_FILE, OWN_CERT_FILE, PRIVATE_KEY_FILE

CA_CERT_FILE = "ca.pem"
CA_KEY_FILE = "ca.key"
VALIDITY = _dt.timedelta(days=3650)
BACKDATE = _dt.timedelta(days=1)


def _crypto() -> Any:
    """Import the parts of ``cryptography`` used here, or explain how to get it."""
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    except ImportError:
        raise ConfigError(
            "gfrpc certs needs the 'cryptography' package: pip install gfrpc[certs]"
        ) from None

    return SimpleNamespace(
        x509=x509,
        hashes=hashes,
        serialization=serialization,
        ec=ec,
        EKU=ExtendedKeyUsageOID,
        NameOID=NameOID,
    )


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write *data* to *path* with permission *mode*, also when the file already exists."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)  # O_CREAT's mode is ignored for an existing file
        os.write(fd, data)
    finally:
        os.close(fd)


def _san_for(c: Any, cn: str) -> Any:
    try:
        return c.x509.IPAddress(ipaddress.ip_address(cn))
    except ValueError:
        pass
    if cn.isascii():
        return c.x509.DNSName(cn)
    return None


def _builder(c: Any, subject: Any, issuer: Any, key: Any, now: _dt.datetime, *, ca: bool) -> Any:
    """A certificate of ``key`` with what CA and peer certificates share: a random serial,
    the validity, BasicConstraints and KeyUsage (a CA signs certificates and CRLs, a peer
    agrees keys)."""
    return (
        c.x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(c.x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + VALIDITY)
        .add_extension(c.x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            c.x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=not ca,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )


def _new_ca(c: Any, now: _dt.datetime) -> tuple[Any, Any]:
    key = c.ec.generate_private_key(c.ec.SECP256R1())
    # A unique subject, so that several throwaway CAs can share one glusterfs.ca.
    name = c.x509.Name(
        [
            c.x509.NameAttribute(c.NameOID.ORGANIZATION_NAME, "gfrpc"),
            c.x509.NameAttribute(c.NameOID.COMMON_NAME, f"gfrpc CA {secrets.token_hex(6)}"),
        ]
    )
    ski = c.x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        _builder(c, name, name, key, now, ca=True)
        .add_extension(ski, critical=False)
        .sign(key, c.hashes.SHA256())
    )
    return cert, key


def _load_ca(c: Any, ca_dir: Path) -> tuple[Any, Any, bytes]:
    cert_path, key_path = ca_dir / CA_CERT_FILE, ca_dir / CA_KEY_FILE
    try:
        cert_pem = cert_path.read_bytes()
    except OSError as e:
        raise ConfigError(f"cannot read CA certificate {cert_path}: {e.strerror or e}") from None
    try:
        key_pem = key_path.read_bytes()
    except OSError as e:
        raise ConfigError(f"cannot read CA private key {key_path}: {e.strerror or e}") from None
    try:
        cert = c.x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        raise ConfigError(f"CA certificate {cert_path} is not a PEM certificate") from None
    try:
        key = c.serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        raise ConfigError(f"CA private key {key_path} is not an unencrypted PEM key") from None
    if key.public_key().public_numbers() != cert.public_key().public_numbers():
        raise ConfigError(f"CA private key {key_path} does not match {cert_path}")
    return cert, key, cert_pem


def _new_leaf(c: Any, cn: str, ca_cert: Any, ca_key: Any, now: _dt.datetime) -> tuple[Any, Any]:
    key = c.ec.generate_private_key(c.ec.SECP256R1())
    subject = c.x509.Name([c.x509.NameAttribute(c.NameOID.COMMON_NAME, cn)])
    builder = (
        _builder(c, subject, ca_cert.subject, key, now, ca=False)
        # Both roles: Python peers check EKU against the role (GlusterFS uses purpose ANY).
        .add_extension(
            c.x509.ExtendedKeyUsage([c.EKU.SERVER_AUTH, c.EKU.CLIENT_AUTH]), critical=False
        )
        .add_extension(
            c.x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        )
        .add_extension(
            c.x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    san = _san_for(c, cn)
    if san is not None:
        builder = builder.add_extension(c.x509.SubjectAlternativeName([san]), critical=False)
    return builder.sign(ca_key, c.hashes.SHA256()), key


def write_certs(
    directory: str | os.PathLike[str], cn: str, ca_dir: str | os.PathLike[str] | None = None
) -> dict[str, Path]:
    """Write ``glusterfs.pem``/``.key``/``.ca`` for a peer named *cn* into *directory*.

    Without *ca_dir* a new CA is made and kept in *directory* (``ca.pem``, ``ca.key``); with
    *ca_dir* the CA written there by an earlier call signs the certificate and is copied into
    this directory's ``glusterfs.ca``. Returns the written paths by role: ``own_cert``,
    ``private_key``, ``ca_list`` and, for a new CA, ``ca_cert`` and ``ca_key``.
    Every private key file is mode 0600. Raises ConfigError.
    """
    if not cn:
        raise ConfigError("write_certs needs a non-empty common name")
    c = _crypto()
    out = Path(directory)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"cannot create certificate directory {out}: {e.strerror or e}") from None
    now = _dt.datetime.now(_dt.UTC)
    pem = c.serialization.Encoding.PEM
    written: dict[str, Path] = {}

    try:
        if ca_dir is None:
            ca_cert, ca_key = _new_ca(c, now)
            ca_pem = ca_cert.public_bytes(pem)
            _write(out / CA_KEY_FILE, _key_pem(c, ca_key), 0o600)
            _write(out / CA_CERT_FILE, ca_pem, 0o644)
            written["ca_key"] = out / CA_KEY_FILE
            written["ca_cert"] = out / CA_CERT_FILE
        else:
            ca_cert, ca_key, ca_pem = _load_ca(c, Path(ca_dir))

        leaf, key = _new_leaf(c, cn, ca_cert, ca_key, now)
        _write(out / PRIVATE_KEY_FILE, _key_pem(c, key), 0o600)
        _write(out / OWN_CERT_FILE, leaf.public_bytes(pem), 0o644)
        _write(out / CA_LIST_FILE, ca_pem, 0o644)
    except OSError as e:
        where = e.filename or out
        raise ConfigError(f"cannot write certificate file {where}: {e.strerror or e}") from None
    written["own_cert"] = out / OWN_CERT_FILE
    written["private_key"] = out / PRIVATE_KEY_FILE
    written["ca_list"] = out / CA_LIST_FILE
    return written


def _key_pem(c: Any, key: Any) -> bytes:
    return bytes(
        key.private_bytes(
            c.serialization.Encoding.PEM,
            c.serialization.PrivateFormat.PKCS8,
            c.serialization.NoEncryption(),
        )
    )
