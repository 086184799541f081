"""The volume options ``volume set`` accepts, their checks, and where each one goes.

Theory of operation. glusterd knows an option by its *volume key* (``network.ping-timeout``),
which names the translator it configures (``protocol/client``) and the option there
(``ping-timeout``; ``client.ssl`` becomes ``transport.socket.ssl-enabled``). ``volume set``
checks the value with the translator option's type and range (libglusterfs ``options.c``), and
the error texts below are its texts, with the translator's option name in them, as glusterd
prints them. A key glusterd does not know is "option : KEY does not exist"; gfrpc knows only
the keys in :data:`OPTIONS`, and its own knobs live under the ``gfrpc.`` prefix.

Ranges and defaults are those of GlusterFS 10.3: ``protocol/client`` (frame-timeout 0..86400,
ping-timeout 0..1013, event-threads 1..32), ``protocol/server`` (event-threads 1..1024,
``rpc.outstanding-rpc-limit`` 0..65536), ``transport.socket.ssl-enabled`` a boolean.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

__all__ = [
    "OPTIONS",
    "VolumeOption",
    "OptionError",
    "check_option",
    "normalize_bool",
    "client_options",
    "graph_xlators",
    "BOOL_WORDS",
    "MAX_VALUE",
]

#: gf_string2boolean's words (case does not matter)
BOOL_WORDS: Final = {
    "1": True,
    "on": True,
    "yes": True,
    "true": True,
    "enable": True,
    "0": False,
    "off": False,
    "no": False,
    "false": False,
    "disable": False,
}
_TIME = re.compile(r"(\d+)\s*(s|sec|m|min|h|hr|d|days?|w|wk)?", re.IGNORECASE)
_TIME_UNIT = {"": 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600}
_TIME_UNIT |= {"d": 86400, "day": 86400, "days": 86400, "w": 604800, "wk": 604800}


#: the longest value gfrpc stores (glusterd takes any; a CN list or address list fits)
MAX_VALUE: Final = 4096


class OptionError(ValueError):
    """A refused ``volume set``: ``str(e)`` is the message glusterd prints."""


@dataclass(frozen=True)
class VolumeOption:
    """One settable key: the translator it configures, the option name there, its type
    (``bool``, ``int``, ``time``, ``str``, ``choice``), range or choices, and default."""

    key: str
    #: "client", "server", "gfrpc" (the brick process) or "graph" (a client translator that
    #: the volume's client graph has or not; ``option`` is its name suffix there)
    xlator: str
    option: str
    kind: str
    default: str
    low: int = 0
    high: int = 0
    choices: tuple[str, ...] = ()


OPTIONS: Final[Mapping[str, VolumeOption]] = {
    o.key: o
    for o in (
        VolumeOption("client.ssl", "client", "transport.socket.ssl-enabled", "bool", "off"),
        VolumeOption("server.ssl", "server", "transport.socket.ssl-enabled", "bool", "off"),
        VolumeOption("auth.ssl-allow", "server", "ssl-allow", "str", "*"),
        VolumeOption("auth.allow", "server", "allow", "str", "*"),
        VolumeOption("client.event-threads", "client", "event-threads", "int", "2", 1, 32),
        VolumeOption("server.event-threads", "server", "event-threads", "int", "2", 1, 1024),
        VolumeOption("network.ping-timeout", "client", "ping-timeout", "time", "42", 0, 1013),
        VolumeOption("network.frame-timeout", "client", "frame-timeout", "time", "1800", 0, 86400),
        VolumeOption(
            "server.outstanding-rpc-limit",
            "server",
            "rpc.outstanding-rpc-limit",
            "int",
            "64",
            0,
            65536,
        ),
        # the client-side translators glusterd stacks above DHT (volgen), on by default but
        # features.ctime: the gfrpc brick keeps no ctime metadata (trusted.glusterfs.mdata), so
        # utime would follow every LOOKUP of a file by a SETXATTR that cannot make it
        VolumeOption("features.ctime", "graph", "utime", "bool", "off"),
        VolumeOption("performance.write-behind", "graph", "write-behind", "bool", "on"),
        VolumeOption("performance.open-behind", "graph", "open-behind", "bool", "on"),
        VolumeOption("performance.quick-read", "graph", "quick-read", "bool", "on"),
        VolumeOption("performance.stat-prefetch", "graph", "md-cache", "bool", "on"),
        VolumeOption("performance.client-io-threads", "graph", "io-threads", "bool", "on"),
        VolumeOption(
            "gfrpc.server.poller",
            "gfrpc",
            "poller",
            "choice",
            "sharded",
            choices=("single", "own-thread", "pool", "sharded"),
        ),
        VolumeOption("gfrpc.io-threads", "gfrpc", "io-threads", "int", "16", 0, 1024),
        VolumeOption(
            "gfrpc.io-policy", "gfrpc", "io-policy", "choice", "slow", choices=("slow", "all")
        ),
        VolumeOption("gfrpc.baton", "gfrpc", "baton", "choice", "on", choices=("on", "off")),
    )
}


def normalize_bool(value: str) -> bool | None:
    """The boolean a GlusterFS option value means, or None when it is not one."""
    return BOOL_WORDS.get(value.strip().lower())


def _unknown(key: str) -> OptionError:
    text = f"option : {key} does not exist"
    near = difflib.get_close_matches(key, list(OPTIONS), n=1, cutoff=0.6)
    if near:
        text += f"\nDid you mean {near[0]}?"
    return OptionError(text)


def check_option(key: str, value: str) -> str:
    """The value to store for ``key`` (as given, trimmed), or :class:`OptionError` with
    glusterd's message for an unknown key or a value the option's type refuses."""
    opt = OPTIONS.get(key)
    if opt is None:
        raise _unknown(key[:MAX_VALUE])
    name, v = opt.option, value.strip()
    if len(v) > MAX_VALUE:
        raise OptionError(f"option {name}: a value of {len(v)} characters is too long")
    if opt.kind == "bool":
        if normalize_bool(v) is None:
            raise OptionError(f"option {name} {v}: '{v}' is not a valid boolean value")
    elif opt.kind == "int":
        try:
            n = int(v, 0)
        except ValueError:
            raise OptionError(f'invalid number format "{v}" in option "{name}"') from None
        if not opt.low <= n <= opt.high:
            raise OptionError(
                f"'{n}' in 'option {name} {v}' is out of range [{opt.low} - {opt.high}]"
            )
    elif opt.kind == "time":
        m = _TIME.fullmatch(v)
        if m is None:
            raise OptionError(f'invalid time format "{v}" in "option {name}"')
        n = int(m.group(1)) * _TIME_UNIT[(m.group(2) or "").lower()]
        if not opt.low <= n <= opt.high:
            raise OptionError(
                f"'{n}' in 'option {name} {v}' is out of range [{opt.low} - {opt.high}]"
            )
    elif opt.kind == "choice" and v not in opt.choices:
        raise OptionError(
            f"option {name} {v}: '{v}' is not valid (possible options are "
            f"{', '.join(opt.choices)}.)"
        )
    return v


def time_seconds(value: str) -> int:
    """Seconds of a time option value already checked by :func:`check_option`."""
    m = _TIME.fullmatch(value.strip())
    return int(m.group(1)) * _TIME_UNIT[(m.group(2) or "").lower()] if m else 0


def client_options(options: Mapping[str, str]) -> dict[str, str]:
    """The ``protocol/client`` options a client volfile carries for the volume's options set
    (booleans written ``on``/``off``, times in seconds), in the order they were set."""
    out: dict[str, str] = {}
    for key, value in options.items():
        opt = OPTIONS.get(key)
        if opt is None or opt.xlator != "client":
            continue
        if opt.kind == "bool":
            out[opt.option] = "on" if normalize_bool(value) else "off"
        elif opt.kind == "time":
            out[opt.option] = str(time_seconds(value))
        else:
            out[opt.option] = value
    return out


def graph_xlators(options: Mapping[str, str]) -> set[str]:
    """The client translators (name suffixes) a volume's client graph stacks above DHT: each
    ``graph`` option that is not set off."""
    return {
        o.option
        for o in OPTIONS.values()
        if o.xlator == "graph" and normalize_bool(options.get(o.key, o.default)) is not False
    }
