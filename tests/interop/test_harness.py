"""Tests of the interop harness itself, against a real GlusterFS 10."""

from __future__ import annotations

import socket
import ssl
import time
import uuid
from pathlib import Path

import pytest

from gfrpc.testing import need
from gfrpc.testing.realgluster import (
    BRICK_PORT_RANGE,
    GLUSTERD_ADDRESS,
    SYSTEM_WORKDIR,
    GlusterD,
    GlusterError,
    GlusterVolume,
    TLSMaterial,
    gf_dump,
    pid_alive,
    pmap_port_by_brick,
    port_open,
    rpc_call,
)

pytestmark = pytest.mark.timeout(180)

GLUSTERFS_4X = ("GlusterFS 4.x v1", 1298437, 400)


def test_need_skips_outside_ci_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """In CI a missing peer is a failure, elsewhere a skip; a met condition does nothing."""
    need(True, "never shown")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no peer"):
        need(False, "no peer")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="no peer"):
        need(False, "no peer")


def test_glusterd_answers_dump(glusterd: GlusterD) -> None:
    """Our glusterd serves 127.0.0.1:24007 and lists GF-DUMP, Portmap and Handshake."""
    assert glusterd.address == GLUSTERD_ADDRESS == ("127.0.0.1", 24007)
    assert glusterd.proc is not None and glusterd.proc.poll() is None
    progs = {(p, v): name for name, p, v in gf_dump(glusterd.address)}
    assert progs[(123451501, 1)] == "GF-DUMP"
    assert progs[(34123456, 1)] == "Gluster Portmap"
    assert progs[(14398633, 2)] == "Gluster Handshake"


def test_glusterd_state_is_private(glusterd: GlusterD, gluster_volume: GlusterVolume) -> None:
    """Volume state, CLI socket and pid file live in the harness's temp tree, not /var/lib."""
    assert (glusterd.workdir / "vols" / gluster_volume.name / "info").is_file()
    assert not (SYSTEM_WORKDIR / "vols" / gluster_volume.name).exists()
    assert glusterd.sockfile.is_socket()
    assert int(glusterd.pidfile.read_text()) == glusterd.pid
    # our CLI sees exactly the volumes this session created
    listed = set(glusterd.cli("volume", "list").stdout.split())
    assert gluster_volume.name in listed
    assert listed <= set(glusterd.volumes) | {"No", "volumes", "present", "in", "cluster"}


def test_volume_status_shows_brick_port(glusterd: GlusterD, gluster_volume: GlusterVolume) -> None:
    """The brick port parsed from `volume status --xml` is the one the portmapper gives out,
    and a brick serves plain RPC there."""
    vol = gluster_volume
    assert BRICK_PORT_RANGE[0] <= vol.port <= BRICK_PORT_RANGE[1]
    assert vol.brick_path.is_dir() and vol.brick == f"{vol.host}:{vol.brick_path}"
    assert vol.glusterd_address == ("127.0.0.1", 24007)
    assert not vol.tls and vol.tls_dir is None
    [node] = glusterd.volume_status(vol.name)
    assert int(node["port"]) == vol.port and int(node["pid"]) == vol.pid
    # glusterd's portmapper agrees with `volume status`, as real clients rely on it
    assert pmap_port_by_brick(str(vol.brick_path)) == vol.port
    # the brick answers plain RPC and offers the 4.x FOP program
    assert GLUSTERFS_4X in gf_dump(vol.address)


def test_tls_volume_brick_requires_tls(
    glusterd: GlusterD, gluster_volume_tls: GlusterVolume, interop_tls: TLSMaterial
) -> None:
    """A TLS brick completes mutual TLS with our client identity and answers RPC over it;
    plaintext, no client cert, or a cert from another CA get no reply."""
    vol = gluster_volume_tls
    assert vol.tls and vol.tls_dir == interop_tls.client.dir
    for f in ("glusterfs.pem", "glusterfs.key", "glusterfs.ca"):
        assert (vol.tls_dir / f).is_file()
    assert pmap_port_by_brick(str(vol.brick_path)) == vol.port
    # mutual TLS with the client identity: handshake and an RPC over it
    ctx = interop_tls.client.client_context()
    with socket.create_connection(vol.address, timeout=10) as raw, ctx.wrap_socket(raw) as tls_sock:
        peer = tls_sock.getpeercert()
        cn = dict(x[0] for x in peer["subject"])["commonName"]
        assert cn == "gfrpc-test-server"
    assert GLUSTERFS_4X in gf_dump(vol.address, ssl_context=ctx)
    # plaintext RPC: the brick resets the connection without a reply
    with pytest.raises((OSError, EOFError)):
        gf_dump(vol.address, timeout=10)
    # TLS without a client certificate, or with one from another CA: no reply either
    for bad in (
        interop_tls.client.client_context(with_cert=False),
        interop_tls.untrusted_client.client_context(),
    ):
        bad.minimum_version = ssl.TLSVersion.TLSv1_2
        with pytest.raises((OSError, EOFError)):
            rpc_call(vol.address, 123451501, 1, 1, b"\0" * 8, ssl_context=bad, timeout=10)


