"""DHT placement: which brick of a plain distribute volume holds a name.

Facts about GlusterFS 10.3's cluster/distribute (DHT), checked against a real volume by
tests/interop/test_dht_interop.py:

**The hash.** A 32-bit Davies-Meyer construction (``gf_dm_hashfn``, libglusterfs) over the
*basename's bytes without its NUL*. The name is cut into 16-byte blocks of four 32-bit words
read in host order (little-endian on x86); each full block is folded into the state (h0, h1)
with 6 rounds of a TEA-like mix (delta 0x9E3779B9); then one final block with 10 rounds: the
remaining whole words, then one word that starts as the *pad* (the length byte repeated four
times) into which the trailing 1-3 bytes are shifted one by one, then pad words. The trailing
bytes are C ``char``, which is signed on x86: a byte >= 0x80 is OR-ed in as 0xFFFFFFxx. This
is why names ending in non-ASCII UTF-8 hash the way they do. The result is ``h0 ^ h1``.

**Name munging.** Before hashing, DHT tries ``extra-hash-regex`` (no default), then
``rsync-hash-regex`` (default ``^\\.(.+)\\.[^.]+$``): when the regex matches and its first group
matched, that group is hashed instead, so rsync's temporary ``.name.XXXXXX`` lands where
``name`` will. The default is "starts with a dot and has a later dot followed by a non-empty
tail without dots": ``.foo.AbC123`` hashes as ``foo``, ``.a.b.c`` as ``a.b``, ``.bashrc`` and
``..x`` stay as they are. The value ``none`` turns a regex off.

**The layout.** Every directory on every brick carries the xattr ``trusted.glusterfs.dht``:
16 bytes, four big-endian u32 words ``commit_hash, hash_type, start, stop``. hash_type 0 is
the DM hash, 1 is "DM, set by a user" (kept as is by rebalance/fix-layout); anything else is
invalid. A name belongs to the brick whose ``start <= hash <= stop`` (inclusive, first match
in subvolume order). A brick given no range has ``start = stop = 0``, which also "contains"
hash 0, exactly as in GlusterFS's ``dht_layout_search``. ``commit_hash`` is the volume's commit
hash when the directory was laid out (from the root's ``trusted.glusterfs.dht.commithash``,
written by rebalance; 0 on a volume never rebalanced) for a directory made by mkdir, or 1
(``DHT_LAYOUT_HASH_INVALID``) when ``lookup-optimize`` is off or self-heal wrote the layout (as
for the root of a new volume, laid out by the first mount); a client only uses it to decide
whether a miss on the hashed brick is final (lookup-optimize), never for placement.

**New directories.** On mkdir, DHT sorts the subvolumes by xlator *name* (``strcmp``, so
``v-client-10`` sorts before ``v-client-2``), picks the first one to receive a range as
``dm_hash(path) % count`` (the path from the volume root, e.g. ``/dir/sub``; or the gfid text
with ``randomize-hash-range-by-gfid``) and hands out consecutive ranges of the 32-bit space
from there around the circle; the last one given a range ends at 0xFFFFFFFF. Each range is
``chunk * weight`` truncated to an integer, ``chunk = 0xFFFFFFFF / total_weight`` in double
precision. With ``weighted-rebalance`` (the default) a brick's weight is its size in 1 MiB
chunks (statfs ``ceil(f_blocks / ((1 << 20) // f_bsize))``, the brick dividing ``f_blocks`` by
its ``shared-brick-count``); without it, or when any size is unknown, every weight is 1.
Because ranges depend on brick sizes, on history (added bricks, fix-layout) and on user-set
layouts, **a client must read each directory's layout from the bricks** and only compute one
when it creates a directory itself.

**Linkto files.** When a file does not live on its hashed brick (renamed, brick full, moved by
rebalance), the hashed brick holds a *linkto* file: a zero-length regular file whose
permission bits are exactly ``S_ISVTX`` (mode 01000) and which carries the xattr
``trusted.glusterfs.dht.linkto`` = the NUL-terminated name of the DHT subvolume (client xlator
name, e.g. ``vol-client-2``) that has the data. On lookup a client hashes the name, looks it up
on the hashed brick, and if it finds a linkto file looks the name up again on the named
subvolume (same gfid). If the hashed brick has nothing, DHT (lookup-optimize off or commit
hashes differing) looks the name up on every brick ("lookup everywhere"). With
``lookup-optimize`` on and the directory's merged commit hash (:func:`merged_commit_hash`)
equal to the volume's (:func:`parse_commit_hash` of the root's xattr, 0 when absent), the
hashed brick's miss is final. Linkto files are
never shown in listings: readdir takes each name only from the brick where it is not a linkto
file (DHT also skips directory entries except from the first subvolume).
"""

