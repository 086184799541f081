"""Tests for gfrpc.tls.options: GlusterFS-named options and the contexts built from them."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import ssl
import subprocess
import warnings
from pathlib import Path

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from gfrpc.errors import ConfigError
from gfrpc.tls import (
    DEFAULT_CIPHER_LIST,
    TLSOptions,
    default_cipher_list,
    describe_tls_error,
    make_context,
    verify_peer,
)
from gfrpc.tls.options import cpu_has_aes


def _contexts(
    shared_ca: dict[str, Path], **server_overrides: object
) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    server = make_context(
        TLSOptions.from_dir(shared_ca["server"], **server_overrides), server_side=True
    )
    client = make_context(TLSOptions.from_dir(shared_ca["client"]), server_side=False)
    return client, server


# ------------------------------------------------------------------------- options


def test_defaults_follow_glusterfs(tmp_path: Path) -> None:
    """Defaults are GlusterFS's: depth 1, prime256v1, no CRL, the built-in cipher list."""
    opts = TLSOptions(own_cert="a", private_key="b", ca_list="c")
    assert opts.cert_depth == 1
    assert opts.ec_curve == "prime256v1"
    assert opts.crl_path is None
    assert opts.dh_param is None
    assert opts.cipher_list.endswith(DEFAULT_CIPHER_LIST)
    assert DEFAULT_CIPHER_LIST == "EECDH:EDH:HIGH:!3DES:!RC4:!DES:!MD5:!aNULL:!eNULL"


def test_cipher_list_prefers_aes128_when_cpu_has_aes(tmp_path: Path) -> None:
    """GlusterFS prefixes "AES128:" when /proc/cpuinfo flags contain aes, and only then."""
    with_aes = tmp_path / "aes"
    with_aes.write_text("processor\t: 0\nflags\t\t: fpu sse2 aes avx2\n\nflags\t: fpu aes\n")
    without = tmp_path / "noaes"
    without.write_text("processor\t: 0\nflags\t\t: fpu sse2 vaes_like avx2\n")
    assert cpu_has_aes(with_aes)
    assert default_cipher_list(with_aes) == "AES128:" + DEFAULT_CIPHER_LIST
    assert not cpu_has_aes(without)
    assert default_cipher_list(without) == DEFAULT_CIPHER_LIST
    assert default_cipher_list(tmp_path / "missing") == DEFAULT_CIPHER_LIST


def test_from_dir_uses_glusterfs_file_names(shared_ca: dict[str, Path]) -> None:
    """from_dir() points at glusterfs.pem, glusterfs.key and glusterfs.ca in the directory."""
    d = shared_ca["client"]
    opts = TLSOptions.from_dir(d, cert_depth=3)
    assert opts.own_cert == str(d / "glusterfs.pem")
    assert opts.private_key == str(d / "glusterfs.key")
    assert opts.ca_list == str(d / "glusterfs.ca")
    assert opts.cert_depth == 3


@pytest.mark.parametrize("name", ["glusterfs.pem", "glusterfs.key", "glusterfs.ca"])
def test_from_dir_missing_file_is_a_one_line_config_error(
    shared_ca: dict[str, Path], name: str
) -> None:
    """A missing certificate file raises ConfigError with one line that names the file."""
    d = shared_ca["client"]
    (d / name).unlink()
    with pytest.raises(ConfigError) as info:
        TLSOptions.from_dir(d)
    message = str(info.value)
    assert str(d / name) in message
    assert "\n" not in message


