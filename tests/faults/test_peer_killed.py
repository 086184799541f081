"""kill -9 of a brick while 1 MiB WRITEs are in flight and while READ replies are on their way.

Runs on every poller (the brick's ``--poller`` and the client's own poller are the same
model), TLS off and on: 6 cases, each with a brick process killed twice and restarted on its
port. The rules: every pending call fails with ENOTCONN within 1 s of the kill; completed
calls carry their own data; the next call after the brick is back reconnects (and an open
file reopens its fd); and the client process keeps no fd or thread of it after close.
"""

from __future__ import annotations

import errno
import threading
import time
from concurrent.futures import Future
from typing import Any

import pytest
from fault_support import (
    MIB,
    VOLNAME,
    BrickProcess,
    TlsDirs,
    assert_no_leaks,
    baseline,
    tagged_block,
    wait_all,
)

from gfrpc.client import Volume
from gfrpc.rpc import RpcClient
from gfrpc.rpc.dump_client import dump
from gfrpc.tls import TLSOptions, make_context
from gfrpc.transport import make_poller

pytestmark = pytest.mark.timeout(180)

READS = 24  # 1 MiB READs in flight: more than the loopback socket buffers hold
WRITES = 32  # 1 MiB WRITEs in flight
FAIL_WITHIN = 1.0


def connect(brick: BrickProcess, tls: TlsDirs | None, poller: str) -> Volume:
    vol = Volume.connect_brick(
        "127.0.0.1",
        brick.port,
        brick.brick_path,
        VOLNAME,
        tls=str(tls.client) if tls else None,
        poller=poller,
    )
    vol.bricks[0].reconnect_interval = 0  # the next call after a loss reconnects at once
    return vol


def kill_when_first_done(brick: BrickProcess, futures: list[Future[Any]]) -> float:
    """Kill -9 the brick at its first reply (it has taken calls and is answering), reap it,
    and return the monotonic time of the kill.

    The signal is sent from the first reply's own callback, on the client's poller thread, at
    once: a test thread woken by that reply may be scheduled only after the brick has answered
    every call (seen in CI: all 32 WRITEs answered before such a kill), and then nothing was
    in flight to fail."""
    killed: list[float] = []
    first = threading.Event()
    lock = threading.Lock()

    def on_done(_f: Future[Any]) -> None:
        with lock:
            if killed:
                return
            killed.append(time.monotonic())
            brick.send_kill9()
        first.set()

    for f in futures:
        f.add_done_callback(on_done)
    assert first.wait(60), "no reply at all before the kill"
    brick.kill9()
    return killed[0]


def outcomes(futures: list[Future[Any]]) -> tuple[list[int], list[BaseException]]:
    """(indexes of calls that succeeded, exceptions of those that failed)."""
    ok, failed = [], []
    for i, f in enumerate(futures):
        exc = f.exception(0)
        if exc is None:
            ok.append(i)
        else:
            failed.append(exc)
    return ok, failed


def check_failures(failed: list[BaseException], elapsed: float, what: str) -> None:
    print(f"FAULTS {what}: {len(failed)} failed, last after {elapsed:.3f} s")
    assert failed, f"every {what} completed before the kill: nothing was in flight"
    wrong = [e for e in failed if getattr(e, "errno", None) != errno.ENOTCONN]
    assert not wrong, f"{what}s failed with something other than ENOTCONN: {wrong[:3]}"
    assert elapsed <= FAIL_WITHIN, f"pending {what}s took {elapsed:.2f} s to fail"


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
@pytest.mark.parametrize("poller", ["single", "own-thread", "pool"])
def test_kill9_in_the_middle_of_reads_and_writes(
    poller: str, tls: bool, brick_factory: Any, tls_dirs: TlsDirs
) -> None:
    """Rule: a brick killed mid-READ-reply and mid-WRITE fails every pending call with
    ENOTCONN within 1 s; replies that did arrive carry their own offset's data; after the
    brick restarts on the same port the next call reconnects, an open file reopens its fd,
    and no fd or thread is left in the client after close."""
    before = baseline()
    ident = tls_dirs if tls else None
    brick = brick_factory(poller=poller, tls=ident)
    vol = connect(brick, ident, poller)
    try:
        conn = vol.bricks[0]
        vol.write_bytes("/r.bin", b"".join(tagged_block(1, i) for i in range(READS)))
        f = vol.open("/r.bin", "rb", buffering=0)

        # 1. READ replies on their way
        reads = [conn.read_async(f.gfid, f.fd, i * MIB, MIB) for i in range(READS)]
        killed = kill_when_first_done(brick, reads)
        wait_all(reads, 10)
        elapsed = time.monotonic() - killed
        ok, failed = outcomes(reads)
        for i in ok:
            rsp, data = reads[i].result()
            assert rsp.op_ret == MIB and bytes(data) == tagged_block(1, i), (
                f"READ {i} got wrong data"
            )
        check_failures(failed, elapsed, "READ")

        brick.start()
        assert vol.stat("/r.bin").st_size == READS * MIB  # reconnects
        assert conn.generation == 2
        f.seek(5 * MIB)
        assert f.read(MIB) == tagged_block(1, 5)  # the old fd was reopened by gfid

        # 2. 1 MiB WRITEs in flight, queued while the brick is stopped: a brick that keeps
        # pace with the caller's encryption could otherwise answer them all before the last
        # one is queued, and nothing would be in flight at the kill
        w = vol.open("/w.bin", "wb", buffering=0)
        blocks = [tagged_block(2, i) for i in range(WRITES)]
        brick.freeze()
        try:
            writes = [conn.write_async(w.gfid, w.fd, i * MIB, blocks[i]) for i in range(WRITES)]
        finally:
            brick.thaw()
        killed = kill_when_first_done(brick, writes)
        wait_all(writes, 10)
        elapsed = time.monotonic() - killed
        ok, failed = outcomes(writes)
        check_failures(failed, elapsed, "WRITE")

        brick.start()
        assert conn.generation == 2  # nothing called since the kill
        with vol.open("/w.bin", "rb") as check:
            for i in ok:  # a WRITE that was answered is on the brick
                assert writes[i].result()[0].op_ret == MIB
                check.seek(i * MIB)
                assert check.read(MIB) == blocks[i], f"WRITE {i} answered but not on disk"
        assert conn.generation == 3
        f.close()
        w.close()
    finally:
        vol.close()
        brick.stop()
    assert_no_leaks(before)


