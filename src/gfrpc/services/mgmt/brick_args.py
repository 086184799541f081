"""A volume's options as the command line of its ``gfrpc brick`` processes.

glusterd writes a brick volfile from the volume's options and starts glusterfsd on it; a gfrpc
brick takes the same settings as flags. The server-side keys map one to one:

=================================  ===============================================
``server.ssl on``                  ``--tls`` (``--tls-dir`` the daemon's TLS directory)
``auth.ssl-allow LIST``            ``--ssl-allow LIST`` (with ``server.ssl`` only, as in
                                   GlusterFS, where it means nothing without TLS)
``auth.allow LIST``                ``--allow LIST`` (``*``, the default, is left out)
``server.event-threads N``         ``--event-threads N``
``server.outstanding-rpc-limit N`` ``--outstanding-rpc-limit N``
``gfrpc.server.poller NAME``       ``--poller NAME``
``gfrpc.io-threads N``             ``--io-threads N``
``gfrpc.io-policy slow|all``       ``--io-policy slow|all``
``gfrpc.baton on|off``             ``--baton on|off``
=================================  ===============================================

Client-side keys (``client.ssl``, ``client.event-threads``, the timeouts) go to the client
volfile, not here. Values were checked by ``volume set``; a value that is still not what the
flag takes is a :class:`VolumeStateError` (the brick would refuse to start).

The other way round, :func:`is_brick_process` reads a running process's command line to tell
whether it is a brick serving a given path (how a restarted daemon adopts its bricks).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

from gfrpc.services.mgmt.state import Brick, Volume, VolumeStateError
from gfrpc.services.mgmt.volopts import normalize_bool

__all__ = [
    "FLAG_OF",
    "brick_argv",
    "brick_cmdline",
    "flag_value",
    "flag_values",
    "is_brick_process",
]

#: volume key -> the ``gfrpc brick`` flag that takes its value as is
FLAG_OF: Final[Mapping[str, str]] = {
    "server.event-threads": "--event-threads",
    "server.outstanding-rpc-limit": "--outstanding-rpc-limit",
    "gfrpc.server.poller": "--poller",
    "gfrpc.io-threads": "--io-threads",
    "gfrpc.io-policy": "--io-policy",
    "gfrpc.baton": "--baton",
    "auth.allow": "--allow",
}
_INTEGER_KEYS: Final = frozenset(
    {"server.event-threads", "server.outstanding-rpc-limit", "gfrpc.io-threads"}
)


def _flag(options: Mapping[str, str], key: str) -> bool:
    value = options.get(key)
    if value is None:
        return False
    on = normalize_bool(value)
    if on is None:
        raise VolumeStateError(f"option {key}: '{value}' is not a valid boolean value")
    return on


def flag_values(options: Mapping[str, str]) -> list[str]:
    """The flags for the server-side options of ``options`` (see the module table)."""
    argv: list[str] = []
    for key, flag in FLAG_OF.items():
        value = options.get(key)
        if value is None or (key == "auth.allow" and value.strip() == "*"):
            continue
        value = value.strip()
        if key in _INTEGER_KEYS:
            try:
                value = str(int(value, 0))
            except ValueError:
                raise VolumeStateError(f"option {key}: '{value}' is not a number") from None
        argv += [flag, value]
    return argv


def brick_argv(
    volume: Volume,
    brick: Brick,
    *,
    port: int,
    mgmt_address: str,
    tls_dir: str | Path | None = None,
    host: str | None = None,
    mgmt_tls: bool = False,
) -> list[str]:
    """The arguments of ``gfrpc brick`` for ``brick`` of ``volume`` on ``port``, signing in at
    ``mgmt_address`` (over TLS with ``mgmt_tls``: the brick then needs ``server.ssl on``, as
    it signs in with its own TLS identity); the command itself is not included."""
    opts = volume.options
    argv = [
        "--dir",
        os.path.normpath(brick.path),
        "--port",
        str(port),
        "--volname",
        volume.name,
        "--volume-id",
        str(volume.volume_id),
        "--mgmt",
        mgmt_address,
    ]
    if host is not None:
        argv += ["--host", host]
    argv += flag_values(opts)
    if _flag(opts, "server.ssl"):
        argv.append("--tls")
        if tls_dir is not None:
            argv += ["--tls-dir", str(tls_dir)]
        allow = opts.get("auth.ssl-allow", "").strip()
        if allow and allow != "*":
            argv += ["--ssl-allow", allow]
        if mgmt_tls:
            argv.append("--mgmt-tls")
    elif mgmt_tls:
        raise VolumeStateError(
            f"volume {volume.name}: the management port uses TLS, so its bricks need "
            "server.ssl on to sign in"
        )
    return argv


def brick_cmdline(pid: int) -> list[str]:
    """The command line of process ``pid`` (empty when it is gone)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def flag_value(argv: Sequence[str], flag: str) -> str | None:
    """The value given to ``flag`` in ``argv`` (``--flag V`` or ``--flag=V``), or None."""
    for i, a in enumerate(argv):
        if a == flag and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith(flag + "="):
            return a[len(flag) + 1 :]
    return None


def is_brick_process(pid: int, path: str) -> bool:
    """True when process ``pid`` is a gfrpc brick serving ``path`` (by its command line)."""
    argv = brick_cmdline(pid)
    served = flag_value(argv, "--dir")
    return (
        any(os.path.basename(a).endswith("brick") or "brick" in a for a in argv)
        and served is not None
        and os.path.normpath(served) == os.path.normpath(path)
    )
