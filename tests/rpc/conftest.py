"""Fixtures for the rpc tests (the fakes themselves are in rpc_fakes_support.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from rpc_fakes_support import FakeConnector, FakeEndpoint

from gfrpc.rpc import client as client_mod
from gfrpc.rpc.timers import TimerThread


@pytest.fixture
def connector(monkeypatch: pytest.MonkeyPatch) -> FakeConnector:
    fake = FakeConnector()
    monkeypatch.setattr(client_mod.transport, "connect", fake)
    return fake


@pytest.fixture
def timers() -> Iterator[TimerThread]:
    t = TimerThread(name="test-timer")
    yield t
    t.stop()


@pytest.fixture
def make_client(connector: FakeConnector, timers: TimerThread) -> Iterator[Callable[..., Any]]:
    made: list[client_mod.RpcClient] = []

    def factory(**kw: Any) -> tuple[client_mod.RpcClient, FakeEndpoint]:
        kw.setdefault("ping_timeout", 0)
        c = client_mod.RpcClient("fake:24007", poller=None, timers=timers, **kw)
        made.append(c)
        c.connect()
        return c, connector.endpoints[-1]

    yield factory
    for c in made:
        c.close()
