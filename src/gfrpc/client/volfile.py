"""GlusterFS volfiles: parse the graph text, find the bricks, say what kind of volume it is.

Theory of operation (facts about GlusterFS 10.3's volfile reader, libglusterfs graph.l/graph.y):

* The text is a stream of whitespace-separated tokens, not lines. ``#`` starts a comment that
  runs to the end of the line, anywhere. A token in double quotes may hold blanks; inside it a
  backslash takes the next character literally.
* The keywords are lower case: ``volume NAME``, ``type TYPE``, ``option KEY VALUE`` (exactly
  one token each), ``subvolumes A B ...`` (also spelled ``subvolumeS``) and ``end-volume``.
  A ``type`` line is mandatory; options may come before and after ``subvolumes``.
* A subvolume must be defined *before* the volume that names it, and a volume cannot be its
  own child; names are unique. The **last** volume defined is the top of the graph (FUSE or
  gfapi stacks itself on it).
* Option values are kept as text; booleans are read like ``gf_string2boolean``
  (1/on/yes/true/enable, 0/off/no/false/disable, any case).

glusterd (volgen) writes one ``protocol/client`` xlator per brick named ``VOL-client-N``, a
``cluster/distribute`` xlator ``VOL-dht`` over them (even for one brick), ``cluster/replicate``
(``VOL-replicate-N``) or ``cluster/disperse`` (``VOL-disperse-N``) groups in between for
replicated or dispersed volumes, then performance xlators and ``debug/io-stats`` named VOL on
top. gfrpc implements a single brick and plain distribute only; ``check_supported`` says so
clearly for anything else.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from gfrpc.errors import ConfigError

__all__ = [
    "BrickSpec",
    "Volfile",
    "Xlator",
    "check_supported",
    "client_bricks",
    "distribute_layout_order",
    "parse",
    "parse_bool",
    "render",
    "volume_type",
]

#: xlator type aliases that GlusterFS accepts (the xlator .so names are symlinked)
TYPE_ALIASES = {
    "cluster/dht": "cluster/distribute",
    "cluster/afr": "cluster/replicate",
    "cluster/ec": "cluster/disperse",
}
DISTRIBUTE_TYPES = frozenset({"cluster/distribute", "cluster/nufa", "cluster/switch"})
#: cluster xlator -> the volume-type word used by ``volume_type``
CLUSTER_KINDS = {
    "cluster/distribute": "distribute",
    "cluster/nufa": "nufa",
    "cluster/switch": "switch",
    "cluster/replicate": "replicate",
    "cluster/disperse": "disperse",
    "cluster/stripe": "stripe",
}
#: xlators that change where file data lives; a client that ignores them reads wrong data
PLACEMENT_FEATURES = frozenset({"features/shard", "features/cloudsync"})
SUPPORTED_TYPES = frozenset({"plain", "distribute"})

_TRUE = frozenset({"1", "on", "yes", "true", "enable"})
_FALSE = frozenset({"0", "off", "no", "false", "disable"})


def parse_bool(value: str, *, what: str = "option") -> bool:
    """A GlusterFS boolean (``gf_string2boolean``); anything else is a ``ConfigError``."""
    v = value.lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise ConfigError(f"{what}: {value!r} is not a boolean (on/off, yes/no, true/false, 1/0)")


@dataclass
class Xlator:
    """One ``volume ... end-volume`` block."""

    name: str
    type: str
    options: dict[str, str] = field(default_factory=dict)
    subvolumes: list[str] = field(default_factory=list)

    @property
    def canonical_type(self) -> str:
        """``type`` with GlusterFS's aliases resolved (cluster/dht -> cluster/distribute)."""
        return TYPE_ALIASES.get(self.type, self.type)