from __future__ import annotations

import functools
import re
import stat
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gfrpc.errors import GfrpcError

__all__ = [
    "DEFAULT_RSYNC_HASH_REGEX",
    "HASH_TYPE_DM",
    "HASH_TYPE_DM_USER",
    "LAYOUT_HASH_INVALID",
    "LAYOUT_XATTR",
    "LINKTO_XATTR",
    "COMMITHASH_XATTR",
    "LayoutError",
    "LayoutRange",
    "brick_chunks",
    "dm_hash",
    "encode_layout",
    "hash_name",
    "is_linkto",
    "linkto_target",
    "merged_commit_hash",
    "munge_name",
    "new_directory_layouts",
    "parse_commit_hash",
    "parse_layout",
    "pick_subvolume",
]

LAYOUT_XATTR = "trusted.glusterfs.dht"
LINKTO_XATTR = "trusted.glusterfs.dht.linkto"
COMMITHASH_XATTR = "trusted.glusterfs.dht.commithash"
HASH_TYPE_DM = 0
HASH_TYPE_DM_USER = 1
LAYOUT_HASH_INVALID = 1
LINKFILE_MODE = stat.S_ISVTX
DEFAULT_RSYNC_HASH_REGEX = r"^\.(.+)\.[^.]+$"

_M32 = 0xFFFFFFFF
_DELTA = 0x9E3779B9
_LAYOUT = struct.Struct(">4I")


class LayoutError(GfrpcError):
    """A directory layout xattr is malformed, or a layout has no range for a hash."""


# --------------------------------------------------------------------------------------------
# the hash


def _tea_mix(rounds: int, k: Sequence[int], h0: int, h1: int) -> tuple[int, int]:
    """(h0, h1) += TEA-like rounds over key words k[0..3]."""
    b0, b1, total = h0, h1, 0
    k0, k1, k2, k3 = k
    for _ in range(rounds):
        total = (total + _DELTA) & _M32
        b0 = (b0 + ((((b1 << 4) + k0) ^ (b1 + total) ^ ((b1 >> 5) + k1)) & _M32)) & _M32
        b1 = (b1 + ((((b0 << 4) + k2) ^ (b0 + total) ^ ((b0 >> 5) + k3)) & _M32)) & _M32
    return (h0 + b0) & _M32, (h1 + b1) & _M32


def dm_hash(data: bytes) -> int:
    """GlusterFS's ``gf_dm_hashfn`` of ``data`` (no NUL), bit for bit as on x86."""
    n = len(data)
    pad = (n | (n << 8)) & _M32
    pad = (pad | (pad << 16)) & _M32
    nwords = n // 4
    words = struct.unpack_from(f"<{nwords}I", data)
    h0, h1 = 0x9464A485, 0x542E1A94
    nquads = n // 16
    for q in range(nquads):
        h0, h1 = _tea_mix(6, words[4 * q : 4 * q + 4], h0, h1)
    block = list(words[4 * nquads :])
    if len(block) < 4:
        last = pad
        for byte in data[4 * nwords :]:
            # C char is signed on x86: a high byte is sign-extended before the OR
            last = ((last << 8) | (byte | 0xFFFFFF00 if byte & 0x80 else byte)) & _M32
        block.append(last)
        block += [pad] * (4 - len(block))
    h0, h1 = _tea_mix(10, block, h0, h1)
    return h0 ^ h1


# --------------------------------------------------------------------------------------------
# name munging (rsync-hash-regex / extra-hash-regex)

RegexOption = str | re.Pattern[bytes] | None


def _default_rsync_munge(name: bytes) -> bytes | None:
    # ^\.(.+)\.[^.]+$ : leading dot, last dot at index >= 2, a non-empty tail after it
    if name[:1] != b".":
        return None
    last = name.rfind(b".")
    if last < 2 or last == len(name) - 1:
        return None
    return name[1:last]


@functools.lru_cache(maxsize=16)
def _compile(regex: str) -> re.Pattern[bytes]:
    return re.compile(regex.encode("utf-8", "surrogateescape"))


