"""The ``pool`` poller's own rules (the transport conformance suite runs over it with the
other pollers: ``pool`` is in ``POLLER_NAMES``)."""

from __future__ import annotations

import struct

import pytest
from transport_support import Accepted, BatonRecorder, huge, one_by_one

from gfrpc.transport import connect, listen, make_poller
from gfrpc.transport.baton import BATON, QUIET_HANDLINGS

pytestmark = pytest.mark.timeout(120)


def test_with_the_baton_a_heavy_connection_is_handled_without_it_and_light_ones_with_it() -> None:
    """A connection whose handling did big work outside the GIL (a 1 MiB record) is then
    handled without the baton, also for small records while it stays heavy; a light
    connection's handlings hold it; after QUIET_HANDLINGS handlings without big work the heavy
    one is light again and holds it too. Records arrive whole and in order throughout."""
    poller = make_poller("pool", event_threads=2, baton=True)
    client_poller = make_poller("single")
    poller.start()
    client_poller.start()
    servers = Accepted(BatonRecorder)
    listener = listen("127.0.0.1:0", poller=poller, handler_factory=servers)
    try:
        clients = [
            connect(listener.address, poller=client_poller, handler=BatonRecorder())
            for _ in range(2)
        ]
        for k, ep in enumerate(clients):
            ep.submit(struct.pack(">II", k, 0), b"small")
        by_client = {}
        for i in range(2):
            first = servers.get(i).wait_records(1)[0]
            by_client[struct.unpack(">I", first[:4])[0]] = servers.get(i)
        heavy, light = by_client[0], by_client[1]
        assert isinstance(heavy, BatonRecorder) and isinstance(light, BatonRecorder)
        assert heavy.held == [True] and light.held == [True]
        clients[0].submit(struct.pack(">II", 0, 1), huge(1))
        heavy.wait_records(2)
        clients[0].submit(struct.pack(">II", 0, 2), huge(2))
        heavy.wait_records(3)
        one_by_one(clients[0], heavy, 0, 3, 3)
        one_by_one(clients[1], light, 1, 1, 3)
        assert heavy.held[2:] == [False] * 4
        assert light.held == [True] * 4
        one_by_one(clients[0], heavy, 0, 6, QUIET_HANDLINGS + 5)
        one_by_one(clients[0], heavy, 0, 11 + QUIET_HANDLINGS, 3)
        assert heavy.held[-3:] == [True] * 3
        got = heavy.wait_records(14 + QUIET_HANDLINGS)
        assert got[1][8:] == huge(1) and got[2][8:] == huge(2)
        assert [struct.unpack(">II", r[:8])[1] for r in got] == list(range(14 + QUIET_HANDLINGS))
        for ep in clients:
            ep.close()
    finally:
        listener.close()
        client_poller.stop()
        poller.stop()
    assert not BATON.held()
