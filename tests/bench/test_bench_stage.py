"""The bench's stage without a real GlusterFS: gfrpc-only stages outside a private namespace,
the namespace helpers, ``external_target`` parsing, and the overlay's refusal on the host."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gfrpc.bench.experiment import isolation, stage_gfrpc
from gfrpc.bench.experiment.isolation import (
    ENV_HOST_NS,
    ENV_MARKER,
    IsolationError,
    in_private_namespace,
    run_in_namespace,
    secure_access_overlay,
    should_isolate,
)
from gfrpc.bench.experiment.model import ServerSpec
from gfrpc.bench.experiment.stage import Stage, StageError, TargetUnavailable, external_target
from gfrpc.client.volume import Volume
from gfrpc.errors import ConfigError
from gfrpc.testing.realgluster import pid_alive

needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="gfrpc bricks (trusted.* xattrs) need root"
)
PLAIN = ServerSpec("gfrpc", False, "pool", 2)
TLS = ServerSpec("gfrpc", True, "single", 1)
GLUSTERFSD = ServerSpec("glusterfsd", False)


@needs_root
@pytest.mark.timeout(60)
def test_gfrpc_stage_serves_each_target_and_leaves_nothing(tmp_path: Path) -> None:
    """Rule: without isolation or port 24007 a stage runs gfrpc bricks behind a mgmtd on a
    free port, plain and TLS; each Target.url takes a write and a read with gfrpc's client;
    glusterfsd and fio
    are reported missing in one line; after close() the server pids are gone and the
    scratch tree is removed."""
    with Stage(
        [PLAIN, TLS, GLUSTERFSD], scratch_parent=tmp_path, isolated=False, use_port_24007=False
    ) as st:
        assert st.glusterfsd_missing and "\n" not in st.glusterfsd_missing
        assert st.fio_missing and "\n" not in st.fio_missing
        assert st.scratch is not None and st.scratch.is_relative_to(tmp_path)
        pids = []
        for spec in (PLAIN, TLS):
            t = st.target(spec)
            assert t.volname == ("gb-gfrpc-pool-x2" if spec is PLAIN else "gb-gfrpc-single-tls")
            assert t.fio_host is None and t.mgmt_tls_dir is None
            assert (t.tls_dir is not None) == spec.tls
            assert t.brick is not None and t.brick[2].startswith(str(st.scratch))
            pids += t.server_pids
            with Volume.connect(t.url, tls=t.tls_dir, mgmt_tls=t.mgmt_tls_dir, timeout=20) as v:
                v.write_bytes("/probe", b"stage" * 1000)
                assert v.read_bytes("/probe") == b"stage" * 1000
            assert (Path(t.brick[2]) / "probe").stat().st_size == 5000
        with pytest.raises(TargetUnavailable, match="port 24007"):
            st.target(GLUSTERFSD)
        scratch = st.scratch
        started = st.started_pids()
    assert len(pids) == 2 and len(started) == 4 and set(pids) <= set(started)
    assert not any(pid_alive(p) for p in started)
    assert not scratch.exists()
    st.close()  # idempotent


@needs_root
@pytest.mark.timeout(60)
def test_stage_that_fails_half_way_stops_what_it_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rule: when one gfrpc brick does not come up, start() raises StageError naming its log,
    and the mgmtd and the other brick it had started are stopped and the scratch removed."""
    real = stage_gfrpc._brick_args

    def broken(spec: ServerSpec, *a: object, **k: object) -> list[str]:
        args = real(spec, *a, **k)  # type: ignore[arg-type]
        return [*args, "--no-such-option"] if spec.tls else args

    monkeypatch.setattr(stage_gfrpc, "_brick_args", broken)
    st = Stage([PLAIN, TLS], scratch_parent=tmp_path, isolated=False, use_port_24007=False)
    with pytest.raises(StageError, match="gfrpc brick"):
        st.start()
    started = st.started_pids()
    assert len(started) == 4
    assert not any(pid_alive(p) for p in started)
    assert list(tmp_path.iterdir()) == []


def test_external_target_parses_the_url() -> None:
    """Rule: an external volume's Target keeps the URL, names fio's host only on port 24007
    (gfapi has no port option), has no server pids, and a bad URL is a ConfigError."""
    t = external_target("gluster://server1/vol1", tls_dir=Path("/c"), mgmt_tls_dir=None)
    assert (t.url, t.volname, t.fio_host, t.server_pids) == (
        "gluster://server1/vol1",
        "vol1",
        "server1",
        [],
    )
    assert t.tls_dir == Path("/c") and t.spec.tls and t.brick is None
    t = external_target("gluster://127.0.0.2:24007/v", tls_dir=None, mgmt_tls_dir=None)
    assert t.fio_host == "127.0.0.2" and not t.spec.tls
    t = external_target("gluster://[::1]:5000/v", tls_dir=None, mgmt_tls_dir=Path("/m"))
    assert t.fio_host is None and t.mgmt_tls_dir == Path("/m")
    with pytest.raises(ConfigError):
        external_target("http://x/v", tls_dir=None, mgmt_tls_dir=None)