def test_unreadable_file_is_a_config_error(
    shared_ca: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unreadable key (EACCES) or a directory in its place raises ConfigError naming it."""
    from gfrpc.tls import options as options_module

    key = shared_ca["client"] / "glusterfs.key"
    real_open = open

    def fake_open(path, *args, **kwargs):
        if os.fspath(path) == str(key):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(options_module, "open", fake_open, raising=False)
        with pytest.raises(ConfigError, match=r"cannot read ssl-private-key file .*glusterfs.key"):
            TLSOptions.from_dir(shared_ca["client"])
    key.unlink()
    key.mkdir()
    with pytest.raises(ConfigError, match="is a directory"):
        TLSOptions.from_dir(shared_ca["client"])


def test_from_options_reads_glusterfs_option_names(tmp_path: Path) -> None:
    """Volfile (transport.socket.ssl-*) and volume (ssl.*) names map to fields; NULL CRL = none."""
    opts = TLSOptions.from_options(
        {
            "transport.socket.ssl-own-cert": "/x/own.pem",
            "ssl.private-key": "/x/own.key",
            "transport.socket.ssl-cert-depth": "3",
            "ssl.cipher-list": "HIGH",
            "transport.socket.ssl-crl-path": "NULL",
        },
        cert_dir=tmp_path,
    )
    assert opts.own_cert == "/x/own.pem"
    assert opts.private_key == "/x/own.key"
    assert opts.ca_list == str(tmp_path / "glusterfs.ca")
    assert opts.cert_depth == 3
    assert opts.cipher_list == "HIGH"
    assert opts.crl_path is None
    with pytest.raises(ConfigError, match="ssl-cert-depth"):
        TLSOptions.from_options({"ssl.certificate-depth": "deep"}, cert_dir=tmp_path)


# ------------------------------------------------------------------------- contexts


@pytest.mark.parametrize("server_side", [True, False])
def test_context_settings(shared_ca: dict[str, Path], server_side: bool) -> None:
    """Both sides: CERT_REQUIRED, no host-name check, TLS >= 1.2, no tickets, no compression."""
    d = shared_ca["server" if server_side else "client"]
    ctx = make_context(TLSOptions.from_dir(d, cert_depth=4), server_side=server_side)
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    assert ctx.check_hostname is False
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert ctx.options & ssl.OP_NO_TICKET
    assert ctx.options & ssl.OP_NO_COMPRESSION
    assert ctx.options & ssl.OP_IGNORE_UNEXPECTED_EOF
    assert not ctx.verify_flags & ssl.VERIFY_CRL_CHECK_LEAF
    assert ctx.cert_depth == 4


def test_bad_cipher_list_and_curve_are_config_errors(shared_ca: dict[str, Path]) -> None:
    """A cipher list that selects nothing, or an unknown curve, is a ConfigError naming the
    option."""
    with pytest.raises(ConfigError, match="ssl-cipher-list"):
        make_context(TLSOptions.from_dir(shared_ca["server"], cipher_list="NOSUCHCIPHER"), True)
    with pytest.raises(ConfigError, match="ssl-ec-curve"):
        make_context(TLSOptions.from_dir(shared_ca["server"], ec_curve="nosuchcurve"), True)


def test_mismatched_key_is_a_config_error(shared_ca: dict[str, Path], tmp_path: Path) -> None:
    """A private key that does not belong to the certificate is a ConfigError naming both files."""
    opts = TLSOptions.from_dir(
        shared_ca["server"], private_key=str(shared_ca["client"] / "glusterfs.key")
    )
    with pytest.raises(ConfigError) as info:
        make_context(opts, server_side=True)
    assert "glusterfs.pem" in str(info.value) and "glusterfs.key" in str(info.value)


def test_mutual_handshake_with_shared_write_certs_ca(shared_ca: dict[str, Path], handshake) -> None:
    """Two peers whose write_certs certificates share one CA (ca_dir) complete mutual TLS."""
    client, server = _contexts(shared_ca)
    res = handshake(client, server)
    assert res.ok, (res.client_error, res.server_error)
    assert res.echoed == {"to_server": b"ping to_server", "to_client": b"ping to_client"}
    assert verify_peer(res.server) == "client-1"
    assert verify_peer(res.client) == "server.example"
    assert res.client.version() in ("TLSv1.2", "TLSv1.3")


def test_mutual_handshake_with_trustme(tmp_path: Path, handshake, trustme_dir) -> None:
    """Certificates from an independent generator (trustme) work the same way."""
    ca = trustme.CA()
    server = make_context(
        trustme_dir(tmp_path / "s", ca, ca.issue_cert("brick1", common_name="brick1")), True
    )
    client = make_context(
        trustme_dir(tmp_path / "c", ca, ca.issue_cert("client1", common_name="client1")), False
    )
    res = handshake(client, server)
    assert res.ok, (res.client_error, res.server_error)
    assert verify_peer(res.server) == "client1"
    assert verify_peer(res.client) == "brick1"


def test_mutual_handshake_at_tls12(shared_ca: dict[str, Path], handshake) -> None:
    """Mutual TLS 1.2 works with the GlusterFS cipher list and the P-256 curve."""
    client, server = _contexts(shared_ca)
    client.maximum_version = ssl.TLSVersion.TLSv1_2
    res = handshake(client, server)
    assert res.ok, (res.client_error, res.server_error)
    assert res.client.version() == "TLSv1.2"
    assert "ECDHE-ECDSA" in res.client.cipher()[0]


def test_unknown_ca_is_refused(shared_ca: dict[str, Path], tmp_path: Path, handshake) -> None:
    """A peer whose certificate comes from a CA not in ssl-ca-list fails, described as unknown
    CA."""
    from gfrpc.tls import write_certs

    stranger = tmp_path / "stranger"
    write_certs(stranger, "intruder")  # its own, unrelated CA
    # The stranger trusts the server's CA, so only the server can refuse it.
    (stranger / "glusterfs.ca").write_bytes((shared_ca["server"] / "ca.pem").read_bytes())
    server = make_context(TLSOptions.from_dir(shared_ca["server"]), server_side=True)
    client = make_context(TLSOptions.from_dir(stranger), server_side=False)
    res = handshake(client, server)
    assert isinstance(res.server_error, ssl.SSLCertVerificationError)
    server_line = describe_tls_error(res.server_error)
    assert "certificate verify failed" in server_line and "unknown CA" in server_line
    assert res.client_error is not None
    assert "unknown CA" in describe_tls_error(res.client_error)


def test_client_trusting_other_ca_refuses_server(
    shared_ca: dict[str, Path], tmp_path: Path, handshake
) -> None:
    """The client also verifies the server (mutual): a server cert from another CA is refused."""
    from gfrpc.tls import write_certs

    other = tmp_path / "other"
    write_certs(other, "fake-server")
    (other / "glusterfs.ca").write_bytes((shared_ca["server"] / "ca.pem").read_bytes())
    server = make_context(TLSOptions.from_dir(other), server_side=True)
    client = make_context(TLSOptions.from_dir(shared_ca["client"]), server_side=False)
    res = handshake(client, server)
    assert isinstance(res.client_error, ssl.SSLCertVerificationError)
    assert "unknown CA" in describe_tls_error(res.client_error)


def test_client_without_certificate_is_refused(shared_ca: dict[str, Path], handshake) -> None:
    """The server requires a client certificate (SSL_VERIFY_PEER on the server side)."""
    server = make_context(TLSOptions.from_dir(shared_ca["server"]), server_side=True)
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.check_hostname = False
    client.load_verify_locations(cafile=str(shared_ca["client"] / "glusterfs.ca"))
    res = handshake(client, server)
    assert res.server_error is not None
    assert (
        describe_tls_error(res.server_error)
        == "TLS handshake failed: peer did not send a certificate"
    )
    assert res.client_error is not None  # the alert reaches the client (TLS 1.3: on first read)
    assert "certificate" in describe_tls_error(res.client_error)


def test_tls11_is_refused(shared_ca: dict[str, Path], handshake) -> None:
    """A TLS 1.1 client is refused by the server: gfrpc requires TLS 1.2 or newer."""
    server = make_context(TLSOptions.from_dir(shared_ca["server"]), server_side=True)
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.check_hostname = False
    client.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        client.minimum_version = ssl.TLSVersion.TLSv1_1
        client.maximum_version = ssl.TLSVersion.TLSv1_1
    client.set_ciphers("DEFAULT:@SECLEVEL=0")
    client.load_cert_chain(
        str(shared_ca["client"] / "glusterfs.pem"), str(shared_ca["client"] / "glusterfs.key")
    )
    res = handshake(client, server)
    assert res.server_error is not None
    assert not res.server_done
    assert "protocol version" in describe_tls_error(res.server_error)
    assert res.client_error is not None


# ------------------------------------------------------------------------- CRLs


def _write_crl(ca_dir: Path, revoked_serials: list[int], path: Path) -> Path:
    ca_cert = x509.load_pem_x509_certificate((ca_dir / "ca.pem").read_bytes())
    ca_key = serialization.load_pem_private_key((ca_dir / "ca.key").read_bytes(), password=None)
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(now - dt.timedelta(hours=1))
        .next_update(now + dt.timedelta(days=7))
    )
    for serial in revoked_serials:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(now - dt.timedelta(minutes=5))
            .build()
        )
    crl = builder.sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    path.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    return path


def _serial(cert_file: Path) -> int:
    return x509.load_pem_x509_certificate(cert_file.read_bytes()).serial_number


def test_crl_file_rejects_revoked_client(
    shared_ca: dict[str, Path], tmp_path: Path, handshake
) -> None:
    """With ssl-crl-path set, a client whose certificate is on the CA's CRL is refused."""
    crl = _write_crl(
        shared_ca["ca_dir"], [_serial(shared_ca["client"] / "glusterfs.pem")], tmp_path / "crl.pem"
    )
    client, server = _contexts(shared_ca, crl_path=str(crl))
    assert server.verify_flags & ssl.VERIFY_CRL_CHECK_CHAIN == ssl.VERIFY_CRL_CHECK_CHAIN
    res = handshake(client, server)
    assert isinstance(res.server_error, ssl.SSLCertVerificationError)
    assert res.server_error.verify_code == 23
    assert "certificate revoked" in describe_tls_error(res.server_error)
    assert res.client_error is not None
    assert "revoked" in describe_tls_error(res.client_error)


def test_crl_without_the_client_accepts_it(
    shared_ca: dict[str, Path], tmp_path: Path, handshake
) -> None:
    """A CRL that does not list the client's serial lets the client in."""
    crl = _write_crl(shared_ca["ca_dir"], [12345], tmp_path / "crl.pem")
    client, server = _contexts(shared_ca, crl_path=str(crl))
    res = handshake(client, server)
    assert res.ok, (res.client_error, res.server_error)


def test_crl_check_needs_a_crl_for_every_ca(
    shared_ca: dict[str, Path], tmp_path: Path, handshake
) -> None:
    """CRL checking of the whole chain (GlusterFS's CRL_CHECK_ALL) fails when a CA has no CRL."""
    empty = tmp_path / "crls"
    empty.mkdir()
    client, server = _contexts(shared_ca, crl_path=str(empty))
    res = handshake(client, server)
    assert isinstance(res.server_error, ssl.SSLCertVerificationError)
    assert "no CRL" in describe_tls_error(res.server_error)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command for hashes")
def test_crl_directory_rejects_revoked_client(
    shared_ca: dict[str, Path], tmp_path: Path, handshake
) -> None:
    """ssl-crl-path may be a directory of hashed CRL files, as GlusterFS expects."""
    crl_dir = tmp_path / "crldir"
    crl_dir.mkdir()
    crl = _write_crl(
        shared_ca["ca_dir"], [_serial(shared_ca["client"] / "glusterfs.pem")], tmp_path / "crl.pem"
    )
    crl_hash = subprocess.run(
        ["openssl", "crl", "-hash", "-noout", "-in", str(crl)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    shutil.copy(crl, crl_dir / f"{crl_hash}.r0")
    client, server = _contexts(shared_ca, crl_path=str(crl_dir))
    res = handshake(client, server)
    assert isinstance(res.server_error, ssl.SSLCertVerificationError)
    assert res.server_error.verify_code == 23


def test_missing_crl_path_is_a_config_error(shared_ca: dict[str, Path], tmp_path: Path) -> None:
    """A crl_path that does not exist is a ConfigError naming it."""
    missing = tmp_path / "nope.pem"
    with pytest.raises(ConfigError, match="nope.pem"):
        make_context(TLSOptions.from_dir(shared_ca["server"], crl_path=str(missing)), True)
