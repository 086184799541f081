"""Fixtures for the transport conformance suite: every test runs on each poller (and on the
two multi-threaded ones with the baton, as the brick runs them by default) x TLS on/off."""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import pytest

from gfrpc.transport import POLLER_NAMES, Poller, make_poller


@pytest.fixture(params=[False, True], ids=["plain", "tls"])
def tls(request: pytest.FixtureRequest, tls_pair: tuple[ssl.SSLContext, ssl.SSLContext]):
    """(server_context, client_context) or (None, None)."""
    return tls_pair if request.param else (None, None)


@pytest.fixture(params=(*POLLER_NAMES, "pool+baton", "sharded+baton"))
def poller(request: pytest.FixtureRequest) -> Iterator[Poller]:
    """A started poller of each kind, and ``pool`` and ``sharded`` with the baton
    (``transport/baton.py``); stopped after the test."""
    name, _, baton = str(request.param).partition("+")
    p = make_poller(name, event_threads=2, baton=bool(baton))
    p.start()
    yield p
    p.stop()
