"""Tests for gfrpc.tls.certs: GlusterFS certificate files that real OpenSSL 3 accepts."""

from __future__ import annotations

import datetime as dt
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gfrpc.errors import ConfigError
from gfrpc.tls import TLSOptions, write_certs


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_ca_writes_all_files(tmp_path: Path) -> None:
    """Without ca_dir: glusterfs.pem/.key/.ca plus the CA's ca.pem and ca.key are written."""
    paths = write_certs(tmp_path / "n1", "node1")
    assert set(paths) == {"own_cert", "private_key", "ca_list", "ca_cert", "ca_key"}
    assert {p.name for p in (tmp_path / "n1").iterdir()} == {
        "glusterfs.pem",
        "glusterfs.key",
        "glusterfs.ca",
        "ca.pem",
        "ca.key",
    }
    assert paths["ca_list"].read_bytes() == paths["ca_cert"].read_bytes()
    TLSOptions.from_dir(tmp_path / "n1")  # readable by the options loader


def test_private_keys_are_mode_0600(tmp_path: Path) -> None:
    """Every private key file is written with mode 0600, also when it already existed."""
    d = tmp_path / "n1"
    d.mkdir()
    (d / "glusterfs.key").write_text("old")
    (d / "glusterfs.key").chmod(0o644)
    paths = write_certs(d, "node1")
    assert _mode(paths["private_key"]) == 0o600
    assert _mode(paths["ca_key"]) == 0o600
    other = write_certs(tmp_path / "n2", "node2", ca_dir=d)
    assert _mode(other["private_key"]) == 0o600


def test_shared_ca_signs_and_is_copied(tmp_path: Path) -> None:
    """With ca_dir the CA kept there signs the cert and becomes this directory's glusterfs.ca."""
    first = write_certs(tmp_path / "a", "a")
    second = write_certs(tmp_path / "b", "b", ca_dir=tmp_path / "a")
    assert "ca_key" not in second and not (tmp_path / "b" / "ca.key").exists()
    assert second["ca_list"].read_bytes() == first["ca_cert"].read_bytes()
    ca = _cert(first["ca_cert"])
    leaf = _cert(second["own_cert"])
    assert leaf.issuer == ca.subject
    leaf.verify_directly_issued_by(ca)


def test_certificate_profile(tmp_path: Path) -> None:
    """P-256 keys, SHA-256, CA:TRUE on the CA, CN + SAN, both EKUs, -1 day .. +10 years."""
    paths = write_certs(tmp_path, "brick-1.example")
    ca, leaf = _cert(paths["ca_cert"]), _cert(paths["own_cert"])
    now = dt.datetime.now(dt.UTC)
    for cert in (ca, leaf):
        key = cert.public_key()
        assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"
        assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)
        assert cert.not_valid_before_utc <= now - dt.timedelta(hours=23)
        assert cert.not_valid_after_utc >= now + dt.timedelta(days=3649)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "brick-1.example"
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["brick-1.example"]
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    assert leaf.serial_number != ca.serial_number


def test_ip_address_cn_gets_an_ip_san(tmp_path: Path) -> None:
    """A CN that is an IP address gets an IP subjectAltName."""
    import ipaddress

    leaf = _cert(write_certs(tmp_path, "192.0.2.7")["own_cert"])
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("192.0.2.7")]


def test_serials_are_random(tmp_path: Path) -> None:
    """Two certificates never share a serial (random 159-bit serials)."""
    a = _cert(write_certs(tmp_path / "a", "x")["own_cert"])
    b = _cert(write_certs(tmp_path / "b", "x", ca_dir=tmp_path / "a")["own_cert"])
    assert a.serial_number != b.serial_number


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
@pytest.mark.parametrize("purpose", ["sslclient", "sslserver"])
def test_openssl_accepts_at_security_level_2(tmp_path: Path, purpose: str) -> None:
    """The openssl command verifies the leaf at auth level 2, strict X.509, as client and server."""
    paths = write_certs(tmp_path, "node1")
    out = subprocess.run(
        [
            "openssl", "verify", "-x509_strict", "-auth_level", "2", "-purpose", purpose,
            "-CAfile", str(paths["ca_list"]), str(paths["own_cert"]),
        ],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr


def test_missing_ca_dir_files_are_config_errors(tmp_path: Path) -> None:
    """ca_dir without ca.pem / ca.key is a ConfigError naming the file."""
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match="ca.pem"):
        write_certs(tmp_path / "x", "x", ca_dir=empty)
    write_certs(tmp_path / "ca", "ca")
    (tmp_path / "ca" / "ca.key").unlink()
    with pytest.raises(ConfigError, match="ca.key"):
        write_certs(tmp_path / "y", "y", ca_dir=tmp_path / "ca")


def test_mismatched_ca_key_is_a_config_error(tmp_path: Path) -> None:
    """A ca.key that does not belong to ca.pem is refused."""
    write_certs(tmp_path / "a", "a")
    write_certs(tmp_path / "b", "b")
    shutil.copy(tmp_path / "b" / "ca.key", tmp_path / "a" / "ca.key")
    with pytest.raises(ConfigError, match="does not match"):
        write_certs(tmp_path / "c", "c", ca_dir=tmp_path / "a")


def test_without_cryptography_explains_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the optional 'cryptography' package write_certs says how to install it."""
    for name in list(sys.modules):
        if name == "cryptography" or name.startswith("cryptography."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "cryptography", None)
    with pytest.raises(ConfigError) as info:
        write_certs(tmp_path, "x")
    assert str(info.value) == (
        "gfrpc certs needs the 'cryptography' package: pip install gfrpc[certs]"
    )
