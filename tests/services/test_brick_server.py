"""BrickServer wiring: admission at SETVOLUME (auth.allow, auth.ssl-allow over TLS), the
volume-id, the poller choice and the `gfrpc brick` command line."""

from __future__ import annotations

import errno
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from brick_fops_support import ROOT, FopClient, P, running_brick

from gfrpc.errors import ConfigError
from gfrpc.programs import dump as gfdump
from gfrpc.programs import fops as fp
from gfrpc.services.brick import BrickConfig, BrickServer
from gfrpc.tls import TLSOptions, make_context
from gfrpc.tls.certs import write_certs
from gfrpc.transport import POLLER_NAMES, make_poller

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("certs")
    write_certs(root / "server", "brick-1")
    write_certs(root / "good", "client-7", ca_dir=root / "server")
    write_certs(root / "bad", "intruder", ca_dir=root / "server")
    return {name: root / name for name in ("server", "good", "bad")}


@pytest.fixture
def brick_dir(tmp_path: Path) -> Path:
    d = tmp_path / "brick"
    d.mkdir()
    return d


@pytest.fixture
def client_poller() -> Iterator[object]:
    p = make_poller("single")
    p.start()
    yield p
    p.stop()


@pytest.mark.parametrize("poller", POLLER_NAMES)
def test_every_poller_serves_fops(brick_dir: Path, poller: str) -> None:
    """The brick serves FOPs with each polling model."""
    with running_brick(brick_dir, poller) as h:
        c = h.client()
        r = c.create(ROOT, "p")
        assert c.write(bytes(r.stat.ia_gfid), r.fd, 0, b"x" * 300_000).op_ret == 300_000
    assert (brick_dir / "p").stat().st_size == 300_000


def test_ssl_allow_is_checked_at_setvolume(
    brick_dir: Path, certs: dict[str, Path], client_poller: object
) -> None:
    """With TLS and --ssl-allow, any TLS peer gets GF-DUMP answered, but SETVOLUME from a CN
    outside the globs fails with EACCES "Authentication failed" (GlusterFS's auth.ssl-allow),
    while a matching CN is accepted and served."""
    cfg = BrickConfig(
        directory=str(brick_dir),
        port=0,
        host="127.0.0.1",
        tls=TLSOptions.from_dir(certs["server"]),
        ssl_allow=["client-*"],
    )
    server = BrickServer(cfg)
    listener = server.start()
    try:
        results = {}
        for who in ("good", "bad"):
            ctx = make_context(TLSOptions.from_dir(certs[who]), server_side=False)
            c = FopClient(
                str(listener.address),
                client_poller,
                cfg.brick_path,  # type: ignore[arg-type]
                tls=ctx,
            )
            body = c.rpc.call(
                gfdump.GF_DUMP_PROGRAM,
                gfdump.GF_DUMP_VERSION,
                gfdump.DUMP,
                gfdump.GfDumpReq().pack(),
            ).body
            assert gfdump.GfDumpRsp.unpack(body).op_ret == 0
            results[who] = c.setvolume()
            if who == "good":
                assert c.call(P.LOOKUP, fp.GfxLookupReq(gfid=ROOT)).op_ret == 0
            c.close()
        assert results["good"][:2] == (0, 0)
        op_ret, op_errno, reply = results["bad"]
        assert (op_ret, op_errno) == (-1, errno.EACCES)
        assert reply["ERROR"].rstrip(b"\0") == b"Authentication failed"
    finally:
        server.stop()


@pytest.mark.parametrize("allow, ok", [(["10.*"], False), (["10.*", "127.0.0.*"], True)])
def test_auth_allow_globs(brick_dir: Path, allow: list[str], ok: bool) -> None:
    """--allow address globs (auth.allow) admit matching peers and refuse others with EACCES."""
    with running_brick(brick_dir, allow=allow) as h:
        c = h.client(setvolume=False)
        assert c.setvolume()[:2] == ((0, 0) if ok else (-1, errno.EACCES))


def test_ssl_allow_without_tls_is_a_config_error(brick_dir: Path) -> None:
    """--ssl-allow without TLS is refused at start (it could never be checked)."""
    server = BrickServer(
        BrickConfig(directory=str(brick_dir), port=0, host="127.0.0.1", ssl_allow=["x"])
    )
    with pytest.raises(ConfigError):
        server.start()
    server.stop()


def test_volume_id_survives_restarts(brick_dir: Path) -> None:
    """The volume-id created on first start is the one found on the next start."""
    first = BrickServer(BrickConfig(directory=str(brick_dir), port=0))
    second = BrickServer(BrickConfig(directory=str(brick_dir), port=0))
    assert first.volume_id == second.volume_id
    first.store.close()
    second.store.close()


def test_cli_help_names_the_brick_path_and_allow() -> None:
    """`gfrpc brick --help` explains the brick path and offers --allow, --volname, --poller."""
    out = subprocess.run(
        [sys.executable, "-m", "gfrpc.cli", "brick", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0
    text = " ".join(out.stdout.split())
    for word in ("brick path", "--allow", "--volname", "--poller", "--ssl-allow", "--io-threads"):
        assert word in text, word
