"""Tests for gfrpc.tls.identity: peer CN, ssl-cert-depth, auth.ssl-allow, error lines."""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gfrpc.errors import TLSError
from gfrpc.tls import (
    TLSOptions,
    as_tls_error,
    check_depth,
    cn_allowed,
    describe_tls_error,
    make_context,
    parse_ssl_allow,
    peer_common_name,
    verify_peer,
)

# ------------------------------------------------------------------------- helpers


def _chain_pair(tmp_path: Path, trustme_dir, handshake, intermediates: int, depth: int):
    """Handshake a client whose cert sits *intermediates* CAs below the root, at *depth*."""
    root = trustme.CA()
    issuer = root
    for _ in range(intermediates):
        issuer = issuer.create_child_ca()
    server_opts = trustme_dir(tmp_path / "server", root, root.issue_cert("srv", common_name="srv"))
    client_opts = trustme_dir(
        tmp_path / "client", root, issuer.issue_cert("cli", common_name="deep-client"), trusted=root
    )
    server = make_context(server_opts, server_side=True)
    client = make_context(client_opts, server_side=False)
    server.cert_depth = depth
    res = handshake(client, server)
    assert res.ok, (res.client_error, res.server_error)  # OpenSSL itself uses depth 100 here
    return res


def _self_signed(directory: Path, cn: str) -> Path:
    """A self-signed certificate + key in glusterfs.pem/.key (the classic GlusterFS setup)."""
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    (directory / "glusterfs.pem").write_bytes(pem)
    (directory / "glusterfs.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return directory / "glusterfs.pem"


# ------------------------------------------------------------------------- CN


def test_peer_common_name_on_both_sides(shared_ca: dict[str, Path], handshake) -> None:
    """peer_common_name() returns the CN of the certificate the other side presented."""
    server = make_context(TLSOptions.from_dir(shared_ca["server"]), server_side=True)
    client = make_context(TLSOptions.from_dir(shared_ca["client"]), server_side=False)
    res = handshake(client, server)
    assert res.ok
    assert peer_common_name(res.server) == "client-1"
    assert peer_common_name(res.client) == "server.example"


def test_peer_common_name_is_the_first_cn(tmp_path: Path, handshake, trustme_dir) -> None:
    """With no CN the result is None; GlusterFS takes the first CN when there are several."""
    ca = trustme.CA()
    server = make_context(trustme_dir(tmp_path / "s", ca, ca.issue_cert("srv")), True)
    client = make_context(trustme_dir(tmp_path / "c", ca, ca.issue_cert("cli")), False)
    res = handshake(client, server)
    assert res.ok
    assert peer_common_name(res.server) is None  # trustme puts no CN unless asked
    assert verify_peer(res.server) is None


def test_peer_common_name_before_handshake_is_none(shared_ca: dict[str, Path]) -> None:
    """Before the handshake there is no peer and no name."""
    ctx = make_context(TLSOptions.from_dir(shared_ca["client"]), server_side=False)
    obj = ctx.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_side=False)
    with pytest.raises(ValueError):
        obj.getpeercert()  # CPython: "handshake not done yet"


# ------------------------------------------------------------------------- depth


def test_depth_direct_issue_passes_at_zero(tmp_path: Path, handshake, trustme_dir) -> None:
    """A peer cert issued directly by a CA in ssl-ca-list has 0 intermediates: passes depth 0."""
    res = _chain_pair(tmp_path, trustme_dir, handshake, intermediates=0, depth=0)
    assert check_depth(res.server, 0) == 0
    assert verify_peer(res.server) == "deep-client"


def test_depth_one_intermediate(tmp_path: Path, handshake, trustme_dir) -> None:
    """OpenSSL's verify depth counts intermediates: one intermediate fails at 0, passes at 1
    (the default)."""
    res = _chain_pair(tmp_path, trustme_dir, handshake, intermediates=1, depth=1)
    with pytest.raises(TLSError, match="chain too long"):
        check_depth(res.server, 0)
    assert check_depth(res.server, 1) == 1
    assert verify_peer(res.server) == "deep-client"  # context depth 1


def test_depth_two_intermediates_fail_at_one_pass_at_two(
    tmp_path: Path, handshake, trustme_dir
) -> None:
    """A chain through two intermediate CAs fails at depth 1 and passes at depth 2."""
    res = _chain_pair(tmp_path, trustme_dir, handshake, intermediates=2, depth=1)
    with pytest.raises(TLSError) as info:
        verify_peer(res.server)  # depth 1 comes from the context
    line = describe_tls_error(info.value)
    assert "certificate verify failed" in line and "ssl-cert-depth is 1" in line
    assert check_depth(res.server, 2) == 2
    assert verify_peer(res.server, cert_depth=2) == "deep-client"


def test_depth_checks_the_server_chain_too(tmp_path: Path, handshake, trustme_dir) -> None:
    """The client applies its own depth to the server's chain (both sides verify)."""
    root = trustme.CA()
    inner = root.create_child_ca().create_child_ca()
    server = make_context(
        trustme_dir(tmp_path / "s", root, inner.issue_cert("s", common_name="deep-server")), True
    )
    client = make_context(trustme_dir(tmp_path / "c", root, root.issue_cert("c")), False)
    res = handshake(client, server)
    assert res.ok
    with pytest.raises(TLSError, match="chain too long"):
        verify_peer(res.client)
    assert verify_peer(res.client, cert_depth=2) == "deep-server"


