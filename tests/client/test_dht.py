"""Tests of gfrpc.client.dht: the DM hash, name munging, layout xattrs, placement, linkto."""

from __future__ import annotations

import stat
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gfrpc.client.dht import (
    HASH_TYPE_DM_USER,
    LINKTO_XATTR,
    LayoutError,
    LayoutRange,
    brick_chunks,
    dm_hash,
    encode_layout,
    hash_name,
    is_linkto,
    linkto_target,
    munge_name,
    new_directory_layouts,
    parse_layout,
    pick_subvolume,
)
from gfrpc.errors import GfrpcError

# gf_dm_hashfn(data, len(data)) of the real GlusterFS 10.3: obtained by calling the function
# exported by Debian's libglusterfs.so.0 (glusterfs 10.3, x86-64) through ctypes. The interop
# test test_dm_hash_equals_libglusterfs repeats the comparison on many more inputs.
KNOWN_HASHES = [
    (b"", 0x884774A2),
    (b"a", 0x3A17E4E6),
    (b"foo", 0x0B55AC76),
    (b"file-000", 0x35F8EC93),
    (b"0123456789abcdef", 0x6ECB5ADA),  # exactly one block, then a pad-only block
    (b"0123456789abcdefg", 0x7F5D9903),
    ("é".encode(), 0x65CFCAA1),  # trailing bytes >= 0x80 are sign-extended (C char)
    ("ñandú".encode(), 0x685067EE),
    ("日本語.txt".encode(), 0xB065AFB9),
    ("z€".encode(), 0xEFD78226),
    (b"\xff", 0xEE42408A),
    (b"\x80\x81\x82", 0x961D2FB7),
    (b"/", 0x8619BD58),
    (b"/sub", 0x29183312),
    (b"x" * 300, 0xDC325763),  # length > 255: the pad word overlaps length bits
    (bytes(range(256)), 0xBE0ADC55),
]

# Layouts glusterd's FUSE client wrote for new directories of a 3-brick distribute volume
# (subvolumes VOL-client-0..2, bricks of equal size), read from trusted.glusterfs.dht on the
# bricks by tests/interop/test_dht_interop.py; (start, stop) per subvolume in DHT order.
A, B, C = (0, 1431655764), (1431655765, 2863311529), (2863311530, 4294967295)
REAL_LAYOUTS = {
    "/": [C, A, B],
    "/d1": [B, C, A],
    "/d2": [B, C, A],
    "/dir-three": [A, B, C],
    "/d1/inner": [B, C, A],
    "/日本": [A, B, C],
}
SUBVOLS3 = ["vol-client-0", "vol-client-1", "vol-client-2"]


@pytest.mark.parametrize(("data", "expected"), KNOWN_HASHES)
def test_dm_hash_matches_glusterfs(data: bytes, expected: int) -> None:
    """Rule: dm_hash equals GlusterFS 10.3's gf_dm_hashfn on the same bytes (no NUL)."""
    assert dm_hash(data) == expected


@given(st.binary(max_size=80))
def test_dm_hash_is_32_bit(data: bytes) -> None:
    """Rule: the hash is an unsigned 32-bit value for any input."""
    assert 0 <= dm_hash(data) <= 0xFFFFFFFF


@pytest.mark.parametrize(
    ("name", "hashed"),
    [
        (".foo.XXXXXX", b"foo"),  # rsync temp file -> the final name
        (".foo.AbC123", b"foo"),
        (".a.b.c", b"a.b"),  # greedy group: up to the last dot
        (".5.x", b"5"),
        (".bashrc", b".bashrc"),  # no second dot
        ("..x", b"..x"),  # the group would be empty
        (".x.", b".x."),  # nothing after the last dot
        ("foo.txt", b"foo.txt"),  # no leading dot
        (".日本.tmp", "日本".encode()),
        ("plain", b"plain"),
    ],
)
def test_default_rsync_regex(name: str, hashed: bytes) -> None:
    """Rule: the default rsync-hash-regex ^\\.(.+)\\.[^.]+$ hashes group 1 instead of the name."""
    assert munge_name(name) == hashed
    assert hash_name(name) == dm_hash(hashed)


def test_munging_options() -> None:
    """Rule: "none"/None disables the rsync regex; extra-hash-regex is tried first; a custom
    regex hashes its first group."""
    assert munge_name(".foo.XXXXXX", rsync_hash_regex="none") == b".foo.XXXXXX"
    assert munge_name(".foo.XXXXXX", rsync_hash_regex=None) == b".foo.XXXXXX"
    assert munge_name("foo.part", extra_hash_regex=r"^(.+)\.part$") == b"foo"
    assert munge_name(".a.b", extra_hash_regex=r"^(.+)\.part$") == b"a"  # falls back to rsync
    assert munge_name(b"tmp-x", rsync_hash_regex=r"^tmp-(.*)$") == b"x"
    assert munge_name("abc", rsync_hash_regex=r"^abc$") == b"abc"  # no group: no munging


def test_layout_xattr_round_trip() -> None:
    """Rule: trusted.glusterfs.dht is commit_hash, hash_type, start, stop as big-endian u32."""
    raw = encode_layout(0x10, 0x7FFFFFFF, commit_hash=1)
    assert raw == struct.pack(">4I", 1, 0, 0x10, 0x7FFFFFFF)
    assert parse_layout(raw) == LayoutRange(0x10, 0x7FFFFFFF, commit_hash=1)
    user = parse_layout(encode_layout(0, 5, hash_type=HASH_TYPE_DM_USER))
    assert user.hash_type == HASH_TYPE_DM_USER
    # a value seen on a real brick: commit 0, DM, 0x55555555..0xaaaaaaa9
    assert parse_layout(bytes.fromhex("000000000000000055555555aaaaaaa9")) == LayoutRange(
        0x55555555, 0xAAAAAAA9
    )