def test_kill9_under_a_file_write_raises_enotconn_and_the_file_goes_on(brick_factory: Any) -> None:
    """Rule: a File.write of 64 MiB (pipelined 1 MiB WRITEs, window 8) running when the brick
    is killed raises ENOTCONN within 1 s instead of hanging; after the brick restarts the same
    File object reopens its fd and writes again. Pool poller, TLS off."""
    before = baseline()
    brick = brick_factory(poller="pool")
    vol = connect(brick, None, "pool")
    try:
        f = vol.open("/big.bin", "wb", buffering=0)
        data = b"".join(tagged_block(3, i) for i in range(64))
        outcome: list[BaseException | int] = []
        finished = threading.Event()

        def writer() -> None:
            try:
                outcome.append(f.write(data))
            except BaseException as exc:  # noqa: BLE001 - checked by the test
                outcome.append(exc)
            finally:
                finished.set()

        thread = threading.Thread(target=writer, name="test-writer")
        thread.start()
        on_disk = brick.path / "big.bin"
        deadline = time.monotonic() + 30
        # another process's progress: its file size is the only thing to watch
        while on_disk.stat().st_size < 2 * MIB:
            assert time.monotonic() < deadline and not finished.is_set(), "no WRITE landed"
            time.sleep(0.005)
        killed = time.monotonic()
        brick.kill9()
        assert finished.wait(10), "File.write hung after the brick died"
        elapsed = time.monotonic() - killed
        thread.join(5)
        print(f"FAULTS File.write: {outcome[0]!r} after {elapsed:.3f} s")
        assert isinstance(outcome[0], OSError) and outcome[0].errno == errno.ENOTCONN, outcome
        assert elapsed <= FAIL_WITHIN
        brick.start()
        f.seek(0)
        assert f.write(tagged_block(4, 0)) == MIB  # reconnects, reopens the fd by gfid
        f.close()
        assert vol.read_bytes("/big.bin")[:MIB] == tagged_block(4, 0)
    finally:
        vol.close()
        brick.stop()
    assert_no_leaks(before)


def test_an_rpc_client_with_reconnect_comes_back_by_itself(
    brick_factory: Any, tls_dirs: TlsDirs
) -> None:
    """Rule: an RpcClient with reconnect on (as a brick's sign-in client uses it) notices a
    kill -9 of its peer, retries every reconnect_interval while the port is closed (each
    refused attempt leaving nothing behind), is connected again by itself once the brick is
    back on its port, and answers calls. Pool poller, TLS on."""
    before = baseline()
    brick = brick_factory(poller="pool", tls=tls_dirs)
    poller = make_poller("pool", event_threads=2)
    poller.start()
    ctx = make_context(TLSOptions.from_dir(tls_dirs.client), server_side=False)
    client = RpcClient(
        ("127.0.0.1", brick.port),
        poller=poller,
        tls=ctx,
        reconnect=True,
        reconnect_interval=0.1,
        ping_timeout=0,
    )
    try:
        client.connect(timeout=10)
        assert dump(client, timeout=10)
        lost, back = threading.Event(), threading.Event()
        client.on_disconnect = lambda _c, _r: lost.set()
        client.on_connect = lambda _c: back.set()
        brick.kill9()
        assert lost.wait(FAIL_WITHIN), "the client did not notice the kill within 1 s"
        with pytest.raises(OSError) as down:
            dump(client, timeout=10)
        assert down.value.errno == errno.ENOTCONN
        brick.start()
        assert back.wait(30) and client.wait_connected(0)
        assert dump(client, timeout=10)
    finally:
        client.close()
        poller.stop()
        brick.stop()
    assert_no_leaks(before)
