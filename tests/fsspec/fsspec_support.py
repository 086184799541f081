"""gfrpc volumes in this process for the fsspec tests and ``tools/fsspec-fops``: ``gfrpc
mgmtd`` and gfrpc bricks on 127.0.0.1, and a counter of the FOPs a file system sends. No
pytest here: the tests' conftest adds the skip when bricks cannot keep trusted.* xattrs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from client_support import start_brick  # tests/client (pytest's pythonpath)

from gfrpc.services.mgmt import MgmtConfig, MgmtServer, parse_volume_arg
from gfrpc.testing.waiting import wait_for
from gfrpc.tls import TLSOptions

VOLUME = "fsv"


@dataclass
class Cluster:
    port: int  # the management daemon's port (the gluster:// URL's)
    bricks: list[Path]

    @property
    def url(self) -> str:
        return f"gluster://127.0.0.1:{self.port}/{VOLUME}"

    def options(self) -> dict[str, Any]:
        return {"host": "127.0.0.1", "port": self.port, "volume": VOLUME}


@contextmanager
def gfrpc_volume(
    root: Path, bricks: int, tls_dir: Path | None = None, *, poller: str = "pool"
) -> Iterator[Cluster]:
    """mgmtd and ``bricks`` gfrpc bricks (``poller``) of volume VOLUME under ``root``, signed
    in; with ``tls_dir`` (the bricks' glusterfs.pem/.key/.ca) the bricks speak TLS only."""
    dirs = [root / f"b{i}" for i in range(bricks)]
    spec = parse_volume_arg(f"{VOLUME}=" + ",".join(f"127.0.0.1:{d}" for d in dirs))
    mgmtd = MgmtServer(
        MgmtConfig(
            volumes=[spec], port=0, host="127.0.0.1", poller="single", io_tls=tls_dir is not None
        )
    )
    mgmtd.start()
    port = mgmtd.listener.address.port  # type: ignore[union-attr]
    servers = []
    try:
        for d in dirs:
            tls = TLSOptions.from_dir(tls_dir) if tls_dir else None
            b = start_brick(d, VOLUME, poller=poller, mgmt=f"127.0.0.1:{port}", tls=tls)
            servers.append(b)
        for b in servers:
            # the sign-in's reply lands on the brick's poller thread: no event to wait on
            wait_for(
                lambda b=b: mgmtd.registry.port_of(b.config.brick_path) == b.identity.port,
                10.0,
                "the brick's sign-in",
            )
        yield Cluster(port, dirs)
    finally:
        for b in servers:
            b.stop()
        mgmtd.stop()


@contextmanager
def counted_fops(fs: Any) -> Iterator[Counter[str]]:
    """Count the FOPs ``fs``'s volume sends (by name) inside the block."""
    counts: Counter[str] = Counter()
    senders = ("send_fop", "call_fop", "forget_fop")  # every FOP leaves through one of them
    patched = []
    for conn in fs.volume.bricks:
        for name in senders:
            original: Callable[..., Any] = getattr(conn, name)

            def counting(proc: Any, *args: Any, _orig: Any = original, **kw: Any) -> Any:
                counts[getattr(proc, "name", str(proc))] += 1
                return _orig(proc, *args, **kw)

            setattr(conn, name, counting)
        patched.append(conn)
    try:
        yield counts
    finally:
        for conn in patched:
            for name in senders:
                delattr(conn, name)
