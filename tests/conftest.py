"""Shared fixtures for all tests: golden fixtures and the whole / byte-at-a-time feeders."""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trustme

from gfrpc.transport import POLLER_NAMES, make_poller
from gfrpc.transport.pollers.base import Poller
from gfrpc.wire.record import NEED_DATA, RecordDecoder

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _load_hex(name: str) -> bytes:
    lines = (FIXTURES / f"{name}.hex").read_text().splitlines()
    return bytes.fromhex("".join(ln.strip() for ln in lines if not ln.startswith("#")))


def _drain(dec: RecordDecoder) -> list[bytes]:
    out = []
    while (rec := dec.next_record()) is not NEED_DATA:
        out.append(bytes(rec))  # type: ignore[arg-type]
    return out


def _whole(data: bytes) -> list[bytes]:
    dec = RecordDecoder()
    dec.receive_data(data)
    return _drain(dec)


def _bytewise(data: bytes) -> list[bytes]:
    dec = RecordDecoder()
    out: list[bytes] = []
    for i in range(len(data)):
        dec.receive_data(data[i : i + 1])
        out += _drain(dec)
    return out


@pytest.fixture
def golden() -> Callable[[str], bytes]:
    """Bytes of a tests/fixtures/NAME.hex capture (TCP payload, record mark included)."""
    return _load_hex


@pytest.fixture(params=["whole", "bytewise"])
def feed(request: pytest.FixtureRequest) -> Callable[[bytes], list[bytes]]:
    """Split a byte stream into records, fed to RecordDecoder whole or one byte at a time."""
    return _whole if request.param == "whole" else _bytewise


# -- TLS and pollers, shared by the transport and RPC suites ---------------------------------


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    """One throwaway CA per test session."""
    return trustme.CA()


@pytest.fixture(scope="session")
def tls_context(ca: trustme.CA) -> Callable[[bool, str], ssl.SSLContext]:
    """``tls_context(server, cn)``: a mutual-TLS context (no host-name check, TLS >= 1.2)
    with a certificate for ``cn`` issued by the session CA."""

    def make(server: bool, cn: str) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ca.configure_trust(ctx)
        ca.issue_cert(cn, common_name=cn).configure_cert(ctx)
        return ctx

    return make


@pytest.fixture(scope="session")
def tls_pair(
    tls_context: Callable[[bool, str], ssl.SSLContext],
) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context CN server.test, client context CN client.test)."""
    return tls_context(True, "server.test"), tls_context(False, "client.test")


@pytest.fixture(params=POLLER_NAMES)
def poller(request: pytest.FixtureRequest) -> Iterator[Poller]:
    """A started poller of each kind; stopped after the test."""
    p = make_poller(request.param, event_threads=2)
    p.start()
    yield p
    p.stop()


# -- brick directories -----------------------------------------------------------------------


@pytest.fixture
def xattr_dir(tmp_path: Path) -> Path:
    """An empty directory ``brick`` where trusted.* xattrs work (a brick's gfids live there);
    the test is skipped where they do not (not root, or a file system without xattrs)."""
    probe = tmp_path / "probe"
    probe.touch()
    try:
        os.setxattr(probe, "trusted.gfrpc-probe", b"1")
    except OSError:
        pytest.skip("trusted.* xattrs need root (CAP_SYS_ADMIN) on an xattr-capable fs")
    finally:
        probe.unlink()
    d = tmp_path / "brick"
    d.mkdir()
    return d
