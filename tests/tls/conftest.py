"""Helpers for the TLS tests: certificate sets and an in-memory handshake driver.

The handshake driver mirrors how the transport uses the contexts: ``wrap_bio`` with two
MemoryBIOs per side, non-blocking ``do_handshake`` calls, and bytes pumped between the BIOs by
hand (no sockets).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trustme

from gfrpc.tls import TLSOptions, write_certs
from gfrpc.tls.options import CA_LIST_FILE, OWN_CERT_FILE, PRIVATE_KEY_FILE


@dataclass
class HandshakeResult:
    client: ssl.SSLObject
    server: ssl.SSLObject
    client_error: ssl.SSLError | None = None
    server_error: ssl.SSLError | None = None
    client_done: bool = False
    server_done: bool = False
    echoed: dict[str, bytes] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.client_error is None and self.server_error is None


def run_handshake(
    client_ctx: ssl.SSLContext, server_ctx: ssl.SSLContext, *, exchange: bool = True
) -> HandshakeResult:
    """Drive a client and a server SSLObject to the end of their handshake in memory.

    With *exchange*, one application message goes each way afterwards, so that a TLS 1.3
    client learns about a server-side rejection (the alert arrives after its handshake ended).
    Errors are recorded per side, never raised.
    """
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    res = HandshakeResult(
        client=client_ctx.wrap_bio(c_in, c_out, server_side=False),
        server=server_ctx.wrap_bio(s_in, s_out, server_side=True),
    )

    def pump() -> bool:
        moved = False
        for src, dst in ((c_out, s_in), (s_out, c_in)):
            data = src.read()
            if data:
                dst.write(data)
                moved = True
        return moved

    for _ in range(100):
        progressed = False
        for side in ("client", "server"):
            if getattr(res, f"{side}_done") or getattr(res, f"{side}_error") is not None:
                continue
            try:
                getattr(res, side).do_handshake()
            except ssl.SSLWantReadError:
                continue
            except ssl.SSLError as e:
                setattr(res, f"{side}_error", e)
            else:
                setattr(res, f"{side}_done", True)
            progressed = True
        if not pump() and not progressed:
            break

    if exchange:
        for writer, reader, name in (
            ("client", "server", "to_server"),
            ("server", "client", "to_client"),
        ):
            if getattr(res, f"{writer}_error") is None and getattr(res, f"{writer}_done"):
                getattr(res, writer).write(b"ping " + name.encode())
            pump()
            if getattr(res, f"{reader}_error") is None and getattr(res, f"{reader}_done"):
                try:
                    res.echoed[name] = getattr(res, reader).read(1024)
                except ssl.SSLWantReadError:
                    pass
                except ssl.SSLError as e:
                    setattr(res, f"{reader}_error", e)
            pump()
    return res


@pytest.fixture
def handshake() -> Callable[..., HandshakeResult]:
    """The in-memory handshake driver, :func:`run_handshake`."""
    return run_handshake


@pytest.fixture
def shared_ca(tmp_path: Path) -> dict[str, Path]:
    """A server and a client directory whose certificates share one write_certs CA."""
    server = tmp_path / "server"
    client = tmp_path / "client"
    write_certs(server, "server.example")
    write_certs(client, "client-1", ca_dir=server)
    return {"server": server, "client": client, "ca_dir": server}


def write_trustme_dir(
    directory: Path, ca: trustme.CA, leaf: trustme.LeafCert, trusted: trustme.CA | None = None
) -> TLSOptions:
    """Write *leaf* (key + chain) and *trusted* (default *ca*) as glusterfs.* files."""
    directory.mkdir(parents=True, exist_ok=True)
    # The peer sends its whole chain (leaf first, then intermediates), as
    # SSL_CTX_use_certificate_chain_file does in GlusterFS.
    (directory / OWN_CERT_FILE).write_bytes(b"".join(p.bytes() for p in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(str(directory / PRIVATE_KEY_FILE))
    (trusted or ca).cert_pem.write_to_path(str(directory / CA_LIST_FILE))
    return TLSOptions.from_dir(directory)


@pytest.fixture
def trustme_dir() -> Callable[..., TLSOptions]:
    """Writer of glusterfs.* files from trustme objects, :func:`write_trustme_dir`."""
    return write_trustme_dir