def test_tls_brick_verified_with_openssl_cli(
    gluster_volume_tls: GlusterVolume, interop_tls: TLSMaterial
) -> None:
    """`openssl s_client` with the client files in tls_dir verifies the brick's certificate."""
    import shutil

    from gfrpc.testing.realgluster import run

    need(shutil.which("openssl"), "openssl CLI missing")
    c = interop_tls.client
    r = run(
        [
            "openssl",
            "s_client",
            "-connect",
            f"127.0.0.1:{gluster_volume_tls.port}",
            "-cert",
            str(c.cert),
            "-key",
            str(c.key),
            "-CAfile",
            str(c.ca),
            "-verify_return_error",
            "-brief",
        ],
        input="",
        timeout=20,
    )
    out = r.stdout + r.stderr
    assert "Verification: OK" in out or "Verify return code: 0" in out, out
    assert "gfrpc-test-server" in out, out


@pytest.mark.parametrize("which", ["plain", "tls"])
def test_fuse_mount_hand_written_volfile(
    request: pytest.FixtureRequest, fuse_mount, which: str
) -> None:
    """A real FUSE client on a hand-written volfile writes through the brick and reads back;
    the mount is gone after the context manager exits."""
    vol: GlusterVolume = request.getfixturevalue(
        "gluster_volume" if which == "plain" else "gluster_volume_tls"
    )
    volfile = vol.client_volfile()
    assert f"remote-port {vol.port}" in volfile
    assert ("ssl-enabled on" in volfile) == vol.tls
    name = f"hello-{uuid.uuid4().hex[:8]}.txt"
    payload = (f"gfrpc interop {which} {time.time()}\n" * 1000).encode()
    t0 = time.monotonic()
    with fuse_mount(volfile) as mnt:
        assert isinstance(mnt, Path)
        (mnt / name).write_bytes(payload)
        assert (mnt / name).read_bytes() == payload
        mounted_for = time.monotonic() - t0
    # the data went through the real brick onto its directory; and the mount is gone
    assert (vol.brick_path / name).read_bytes() == payload
    assert not (mnt / name).exists()
    assert mounted_for < 30


def test_delete_volume_stops_its_brick(glusterd: GlusterD) -> None:
    """Deleting a harness volume stops its brick process and frees its port."""
    vol = glusterd.create_volume()
    assert port_open("127.0.0.1", vol.port)
    glusterd.delete_volume(vol.name)
    deadline = time.monotonic() + 10
    while pid_alive(vol.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not pid_alive(vol.pid)
    assert not port_open("127.0.0.1", vol.port)
    assert vol.name not in glusterd.cli("volume", "list").stdout.split()
    with pytest.raises(GlusterError, match="not created by this harness"):
        glusterd.delete_volume(vol.name)


HOST_LISTENER = r"""
import socket, subprocess, sys
host = socket.socket()
host.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
host.bind(("0.0.0.0", 24007))      # what Debian's own glusterd holds once installed
host.listen()
r = subprocess.run(sys.argv[1:])
probe = socket.create_connection(("127.0.0.1", 24007), timeout=5)  # the "host" is still served
host.accept()[0].close()
probe.close()
sys.exit(r.returncode)
"""


def test_a_glusterd_of_the_machine_on_24007_does_not_disturb_the_kit(tmp_path: Path) -> None:
    """Rule (issue 8, item 10): with something listening on the machine's 0.0.0.0:24007 (as
    Debian's glusterd does once installed), the suite run the way `make test` runs it
    (`tools/in-netns pytest`) starts its own glusterd and passes, and the machine's listener
    is still there afterwards. The "machine" here is a fresh network namespace of its own."""
    import os
    import shutil
    import subprocess
    import sys

    need(os.geteuid() == 0 and shutil.which("unshare"), "needs root and unshare")
    root = Path(__file__).resolve().parents[2]
    script = tmp_path / "host.py"
    script.write_text(HOST_LISTENER)
    env = {k: v for k, v in os.environ.items() if k != "GFRPC_NETNS"}
    inner = [
        str(root / "tools" / "in-netns"),
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:randomly",
        str(root / "tests" / "interop" / "test_harness.py"),
        "-k",
        "glusterd_answers_dump",
    ]
    r = subprocess.run(
        [
            "unshare",
            "--net",
            "--",
            "sh",
            "-c",
            'ip link set lo up && exec "$@"',
            "host",
            sys.executable,
            str(script),
            *inner,
        ],
        capture_output=True,
        text=True,
        timeout=150,
        env=env,
        cwd=root,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "1 passed" in r.stdout, r.stdout[-3000:]