def _regex_munge(name: bytes, regex: str | re.Pattern[bytes]) -> bytes | None:
    pattern = _compile(regex) if isinstance(regex, str) else regex
    m = pattern.search(name)
    if m is None or pattern.groups < 1 or m.start(1) < 0:
        return None
    return m.group(1)


def munge_name(
    name: str | bytes,
    *,
    rsync_hash_regex: RegexOption = DEFAULT_RSYNC_HASH_REGEX,
    extra_hash_regex: RegexOption = None,
) -> bytes:
    """The bytes DHT hashes for ``name``: group 1 of the first regex that matches, else name.

    The default rsync regex is implemented exactly; other regexes (or ``re`` patterns over
    bytes) go through Python's ``re`` (searched, like ``regexec``), which agrees with POSIX
    extended regexes for the usual patterns. ``None`` or ``"none"`` disables a regex.
    """
    raw = name.encode("utf-8", "surrogateescape") if isinstance(name, str) else bytes(name)
    for regex in (extra_hash_regex, rsync_hash_regex):
        if regex is None or regex == "none":
            continue
        if regex == DEFAULT_RSYNC_HASH_REGEX:
            got = _default_rsync_munge(raw)
        else:
            got = _regex_munge(raw, regex)
        if got is not None:
            return got
    return raw


def hash_name(
    name: str | bytes,
    *,
    rsync_hash_regex: RegexOption = DEFAULT_RSYNC_HASH_REGEX,
    extra_hash_regex: RegexOption = None,
) -> int:
    """The DHT hash of a basename (or, for new directories, a path), after munging."""
    return dm_hash(
        munge_name(name, rsync_hash_regex=rsync_hash_regex, extra_hash_regex=extra_hash_regex)
    )


# --------------------------------------------------------------------------------------------
# layouts


@dataclass(frozen=True)
class LayoutRange:
    """One brick's piece of a directory layout: names hashing into [start, stop] live there."""

    start: int
    stop: int
    commit_hash: int = 0
    hash_type: int = HASH_TYPE_DM

    def __contains__(self, hash_value: object) -> bool:
        return isinstance(hash_value, int) and self.start <= hash_value <= self.stop

    @property
    def empty(self) -> bool:
        """True for the (0, 0) "no range" a brick gets when it is left out of a layout."""
        return self.start == 0 and self.stop == 0


def parse_layout(value: bytes | bytearray | memoryview) -> LayoutRange:
    """Decode a ``trusted.glusterfs.dht`` xattr value (16 bytes, big-endian)."""
    if len(value) != _LAYOUT.size:
        raise LayoutError(f"{LAYOUT_XATTR} value has {len(value)} bytes, expected 16")
    commit, htype, start, stop = _LAYOUT.unpack(value)
    if htype not in (HASH_TYPE_DM, HASH_TYPE_DM_USER):
        raise LayoutError(f"{LAYOUT_XATTR}: unknown hash type {htype}")
    return LayoutRange(start=start, stop=stop, commit_hash=commit, hash_type=htype)


def encode_layout(
    start: int, stop: int, commit_hash: int = 0, hash_type: int = HASH_TYPE_DM
) -> bytes:
    """The ``trusted.glusterfs.dht`` value for one brick's range."""
    for what, v in (
        ("start", start),
        ("stop", stop),
        ("commit_hash", commit_hash),
        ("hash_type", hash_type),
    ):
        if not 0 <= v <= _M32:
            raise LayoutError(f"layout {what} {v} does not fit in 32 bits")
    if hash_type not in (HASH_TYPE_DM, HASH_TYPE_DM_USER):
        raise LayoutError(f"unknown hash type {hash_type}")
    return _LAYOUT.pack(commit_hash, hash_type, start, stop)


def brick_chunks(f_blocks: int, f_bsize: int, shared_brick_count: int = 1) -> int:
    """A brick's weight for weighted-rebalance: its size in 1 MiB chunks, as DHT computes it."""
    blocks = f_blocks // shared_brick_count if shared_brick_count > 1 else f_blocks
    per_chunk = (1 << 20) // f_bsize
    return (blocks + per_chunk - 1) // per_chunk


