"""Fixtures for the transport conformance suite: every test runs on 3 pollers x TLS on/off."""

from __future__ import annotations

import ssl

import pytest


@pytest.fixture(params=[False, True], ids=["plain", "tls"])
def tls(request: pytest.FixtureRequest, tls_pair: tuple[ssl.SSLContext, ssl.SSLContext]):
    """(server_context, client_context) or (None, None)."""
    return tls_pair if request.param else (None, None)