@dataclass
class Volfile:
    """A parsed graph: ``volumes`` in definition order; the last one is the top."""

    volumes: list[Xlator] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._by_name = {x.name: x for x in self.volumes}

    def __getitem__(self, name: str) -> Xlator:
        try:
            return self._by_name[name]
        except KeyError:
            raise ConfigError(f"volfile has no volume named {name!r}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    @property
    def top(self) -> Xlator:
        """The top xlator: the last volume defined (where FUSE/gfapi attach)."""
        if not self.volumes:
            raise ConfigError("volfile defines no volume")
        return self.volumes[-1]

    def children(self, xl: Xlator) -> list[Xlator]:
        return [self[n] for n in xl.subvolumes]

    def walk(self, start: Xlator | None = None) -> Iterator[Xlator]:
        """The xlators reachable from ``start`` (default: top), depth first, each once."""
        seen: set[str] = set()
        stack = [start or self.top]
        while stack:
            xl = stack.pop()
            if xl.name in seen:
                continue
            seen.add(xl.name)
            yield xl
            stack.extend(reversed(self.children(xl)))


# --------------------------------------------------------------------------------------------
# parsing and rendering

_KEYWORDS = ("volume", "type", "option", "subvolumes", "subvolumeS", "end-volume")


def _tokens(text: str) -> Iterator[tuple[str, bool, int]]:
    """(token, quoted, line) triples, following graph.l's rules."""
    i, n, line = 0, len(text), 1
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
        elif c in " \t\r":
            i += 1
        elif c == "#":
            while i < n and text[i] != "\n":
                i += 1
        elif c == '"':
            start_line, i, out = line, i + 1, []
            while True:
                if i >= n or text[i] == "\n":
                    raise ConfigError(f"volfile line {start_line}: unterminated quoted string")
                if text[i] == '"':
                    i += 1
                    break
                if text[i] == "\\" and i + 1 < n and text[i + 1] != "\n":
                    i += 1
                out.append(text[i])
                i += 1
            yield "".join(out), True, start_line
        elif c == "\\":
            raise ConfigError(f"volfile line {line}: stray backslash")
        else:
            j = i
            while j < n and text[j] not in ' \t\r\n"\\':
                j += 1
            yield text[i:j], False, line
            i = j


def parse(text: str) -> Volfile:
    """Parse volfile text into a ``Volfile``; any syntax or reference error is a ConfigError."""
    volumes: list[Xlator] = []
    names: set[str] = set()
    toks = list(_tokens(text))
    pos = 0

    def take(what: str, line: int) -> str:
        nonlocal pos
        if pos >= len(toks) or (not toks[pos][1] and toks[pos][0] in _KEYWORDS):
            raise ConfigError(f"volfile line {line}: {what} expected")
        pos += 1
        return toks[pos - 1][0]

    while pos < len(toks):
        word, quoted, line = toks[pos]
        pos += 1
        if quoted or word != "volume":
            raise ConfigError(f"volfile line {line}: expected 'volume NAME', got {word!r}")
        xl = Xlator(name=take("a volume name after 'volume'", line), type="")
        if xl.name in names:
            raise ConfigError(f"volfile line {line}: volume {xl.name!r} defined again")
        while True:
            if pos >= len(toks):
                raise ConfigError(f"volfile: volume {xl.name!r} has no 'end-volume'")
            word, quoted, line = toks[pos]
            pos += 1
            if quoted or word not in _KEYWORDS:
                raise ConfigError(f"volfile line {line}: unexpected {word!r} in volume {xl.name!r}")
            if word == "end-volume":
                break
            if word == "volume":
                raise ConfigError(
                    f"volfile line {line}: 'volume' inside volume {xl.name!r} "
                    "(missing 'end-volume')"
                )
            if word == "type":
                if xl.type:
                    raise ConfigError(f"volfile line {line}: second 'type' in volume {xl.name!r}")
                xl.type = take("an xlator type after 'type'", line)
            elif word == "option":
                key = take("an option name", line)
                value = take(f"a value for option {key!r}", line)
                if key in xl.options:
                    raise ConfigError(
                        f"volfile line {line}: duplicate 'option {key}' in volume {xl.name!r}"
                    )
                xl.options[key] = value
            else:  # subvolumes
                start = pos
                while pos < len(toks) and (toks[pos][1] or toks[pos][0] not in _KEYWORDS):
                    sub = toks[pos][0]
                    if sub == xl.name:
                        raise ConfigError(
                            f"volfile line {line}: volume {sub!r} has itself as subvolume"
                        )
                    if sub not in names:
                        raise ConfigError(
                            f"volfile line {line}: subvolume {sub!r} of volume "
                            f"{xl.name!r} is not defined before it is used"
                        )
                    xl.subvolumes.append(sub)
                    pos += 1
                if pos == start:
                    raise ConfigError(f"volfile line {line}: 'subvolumes' without names")
        if not xl.type:
            raise ConfigError(f"volfile: volume {xl.name!r} has no 'type'")
        volumes.append(xl)
        names.add(xl.name)
    if not volumes:
        raise ConfigError("volfile defines no volume")
    return Volfile(volumes)


def _quote(token: str) -> str:
    if token and not any(c in token for c in ' \t\r\n"\\#') and token not in _KEYWORDS:
        return token
    if "\n" in token:
        raise ConfigError(f"volfile token {token!r} cannot contain a newline")
    return '"' + token.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render(volfile: Volfile) -> str:
    """Volfile text in glusterd's layout; ``parse(render(v))`` gives ``v`` back."""
    out: list[str] = []
    for xl in volfile.volumes:
        out.append(f"volume {_quote(xl.name)}")
        out.append(f"    type {_quote(xl.type)}")
        out += [f"    option {_quote(k)} {_quote(v)}" for k, v in xl.options.items()]
        if xl.subvolumes:
            out.append("    subvolumes " + " ".join(_quote(s) for s in xl.subvolumes))
        out += ["end-volume", ""]
    return "\n".join(out)


# --------------------------------------------------------------------------------------------
# what the graph means


@dataclass(frozen=True)
class BrickSpec:
    """Where one ``protocol/client`` xlator connects.

    ``remote_port`` None means: ask glusterd (24007) with PMAP PORTBYBRICK(remote_subvolume).
    ``transport`` holds the xlator's transport options (``transport*``, ``ssl-*``,
    ``ping-timeout``...) as written; ``ssl_enabled`` and ``address_family`` are read from them.
    """

    name: str
    remote_host: str | None
    remote_port: int | None
    remote_subvolume: str
    transport: dict[str, str]
    ssl_enabled: bool = False
    address_family: str | None = None


_PORT_KEYS = ("remote-port", "transport.remote-port", "transport.socket.remote-port")
_SSL_KEYS = ("transport.socket.ssl-enabled", "client.ssl")
_FAMILY_KEYS = ("transport.address-family", "address-family")
_TRANSPORT_PREFIXES = (
    "transport",
    "ssl-",
    "address-family",
    "ping-timeout",
    "frame-timeout",
    "client.ssl",
    "remote-port",
)


def _brick(xl: Xlator) -> BrickSpec:
    opts = xl.options
    sub = opts.get("remote-subvolume")
    if not sub:
        raise ConfigError(f"volfile: client {xl.name!r} has no 'option remote-subvolume'")
    port: int | None = None
    for key in _PORT_KEYS:
        if key in opts:
            try:
                port = int(opts[key], 0)
            except ValueError:
                raise ConfigError(
                    f"volfile: client {xl.name!r}: {key} {opts[key]!r} is not a port number"
                ) from None
            if not 0 < port < 65536:
                raise ConfigError(f"volfile: client {xl.name!r}: {key} {port} out of range")
            break
    ssl = False
    for key in _SSL_KEYS:
        if key in opts:
            ssl = parse_bool(opts[key], what=f"client {xl.name!r} option {key}")
            break
    family = next((opts[k] for k in _FAMILY_KEYS if k in opts), None)
    transport = {k: v for k, v in opts.items() if k.startswith(_TRANSPORT_PREFIXES)}
    return BrickSpec(
        name=xl.name,
        remote_host=opts.get("remote-host"),
        remote_port=port,
        remote_subvolume=sub,
        transport=transport,
        ssl_enabled=ssl,
        address_family=family,
    )


def client_bricks(volfile: Volfile) -> list[BrickSpec]:
    """The ``protocol/client`` xlators under the top, in definition order, as ``BrickSpec``s."""
    used = {xl.name for xl in volfile.walk()}
    return [
        _brick(xl)
        for xl in volfile.volumes
        if xl.name in used and xl.canonical_type == "protocol/client"
    ]


def has_xlator(volfile: Volfile, xlator_type: str) -> bool:
    """Whether the graph below its top has a translator of ``xlator_type`` (such as
    ``performance/quick-read``, which ``volume set ... performance.quick-read off`` drops)."""
    return any(xl.canonical_type == xlator_type for xl in volfile.walk())


def client_options(volfile: Volfile) -> dict[str, bool]:
    """What gfrpc's ``Volume`` takes from the graph besides its bricks (keyword arguments):
    ``quick_read``, whether it has quick-read; ``lookup_optimize``, DHT's option of that name
    (default on, as in GlusterFS; ``volume set V cluster.lookup-optimize off``)."""
    optimize = True
    for xl in volfile.walk():
        if xl.canonical_type in DISTRIBUTE_TYPES and "lookup-optimize" in xl.options:
            optimize = parse_bool(xl.options["lookup-optimize"], what="lookup-optimize")
    return {
        "quick_read": has_xlator(volfile, "performance/quick-read"),
        "lookup_optimize": optimize,
    }


def _cluster_xlators(volfile: Volfile) -> list[Xlator]:
    return [xl for xl in volfile.walk() if xl.canonical_type.startswith("cluster/")]


def volume_type(volfile: Volfile) -> str:
    """What kind of volume the graph is.

    ``plain``: no cluster xlator (one client, e.g. a hand-written volfile); ``distribute``: a
    DHT (or nufa/switch as ``nufa``/``switch``) whose children are all clients (glusterd's
    one-brick volumes are this too); ``replicate``/``disperse``/``stripe``: such groups, with
    the prefix ``distributed-`` when a DHT spreads over more than one group; other ``cluster/*``
    types are returned as their xlator name without ``cluster/``.
    """
    clusters = _cluster_xlators(volfile)
    if not clusters:
        return "plain"
    kinds = [
        CLUSTER_KINDS.get(xl.canonical_type, xl.canonical_type.split("/", 1)[1]) for xl in clusters
    ]
    inner = [k for k in kinds if k not in ("distribute", "nufa", "switch")]
    if not inner:
        return kinds[0]
    dht = [xl for xl in clusters if xl.canonical_type in DISTRIBUTE_TYPES]
    spread = any(len(xl.subvolumes) > 1 for xl in dht)
    return ("distributed-" if spread else "") + inner[0]


def distribute_layout_order(volfile: Volfile) -> list[str]:
    """Client subvolume names in the DHT's ``subvolumes`` order (or the single client).

    This is DHT's subvolume index order (``conf->subvolumes``). Note that GlusterFS assigns
    hash ranges of a *new* directory after sorting the subvolumes by name (see dht.py).
    """
    kind = volume_type(volfile)
    if kind == "plain":
        clients = [b.name for b in client_bricks(volfile)]
        if len(clients) != 1:
            raise ConfigError(
                f"volfile without a cluster xlator has {len(clients)} clients; expected exactly one"
            )
        return clients
    if kind != "distribute":
        raise ConfigError(f"volfile describes a {kind} volume: no plain distribute layout")
    dht = next(xl for xl in _cluster_xlators(volfile) if xl.canonical_type in DISTRIBUTE_TYPES)
    for child in volfile.children(dht):
        if child.canonical_type != "protocol/client":
            raise ConfigError(
                f"DHT {dht.name!r} has a {child.type} child {child.name!r}; gfrpc "
                "supports only protocol/client children"
            )
    return list(dht.subvolumes)


def check_supported(volfile: Volfile) -> str:
    """Return ``volume_type`` if gfrpc can serve it, else raise a ConfigError naming the type."""
    kind = volume_type(volfile)
    if kind not in SUPPORTED_TYPES:
        raise ConfigError(
            f"unsupported volume type {kind!r} (top volume {volfile.top.name!r}): "
            "gfrpc implements only plain (one brick) and plain distribute volumes"
        )
    features = sorted({xl.type for xl in volfile.walk() if xl.canonical_type in PLACEMENT_FEATURES})
    if features:
        raise ConfigError(
            f"unsupported xlator {features[0]!r} in the volfile: it changes where "
            "file data is stored, and gfrpc does not implement it"
        )
    if kind == "distribute":
        distribute_layout_order(volfile)  # raises for non-client children
    return kind
