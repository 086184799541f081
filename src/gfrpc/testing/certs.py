"""Certificates for tests and benchmarks, in GlusterFS's layout, made with :mod:`gfrpc.tls`.

GlusterFS wants one directory per identity: ``glusterfs.pem`` (own certificate),
``glusterfs.key`` and ``glusterfs.ca`` (the CAs it trusts). Two shapes are offered:

* :func:`write_shared_certs`: one CA and one certificate used by both ends (its leaf allows
  serverAuth and clientAuth), for benchmarks where only the cost of TLS matters;
* :func:`make_tls_material`: a test CA with a server and a client identity, plus a client
  whose certificate comes from another CA, for tests of who is let in.

:func:`make_bench_context` is the SSLContext gfrpc's benchmark cells and the bare-socket
baseline share: gfrpc's GlusterFS-style context pinned to TLS 1.3.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from gfrpc.tls import TLSOptions, make_context

BENCH_CN = "gfrpc-bench"


def write_shared_certs(directory: str | os.PathLike[str], cn: str = BENCH_CN) -> str:
    """Create a CA and one certificate for *cn* in *directory* (both ends use it); return the
    directory. Raises ConfigError (from :func:`gfrpc.tls.write_certs`)."""
    _need_cryptography()
    from gfrpc.tls.certs import write_certs

    write_certs(directory, cn)
    return os.fspath(directory)


def make_bench_context(directory: str | os.PathLike[str], server_side: bool) -> ssl.SSLContext:
    """gfrpc's GlusterFS-style context (mutual TLS, no host names) for the files in
    *directory*, pinned to TLS 1.3 with its default suites."""
    ctx = make_context(TLSOptions.from_dir(directory), server_side)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    return ctx


def _need_cryptography() -> None:
    from gfrpc.testing.realgluster.base import GlusterUnavailable  # not at the top: no cycle

    try:
        import cryptography  # noqa: F401
    except ImportError:  # pragma: no cover - depends on the venv
        raise GlusterUnavailable(
            "the 'cryptography' package is not installed (pip install -e '.[certs]')"
        ) from None


@dataclass(frozen=True)
class TLSFiles:
    """One identity as GlusterFS wants it: a directory with glusterfs.pem/.key/.ca."""

    dir: Path
    cn: str

    @property
    def cert(self) -> Path:
        return self.dir / "glusterfs.pem"

    @property
    def key(self) -> Path:
        return self.dir / "glusterfs.key"

    @property
    def ca(self) -> Path:
        return self.dir / "glusterfs.ca"

    def client_context(self, *, with_cert: bool = True) -> ssl.SSLContext:
        """A Python client context trusting our CA (no host-name check, as GlusterFS)."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.load_verify_locations(cafile=str(self.ca))
        if with_cert:
            ctx.load_cert_chain(str(self.cert), str(self.key))
        return ctx


@dataclass(frozen=True)
class TLSMaterial:
    """One test CA, a server and a client identity, plus a client signed by another CA."""

    root: Path
    server: TLSFiles
    client: TLSFiles
    untrusted_client: TLSFiles


SERVER_CN = "gfrpc-test-server"
CLIENT_CN = "gfrpc-test-client"
UNTRUSTED_CN = "gfrpc-untrusted"


def make_tls_material(root: Path) -> TLSMaterial:
    """EC P-256 certificates made with ``gfrpc.tls.write_certs`` in ``root``/{server,client,
    untrusted-client}: server and client share one CA, the untrusted client has its own.
    Each leaf allows both serverAuth and clientAuth."""
    _need_cryptography()
    from gfrpc.tls.certs import write_certs

    root = Path(root)
    server, client, other = root / "server", root / "client", root / "untrusted-client"
    write_certs(server, SERVER_CN)
    write_certs(client, CLIENT_CN, ca_dir=server)
    write_certs(other, UNTRUSTED_CN)
    return TLSMaterial(
        root=root,
        server=TLSFiles(server, SERVER_CN),
        client=TLSFiles(client, CLIENT_CN),
        untrusted_client=TLSFiles(other, UNTRUSTED_CN),
    )
