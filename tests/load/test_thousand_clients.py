"""1,000 clients on one gfrpc brick (pool poller, a subprocess): every reply checked, p99 latency,
brick RSS and threads, client threads printed (``pytest -s`` shows them)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from gfrpc.bench.brickproc import GfrpcBrick
from gfrpc.bench.manyclients import run_load
from gfrpc.bench.procstat import thread_count

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="the gfrpc brick needs root (trusted.* xattrs)"
)

CLIENTS = 1000
THREADS = 32


@pytest.fixture
def brick():
    tmp = Path(tempfile.mkdtemp(prefix="gfrpc-load-"))
    b = GfrpcBrick(tmp / "brick", volname="load", tls_dir=None, poller="pool", event_threads=2)
    try:
        yield b
    finally:
        b.stop()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.mark.timeout(240)
def test_thousand_clients_on_the_pool_poller(brick):
    """Rule: a pool-poller brick serves 1,000 SETVOLUME'd connections at once, each doing
    CREATE/WRITE/STAT/READ/READDIR(P) and two steady rounds, with every reply correct (contents,
    sizes, names), all 1,000 still connected in the steady phase, brick threads independent of
    the number of clients (bounded, not one per connection), and the client side on a fixed
    number of threads."""
    threads_before = thread_count(os.getpid())  # what earlier tests left in this process
    r = run_load(
        f"127.0.0.1:{brick.port}",
        str(brick.dir.resolve()),
        clients=CLIENTS,
        threads=THREADS,
        rounds=2,
        poller="pool",
        event_threads=2,
        brick_pid=brick.pid,
        say=print,
    )
    for line in r.lines():
        print(line)
    assert r.error_count == 0, r.errors
    assert r.steady_connections == CLIENTS
    assert r.ops["CONNECT+SETVOLUME"] == CLIENTS
    assert r.ops["STAT"] == CLIENTS * 3 and r.ops["READ"] == CLIENTS * 4
    assert r.ops["READDIRP"] >= CLIENTS // 2 and r.ops["READDIR"] >= CLIENTS // 2
    # one listener + event threads + timer + workers: a fixed pool, nowhere near one per client
    assert r.brick["threads"] <= r.brick["threads0"] + 20, r.brick
    assert r.client_threads <= threads_before + THREADS + 12
    # < 150 KiB per connection: catches e.g. a 256 KiB read buffer kept by every idle connection
    assert r.brick["rss"] - r.brick["rss0"] < 150 * (1 << 20), r.brick
    assert r.p(0.99) < 5.0