@pytest.mark.parametrize("raw", [b"", b"\0" * 12, b"\0" * 20, struct.pack(">4I", 0, 2, 0, 1)])
def test_parse_layout_rejects_bad_values(raw: bytes) -> None:
    """Rule: a layout value that is not 16 bytes or has an unknown hash type is a LayoutError."""
    with pytest.raises(LayoutError):
        parse_layout(raw)
    assert issubclass(LayoutError, GfrpcError)


def test_encode_layout_rejects_out_of_range() -> None:
    """Rule: fields must fit in 32 bits and the hash type must be 0 or 1."""
    with pytest.raises(LayoutError):
        encode_layout(0, 1 << 32)
    with pytest.raises(LayoutError):
        encode_layout(0, 1, hash_type=7)


@pytest.mark.parametrize("path", sorted(REAL_LAYOUTS))
def test_new_directory_layout_matches_real_volume(path: str) -> None:
    """Rule: new directories get the equal split, starting at subvolume hash(path) % n of the
    name-sorted subvolumes, as observed on a real 3-brick volume."""
    got = new_directory_layouts(SUBVOLS3, path)
    assert [(r.start, r.stop) for r in got] == REAL_LAYOUTS[path]


@given(st.integers(1, 12), st.text(min_size=1, max_size=30))
def test_new_directory_layout_covers_the_hash_space(n: int, path: str) -> None:
    """Rule: a new layout has no hole and no overlap: the ranges tile 0..0xFFFFFFFF."""
    ranges = sorted(
        (r.start, r.stop)
        for r in new_directory_layouts([f"v-client-{i}" for i in range(n)], "/" + path)
    )
    assert ranges[0][0] == 0 and ranges[-1][1] == 0xFFFFFFFF
    for (_, stop), (start, _) in zip(ranges, ranges[1:], strict=False):
        assert start == stop + 1


def test_new_directory_layout_sorts_by_name_and_weights() -> None:
    """Rule: ranges go round the strcmp-sorted names (client-10 before client-2); with chunks
    the sizes are proportional to them; a zero chunk count falls back to the equal split."""
    names = [f"v-client-{i}" for i in range(11)]
    got = new_directory_layouts(names, "/x")
    first = hash_name("/x") % 11
    sorted_names = sorted(names)
    assert got[names.index(sorted_names[first])].start == 0
    w = new_directory_layouts(["a", "b"], "/x", chunks=[32, 96])
    sizes = {i: r.stop - r.start + 1 for i, r in enumerate(w)}
    assert abs(sizes[1] / sizes[0] - 3) < 1e-6
    assert new_directory_layouts(["a", "b"], "/x", chunks=[0, 96]) == new_directory_layouts(
        ["a", "b"], "/x"
    )
    with pytest.raises(LayoutError):
        new_directory_layouts([], "/x")
    with pytest.raises(LayoutError):
        new_directory_layouts(["a"], "/x", chunks=[1, 2])


def test_brick_chunks() -> None:
    """Rule: a brick weighs ceil(f_blocks / shared_brick_count / (1 MiB / f_bsize)) chunks."""
    assert brick_chunks(8192, 4096) == 32
    assert brick_chunks(8193, 4096) == 33
    assert brick_chunks(66053021, 4096, 3) == 86007


def test_pick_subvolume() -> None:
    """Rule: the first subvolume whose inclusive range holds the (munged) name's hash wins;
    bricks without a layout (None) are skipped; a hole is a LayoutError."""
    layouts = new_directory_layouts(SUBVOLS3, "/d1")
    for name in ("a", "file-000", "日本語.txt", ".foo.XXXXXX"):
        i = pick_subvolume(layouts, name)
        assert hash_name(name) in layouts[i]
    assert pick_subvolume(layouts, ".foo.XXXXXX") == pick_subvolume(layouts, "foo")
    h = hash_name("a")
    exact = [LayoutRange(0, h - 1), LayoutRange(h, h), LayoutRange(h + 1, 0xFFFFFFFF)]
    assert pick_subvolume(exact, "a") == 1
    assert pick_subvolume([None, LayoutRange(0, 0xFFFFFFFF)], "a") == 1
    with pytest.raises(LayoutError, match="no subvolume"):
        pick_subvolume([LayoutRange(0, h - 1), None], "a")


def test_is_linkto() -> None:
    """Rule: a linkto file is a regular, empty file with permission bits exactly 01000 and
    (when xattrs are known) the trusted.glusterfs.dht.linkto xattr naming the subvolume."""
    mode = stat.S_IFREG | stat.S_ISVTX
    xattrs = {LINKTO_XATTR: b"vol-client-2\0"}
    assert is_linkto(mode, 0, xattrs)
    assert is_linkto(mode, 0)
    assert not is_linkto(mode, 0, {})
    assert not is_linkto(mode, 5, xattrs)
    assert not is_linkto(mode | 0o644, 0, xattrs)
    assert not is_linkto(stat.S_IFDIR | stat.S_ISVTX, 0, xattrs)
    assert linkto_target(xattrs) == "vol-client-2"
    assert linkto_target({}) is None