def test_self_signed_peers_in_a_shared_ca_file(tmp_path: Path, handshake) -> None:
    """Classic GlusterFS setup: every self-signed cert concatenated into glusterfs.ca; depth 0
    suffices."""
    a = _self_signed(tmp_path / "a", "node-a")
    b = _self_signed(tmp_path / "b", "node-b")
    both = a.read_bytes() + b.read_bytes()
    for d in ("a", "b"):
        (tmp_path / d / "glusterfs.ca").write_bytes(both)
    server = make_context(TLSOptions.from_dir(tmp_path / "a", cert_depth=0), server_side=True)
    client = make_context(TLSOptions.from_dir(tmp_path / "b", cert_depth=0), server_side=False)
    res = handshake(client, server)
    assert res.ok, (res.client_error, res.server_error)
    assert verify_peer(res.server) == "node-b"
    assert verify_peer(res.client) == "node-a"


def test_check_depth_without_peer_fails_closed(shared_ca: dict[str, Path]) -> None:
    """When no verified chain can be read, check_depth refuses rather than skipping the limit."""
    ctx = make_context(TLSOptions.from_dir(shared_ca["client"]), server_side=False)
    obj = ctx.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_side=False)
    with pytest.raises(TLSError):
        check_depth(obj, 9)


# ------------------------------------------------------------------------- ssl-allow


def test_parse_ssl_allow_splits_on_commas_and_spaces() -> None:
    """auth.ssl-allow is a comma and/or space separated list."""
    assert parse_ssl_allow("a,b c , d,,") == ["a", "b", "c", "d"]
    assert parse_ssl_allow("  ") == []
    assert parse_ssl_allow("*") == ["*"]


@pytest.mark.parametrize(
    ("cn", "patterns", "allowed"),
    [
        ("client-1", "*", True),
        ("client-1", "client-*", True),
        ("client-1", "server-*, client-?", True),
        ("client-12", "client-?", False),
        ("Client-1", "client-*", False),  # case-sensitive, like C fnmatch
        ("host.example.com", "*.example.com", True),
        ("a/b", "*", True),  # no FNM_PATHNAME: * matches /
        ("node3", "node[1-3]", True),
        ("node4", "node[1-3]", False),
        ("client-1", "", False),
        ("client-1", ["client-1"], True),
        (None, "*", False),
        (None, None, True),  # option not set: login does not care
        ("anyone", None, True),
    ],
)
def test_cn_allowed_globs(cn: str | None, patterns, allowed: bool) -> None:
    """cn_allowed() matches the CN against auth.ssl-allow globs with fnmatch rules."""
    assert cn_allowed(cn, patterns) is allowed


# ------------------------------------------------------------------------- error lines


def test_describe_plaintext_peer() -> None:
    """A peer speaking plain RPC (no TLS) is described as a wrong version number."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_side=True)
    incoming.write(b"\x80\x00\x00\x28" + bytes(40))  # an ONC-RPC record mark and a header
    with pytest.raises(ssl.SSLError) as info:
        obj.do_handshake()
    assert describe_tls_error(info.value) == (
        "TLS handshake failed: wrong version number (is the peer using TLS?)"
    )


def test_describe_eof_and_generic_errors() -> None:
    """EOF, unknown reasons and our own TLSError all give one line."""
    assert describe_tls_error(ssl.SSLZeroReturnError(6, "closed")) == (
        "TLS handshake failed: connection closed by the peer"
    )
    e = ssl.SSLError(1, "[SSL: SOME_NEW_THING] some new thing")
    e.reason = "SOME_NEW_THING"  # type: ignore[misc]
    assert describe_tls_error(e) == "TLS handshake failed: some new thing"
    assert describe_tls_error(ValueError("a\nb")) == "TLS handshake failed: a b"
    assert describe_tls_error(TLSError("TLS handshake failed: x")) == "TLS handshake failed: x"
    assert describe_tls_error(ssl.SSLEOFError(8, "eof"), handshake=False) == (
        "TLS error: connection closed by the peer"
    )


def test_describe_verify_error_codes() -> None:
    """Local verification failures name what failed and keep OpenSSL's message."""
    e = ssl.SSLCertVerificationError(1, "certificate verify failed")
    e.verify_code = 20
    e.verify_message = "unable to get local issuer certificate"
    assert describe_tls_error(e) == (
        "TLS handshake failed: certificate verify failed: unknown CA "
        "(unable to get local issuer certificate)"
    )
    e.verify_code, e.verify_message = 10, "certificate has expired"
    assert "certificate expired" in describe_tls_error(e)


def test_as_tls_error_wraps_with_the_line(shared_ca: dict[str, Path]) -> None:
    """as_tls_error() gives a TLSError (an OSError with ECONNABORTED) carrying the one line."""
    import errno

    err = as_tls_error(ssl.SSLZeroReturnError(6, "closed"))
    assert isinstance(err, TLSError) and isinstance(err, OSError)
    assert err.errno == errno.ECONNABORTED
    assert str(err) == "TLS handshake failed: connection closed by the peer"
    same = TLSError("x")
    assert as_tls_error(same) is same