def new_directory_layouts(
    subvolumes: Sequence[str],
    path: str | bytes,
    *,
    chunks: Sequence[int] | None = None,
    commit_hash: int = 0,
    rsync_hash_regex: RegexOption = DEFAULT_RSYNC_HASH_REGEX,
    extra_hash_regex: RegexOption = None,
) -> list[LayoutRange]:
    """The layout GlusterFS gives a new directory ``path`` (e.g. ``/a/b``; ``/`` for the root).

    ``subvolumes`` are the DHT's client names; the result is aligned with them. ``chunks``
    (aligned too) are the brick sizes for weighted-rebalance (see ``brick_chunks``); None, or
    any zero, gives the equal split. ``commit_hash`` is what goes into word 0 (0 on a volume
    never rebalanced, with lookup-optimize on).
    """
    n = len(subvolumes)
    if n == 0:
        raise LayoutError("a layout needs at least one subvolume")
    order = sorted(range(n), key=lambda i: subvolumes[i].encode("utf-8", "surrogateescape"))
    weights = [1] * n
    if chunks is not None:
        if len(chunks) != n:
            raise LayoutError(f"{len(chunks)} chunk counts for {n} subvolumes")
        if all(c > 0 for c in chunks):
            weights = [int(c) for c in chunks]
    chunk = float(_M32) / float(sum(weights))
    first = (
        hash_name(path, rsync_hash_regex=rsync_hash_regex, extra_hash_regex=extra_hash_regex) % n
    )
    out = [LayoutRange(0, 0, commit_hash)] * n
    start = 0
    for k in range(n):
        i = order[(first + k) % n]
        size = int(chunk * weights[i]) & _M32
        stop = _M32 if k == n - 1 else (start + size - 1) & _M32
        out[i] = LayoutRange(start, stop, commit_hash)
        start = (start + size) & _M32
    return out


def pick_subvolume(
    layouts: Sequence[LayoutRange | None],
    name: str | bytes,
    *,
    rsync_hash_regex: RegexOption = DEFAULT_RSYNC_HASH_REGEX,
    extra_hash_regex: RegexOption = None,
) -> int:
    """Index of the subvolume whose range holds ``hash_name(name)`` (first match, like DHT).

    ``layouts`` is aligned with the DHT subvolumes; None marks a brick without a layout xattr.
    A hash that falls in a hole raises ``LayoutError`` (GlusterFS fails such a lookup/create).
    """
    h = hash_name(name, rsync_hash_regex=rsync_hash_regex, extra_hash_regex=extra_hash_regex)
    for i, r in enumerate(layouts):
        if r is not None and r.start <= h <= r.stop:
            return i
    raise LayoutError(f"no subvolume's layout range holds hash 0x{h:08x} of {name!r}")


# --------------------------------------------------------------------------------------------
# lookup-optimize


def merged_commit_hash(layouts: Sequence[LayoutRange | None]) -> int:
    """A directory's commit hash from its bricks' layouts, merged as DHT merges them: the first
    non-zero one, or ``LAYOUT_HASH_INVALID`` when two differ; a brick without a layout makes
    the whole one ``LAYOUT_HASH_INVALID`` too (DHT would find an anomaly and heal it)."""
    commit = 0
    for r in layouts:
        if r is None:
            return LAYOUT_HASH_INVALID
        if commit == 0:
            commit = r.commit_hash
        elif r.commit_hash != commit:
            return LAYOUT_HASH_INVALID
    return commit


def parse_commit_hash(value: bytes | bytearray | memoryview) -> int | None:
    """The volume's commit hash from the root's ``trusted.glusterfs.dht.commithash``, which
    rebalance stores as a dict uint32 (decimal text with its NUL); None if it is not that."""
    text = bytes(value).rstrip(b"\0")
    if not text.isdigit() or len(text) > 10 or int(text) > _M32:
        return None
    return int(text)


# --------------------------------------------------------------------------------------------
# linkto files


def is_linkto(stat_mode: int, size: int, xattrs: Mapping[str, bytes] | None = None) -> bool:
    """True for a DHT linkto file: regular, permission bits exactly 01000, empty, and (when
    ``xattrs`` are given) carrying ``trusted.glusterfs.dht.linkto``."""
    if not stat.S_ISREG(stat_mode) or stat.S_IMODE(stat_mode) != LINKFILE_MODE or size != 0:
        return False
    return xattrs is None or LINKTO_XATTR in xattrs


def linkto_target(xattrs: Mapping[str, bytes]) -> str | None:
    """The subvolume name a linkto file points to (its xattr value up to the NUL), or None."""
    raw = xattrs.get(LINKTO_XATTR)
    if raw is None:
        return None
    return bytes(raw).split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