def test_overlay_refuses_outside_the_private_namespace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rule: secure_access_overlay never touches the host: it raises outside the isolated
    namespace, also when only the environment marker claims isolation (the namespaces are
    still the parent's), and leaves the scratch dir and the mount table as they were."""
    mounts = Path("/proc/mounts").read_text()
    with pytest.raises(IsolationError, match="refusing"):
        secure_access_overlay(tmp_path, tmp_path)
    monkeypatch.setenv(ENV_MARKER, "1")
    monkeypatch.setenv(ENV_HOST_NS, isolation._namespaces())
    assert not in_private_namespace()
    with pytest.raises(IsolationError, match="refusing"):
        secure_access_overlay(tmp_path, tmp_path)
    assert list(tmp_path.iterdir()) == []
    assert Path("/proc/mounts").read_text() == mounts
    assert not should_isolate()  # the marker says: already isolated
    monkeypatch.delenv(ENV_MARKER)
    assert not should_isolate(disabled=True)


CHILD = """
import os, signal, socket, sys, time
from pathlib import Path
from gfrpc.bench.experiment.isolation import enter_private_network, in_private_namespace
assert in_private_namespace(), "not isolated"
enter_private_network()
with socket.socket() as srv:
    srv.bind(("127.0.0.9", 24007)); srv.listen()
    socket.create_connection(("127.0.0.9", 24007), timeout=5).close()
signal.signal(signal.SIGTERM, lambda *a: sys.exit(7))
Path(sys.argv[1]).write_text("ready")
time.sleep(60)
"""

PARENT = """
import signal, sys
# a bench started from a terminal: Ctrl-C is not ignored, even if pytest was started with it
# ignored (as by a shell's background job, whose children inherit that)
signal.signal(signal.SIGINT, signal.default_int_handler)
from gfrpc.bench.experiment.isolation import run_in_namespace
sys.exit(run_in_namespace([sys.executable, "-c", sys.argv[1], sys.argv[2]]))
"""


@pytest.mark.skipif(not should_isolate(), reason="needs root and a working unshare")
@pytest.mark.timeout(30)
def test_isolated_child_owns_loopback_and_gets_sigterm(tmp_path: Path) -> None:
    """Rule: run_in_namespace's child knows it is isolated, brings lo up and may bind port
    24007 on 127.x; a SIGTERM to the parent reaches the child, whose exit status the parent
    returns."""
    ready = tmp_path / "ready"
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, CHILD, str(ready)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 20
    while not ready.exists():
        assert parent.poll() is None, parent.communicate()[0].decode()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    parent.send_signal(signal.SIGTERM)
    out, _ = parent.communicate(timeout=20)
    assert parent.returncode == 7, out.decode()


@pytest.mark.skipif(not should_isolate(), reason="needs root and a working unshare")
@pytest.mark.timeout(30)
def test_run_in_namespace_returns_the_exit_status() -> None:
    """Rule: run_in_namespace returns the child's exit status (a failed check inside is
    visible to the caller)."""
    assert run_in_namespace([sys.executable, "-c", "raise SystemExit(3)"]) == 3


STAGE_CHILD = """
import json, sys, time
from pathlib import Path
from gfrpc.bench.experiment.model import ServerSpec
from gfrpc.bench.experiment.stage import Stage
with Stage([ServerSpec("gfrpc", False, "pool", 2)], want_fio=False) as st:
    pids = st.started_pids()
    Path(sys.argv[1]).write_text(json.dumps({"pids": pids, "scratch": str(st.scratch)}))
    time.sleep(60)
"""


@pytest.mark.skipif(not should_isolate(), reason="needs root and a working unshare")
@pytest.mark.timeout(60)
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_to_the_bench_stops_the_isolated_stage(tmp_path: Path, sig: int) -> None:
    """Rule: a Ctrl-C (SIGINT) or SIGTERM sent to the parent of an isolated run reaches the
    stage in the namespace, which stops its servers by pid and removes its private tmpfs
    scratch tree before exiting with 128 + the signal."""
    ready = tmp_path / "ready.json"
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, STAGE_CHILD, str(ready)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 45
    while not ready.exists() or not ready.read_text():
        assert parent.poll() is None, parent.communicate()[0].decode()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    seen = json.loads(ready.read_text())
    assert len(seen["pids"]) == 2 and all(pid_alive(p) for p in seen["pids"])
    parent.send_signal(sig)
    out, _ = parent.communicate(timeout=40)
    assert parent.returncode == 128 + sig, out.decode()
    assert not any(pid_alive(p) for p in seen["pids"])
    assert not Path(seen["scratch"]).exists()


@pytest.mark.timeout(30)
def test_close_finishes_its_cleanup_when_interrupted(tmp_path: Path) -> None:
    """Rule: a Ctrl-C (SIGINT) during close() or a failing cleanup step does not stop the later
    steps: the scratch tree is still removed, then the interrupt is raised."""
    before = signal.getsignal(signal.SIGINT)
    st = Stage([], scratch_parent=tmp_path, isolated=False, use_port_24007=False, want_fio=False)
    st.start()
    assert st.scratch is not None and st.scratch.exists()

    def interrupted_stop() -> None:
        os.kill(os.getpid(), signal.SIGINT)
        raise RuntimeError("a cleanup step failed")

    st._gfrpc.stop = interrupted_stop  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        st.close()
    assert not st.scratch.exists()
    assert signal.getsignal(signal.SIGINT) is before
