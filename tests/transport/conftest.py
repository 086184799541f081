"""Fixtures for the transport conformance suite: every test runs on 3 pollers x TLS on/off."""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import pytest
import trustme

from gfrpc.transport import POLLER_NAMES, make_poller
from gfrpc.transport.pollers.base import Poller


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


def _context(ca: trustme.CA, server: bool, cn: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ca.configure_trust(ctx)
    ca.issue_cert(cn, common_name=cn).configure_cert(ctx)
    return ctx


@pytest.fixture(scope="session")
def tls_pair(ca: trustme.CA) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    return _context(ca, True, "server.test"), _context(ca, False, "client.test")


@pytest.fixture(params=POLLER_NAMES)
def poller(request: pytest.FixtureRequest) -> Iterator[Poller]:
    p = make_poller(request.param, event_threads=2)
    p.start()
    yield p
    p.stop()


@pytest.fixture(params=[False, True], ids=["plain", "tls"])
def tls(request: pytest.FixtureRequest, tls_pair: tuple[ssl.SSLContext, ssl.SSLContext]):
    """(server_context, client_context) or (None, None)."""
    return tls_pair if request.param else (None, None)
