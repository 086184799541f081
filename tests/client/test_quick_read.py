"""gfrpc's client reads a small file with the one LOOKUP that brings it only when the volume's
client graph has quick-read, against a real gfrpc brick."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from client_support import brick_port, start_brick

from gfrpc.client import Volume
from gfrpc.services.brick import BrickServer

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def brick(tmp_path: Path) -> Iterator[tuple[BrickServer, Path]]:
    server = start_brick(tmp_path / "b", "qv")
    try:
        yield server, tmp_path / "b"
    finally:
        server.stop()


def _volfile(port: int, directory: Path, quick_read: bool) -> str:
    lines = [
        "volume qv-client-0",
        "    type protocol/client",
        "    option remote-host 127.0.0.1",
        f"    option remote-port {port}",
        f"    option remote-subvolume {directory}",
        "end-volume",
    ]
    if quick_read:
        lines += [
            "volume qv-quick-read",
            "    type performance/quick-read",
            "    subvolumes qv-client-0",
            "end-volume",
        ]
    return "\n".join(lines)


def _sent(vol: Volume) -> list[str]:
    """Start recording the FOPs ``vol``'s brick connection sends; the list it fills."""
    sent: list[str] = []
    conn = vol.bricks[0]
    fop = conn.fop

    def counted(proc: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(proc.name)
        return fop(proc, *args, **kwargs)

    conn.fop = counted  # type: ignore[method-assign]
    return sent


@pytest.mark.parametrize("quick_read", [True, False])
def test_the_graph_decides_whether_a_lookup_brings_a_small_file(
    brick: tuple[BrickServer, Path], quick_read: bool
) -> None:
    """With ``performance/quick-read`` in the client volfile (glusterd's default graph) a small
    file's ``read_bytes`` is one LOOKUP; without it (``volume set ... performance.quick-read
    off``) the file is looked up, opened and read; ``quick_read=`` overrides the graph."""
    server, directory = brick
    text = _volfile(brick_port(server), directory, quick_read)
    with Volume.from_volfile(text, volname="qv") as vol:
        assert vol.quick_read is quick_read
        vol.write_bytes("/f", b"small")
        fresh = Volume.from_volfile(text, volname="qv")
        with fresh:
            sent = _sent(fresh)
            assert fresh.read_bytes("/f") == b"small"
            assert sent[:2] == (["LOOKUP"] if quick_read else ["LOOKUP", "OPEN"])
            assert ("OPEN" in sent) is not quick_read
        with Volume.from_volfile(text, volname="qv", quick_read=not quick_read) as other:
            assert other.quick_read is not quick_read
