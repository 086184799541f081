"""Helpers of the client tests: an in-process gfrpc brick, and the 32-thread workload on one
Volume that tests/client runs against gfrpc bricks and tests/interop against real glusterfsd
(issue 11's "thread safety is designed" rule)."""

from __future__ import annotations

import random
import threading
from pathlib import Path
from typing import Any

from gfrpc.client import Volume
from gfrpc.services.brick import BrickConfig, BrickServer


def start_brick(
    directory: Path, volname: str, *, poller: str = "single", **options: Any
) -> BrickServer:
    """A started gfrpc brick (``poller``, default single) on 127.0.0.1 serving ``directory``;
    ``options`` are more ``BrickConfig`` fields (``mgmt=``, ``tls=``, ``max_open_fds=`` ...)."""
    directory.mkdir(parents=True, exist_ok=True)
    server = BrickServer(
        BrickConfig(
            directory=str(directory),
            port=0,
            host="127.0.0.1",
            volname=volname,
            poller=poller,
            **options,
        )
    )
    server.start()
    return server


def brick_port(server: BrickServer) -> int:
    return int(server.listener.address.port)  # type: ignore[union-attr]


def distribute_volfile(volname: str, ports: list[int], dirs: list[Path]) -> str:
    """The client volfile of a distribute volume over gfrpc bricks on 127.0.0.1, as glusterd
    writes one: a ``protocol/client`` per (port, brick directory) under ``cluster/distribute``."""
    lines: list[str] = []
    for i, (port, d) in enumerate(zip(ports, dirs, strict=True)):
        lines += [
            f"volume {volname}-client-{i}",
            "    type protocol/client",
            "    option remote-host 127.0.0.1",
            f"    option remote-port {port}",
            f"    option remote-subvolume {d}",
            "end-volume",
        ]
    clients = " ".join(f"{volname}-client-{i}" for i in range(len(ports)))
    lines += [f"volume {volname}-dht", "    type cluster/distribute"]
    lines += [f"    subvolumes {clients}", "end-volume"]
    return "\n".join(lines)


THREADS, FILES = 32, 4


def hammer(vol: Volume, top: str) -> int:
    """32 threads on one Volume: each writes its files, reads them back, renames half of them,
    and lists the shared directory (and stats what it listed) in between. Only ENOENT from a
    stat racing another thread's rename is expected; every file must read back with its
    content and the final listing must equal the model. Returns the number of ENOENT races.
    """
    vol.mkdir(top)
    contents: dict[str, bytes] = {}
    unexpected: list[BaseException] = []
    races = [0]
    lock = threading.Lock()
    start = threading.Barrier(THREADS)

    def worker(t: int) -> None:
        rng = random.Random(t)
        start.wait()
        mine = {}
        for k in range(FILES):
            name = f"t{t:02d}-{k}"
            blob = rng.randbytes(rng.randrange(1, 40_000))
            vol.write_bytes(f"{top}/{name}", blob)
            mine[name] = blob
            assert vol.read_bytes(f"{top}/{name}") == blob
            listed = [e.path for e in vol.scandir(top)]  # while others write and rename
            for path in rng.sample(listed, min(4, len(listed))):
                try:
                    vol.stat(path)
                except FileNotFoundError:
                    with lock:
                        races[0] += 1
        for k in range(0, FILES, 2):
            old, new = f"t{t:02d}-{k}", f"t{t:02d}-{k}.renamed"
            vol.rename(f"{top}/{old}", f"{top}/{new}")
            mine[new] = mine.pop(old)
        if t % 8 == 0:
            assert sum(len(f) for _, _, f in vol.walk(top)) >= len(mine)
        for name, blob in mine.items():
            assert vol.read_bytes(f"{top}/{name}") == blob
        with lock:
            contents.update(mine)

    def guarded(t: int) -> None:
        try:
            worker(t)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion below
            with lock:
                unexpected.append(exc)

    threads = [threading.Thread(target=guarded, args=(t,)) for t in range(THREADS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert unexpected == [], unexpected[:3]
    assert sorted(vol.listdir(top)) == sorted(contents)
    assert len(contents) == THREADS * FILES
    for name, blob in contents.items():
        assert vol.read_bytes(f"{top}/{name}") == blob
    return races[0]
