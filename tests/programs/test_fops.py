"""Tests of gfrpc.programs.fops / fops_types (GlusterFS 4.x v1 FOP program, 1298437 v400).

Golden vectors are real GlusterFS 10.3 traffic (tests/fixtures/fops/*.hex, each naming its
capture frame); hypothesis checks the decoder contract and round trips of generated values.
"""

from __future__ import annotations

import ast
import stat
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gfrpc.errors import LocalProtocolError, RemoteProtocolError
from gfrpc.programs import fops, fops_types
from gfrpc.programs.fops import PROCEDURES, FopProc
from gfrpc.programs.fops_types import (
    NULL_GFID,
    ROOT_GFID,
    Iatt,
    IaType,
    ia_type_from_mode,
    iatt_type,
)
from gfrpc.wire import xdr
from gfrpc.wire.gfdict import GFX_DICT, GfType, GfValue
from gfrpc.wire.record import record_mark
from gfrpc.wire.rpcmsg import (
    CallHeader,
    ReplyHeader,
    decode_message,
    encode_accepted_reply,
    encode_call,
)

Feed = Callable[[bytes], list[bytes]]
Golden = Callable[[str], bytes]

# fixture stem -> procedure; every FOP the two captures contain (SETXATTR only in the mount one)
GOLDEN = {
    "stat": FopProc.STAT,
    "mkdir": FopProc.MKDIR,
    "unlink": FopProc.UNLINK,
    "rmdir": FopProc.RMDIR,
    "symlink": FopProc.SYMLINK,
    "rename": FopProc.RENAME,
    "open": FopProc.OPEN,
    "read": FopProc.READ,
    "write": FopProc.WRITE,
    "statfs": FopProc.STATFS,
    "flush": FopProc.FLUSH,
    "setxattr": FopProc.SETXATTR,
    "opendir": FopProc.OPENDIR,
    "create": FopProc.CREATE,
    "fstat": FopProc.FSTAT,
    "lookup": FopProc.LOOKUP,
    "lookup_byname": FopProc.LOOKUP,
    "setattr": FopProc.SETATTR,
    "readdirp": FopProc.READDIRP,
    "readdirp_end": FopProc.READDIRP,
    "release": FopProc.RELEASE,
    "releasedir": FopProc.RELEASEDIR,
}


def _golden_pair(golden: Golden, feed: Feed, stem: str) -> tuple[Any, memoryview, Any, memoryview]:
    [call] = feed(golden(f"fops/{stem}_call"))
    [reply] = feed(golden(f"fops/{stem}_reply"))
    ch, cbody = decode_message(call)
    rh, rbody = decode_message(reply)
    assert isinstance(ch, CallHeader) and isinstance(rh, ReplyHeader)
    return ch, cbody, rh, rbody


@pytest.mark.parametrize("stem", sorted(GOLDEN))
def test_golden_call_and_reply_roundtrip(golden: Golden, feed: Feed, stem: str) -> None:
    """Each real CALL/REPLY decodes with its procedure's structs and re-encodes byte for byte."""
    proc = GOLDEN[stem]
    ch, cbody, rh, rbody = _golden_pair(golden, feed, stem)
    assert (ch.prog, ch.vers, ch.proc) == (fops.GLUSTER_FOP_PROGRAM, fops.GLUSTER_FOP_VERSION, proc)
    assert rh.ok and rh.xid == ch.xid
    req_type, rsp_type = PROCEDURES[proc]

    req, payload = fops.decode_request(proc, cbody)
    assert isinstance(req, req_type)
    if proc == FopProc.WRITE:
        args = b"".join(fops.encode_write_request(req, payload))
    else:
        assert len(payload) == 0
        args = req.pack()
    msg = encode_call(ch.xid, ch.prog, ch.vers, ch.proc, ch.cred, ch.verf) + args
    assert record_mark(len(msg)) + msg == golden(f"fops/{stem}_call")

    rsp, data = fops.decode_reply(proc, rbody)
    assert isinstance(rsp, rsp_type)
    if proc == FopProc.READ:
        results = b"".join(fops.encode_read_reply(rsp, data))
    else:
        assert len(data) == 0
        results = rsp.pack()
    msg = encode_accepted_reply(rh.xid) + results
    assert record_mark(len(msg)) + msg == golden(f"fops/{stem}_reply")


def test_golden_lookup_root(golden: Golden, feed: Feed) -> None:
    """The first LOOKUP is nameless on the root gfid; the brick answers gfid 00..01, ino 1,
    ia_flags 0x17ff, a directory mode, and a zero iatt as postparent (the root has none)."""
    _, cbody, _, rbody = _golden_pair(golden, feed, "lookup")
    req, _ = fops.decode_request(FopProc.LOOKUP, cbody)
    assert req.gfid == ROOT_GFID and req.pargfid == NULL_GFID and req.bname == ""
    assert req.xdata == {"gfid-req": uuid.UUID(bytes=ROOT_GFID)}
    rsp, _ = fops.decode_reply(FopProc.LOOKUP, rbody)
    assert (rsp.op_ret, rsp.prestat.ia_gfid, rsp.prestat.ia_ino) == (0, ROOT_GFID, 1)
    assert rsp.prestat.ia_flags == 0x17FF
    assert iatt_type(rsp.prestat) == IaType.IA_IFDIR and stat.S_ISDIR(rsp.prestat.mode)
    assert rsp.poststat == Iatt()


def test_golden_write_payload(golden: Golden, feed: Feed) -> None:
    """WRITE's payload is the `size` raw bytes after the header, sliced without a copy; the
    reply's op_ret is the byte count and pre/post iatts bracket the write."""
    _, cbody, _, rbody = _golden_pair(golden, feed, "write")
    req, payload = fops.decode_write_request(cbody)
    assert req.size == len(payload) > 0
    assert payload.obj is cbody.obj  # a view of the record, not a copy
    rsp, _ = fops.decode_reply(FopProc.WRITE, rbody)
    assert rsp.op_ret == req.size
    assert rsp.poststat.ia_size == req.offset + req.size


def test_golden_read_data(golden: Golden, feed: Feed) -> None:
    """A short READ (at EOF) answers op_ret bytes (< the size asked); size mirrors op_ret."""
    _, cbody, _, rbody = _golden_pair(golden, feed, "read")
    req, _ = fops.decode_request(FopProc.READ, cbody)
    rsp, data = fops.decode_read_reply(rbody)
    assert len(data) == rsp.op_ret == rsp.size < req.size
    assert req.offset + rsp.op_ret == rsp.stat.ia_size


def test_golden_readdirp_entries(golden: Golden, feed: Feed) -> None:
    """READDIRP replies a linked list of (dirent, iatt, dict); d_len = strlen(name); an empty
    list (op_ret 0) marks the end of the directory."""
    _, _, _, rbody = _golden_pair(golden, feed, "readdirp")
    rsp, _ = fops.decode_reply(FopProc.READDIRP, rbody)
    assert [e.name for e in rsp.reply] == [".", "..", "y"] and rsp.op_ret == 3
    assert all(e.d_len == len(e.name) and e.d_type == 4 for e in rsp.reply)  # DT_DIR
    assert all(iatt_type(e.stat) == IaType.IA_IFDIR for e in rsp.reply)
    _, _, _, rbody = _golden_pair(golden, feed, "readdirp_end")
    rsp, _ = fops.decode_reply(FopProc.READDIRP, rbody)
    assert (rsp.op_ret, rsp.reply) == (0, [])


def test_golden_symlink_setattr_statfs(golden: Golden, feed: Feed) -> None:
    """SYMLINK carries bname and linkname; SETATTR sends mode in stbuf with valid=1 (chmod 600);
    STATFS answers a gf_statfs."""
    _, cbody, _, rbody = _golden_pair(golden, feed, "symlink")
    req, _ = fops.decode_request(FopProc.SYMLINK, cbody)
    assert (req.bname, req.linkname) == ("l", "f2")
    rsp, _ = fops.decode_reply(FopProc.SYMLINK, rbody)
    assert iatt_type(rsp.stat) == IaType.IA_IFLNK and rsp.stat.ia_size == len("f2")
    _, cbody, _, rbody = _golden_pair(golden, feed, "setattr")
    req, _ = fops.decode_request(FopProc.SETATTR, cbody)
    assert (req.valid, req.stbuf.mode) == (1, 0o600)
    rsp, _ = fops.decode_reply(FopProc.SETATTR, rbody)
    assert stat.S_IMODE(rsp.poststat.mode) == 0o600
    _, _, _, rbody = _golden_pair(golden, feed, "statfs")
    rsp, _ = fops.decode_reply(FopProc.STATFS, rbody)
    assert rsp.statfs.bsize == 4096 and rsp.statfs.namemax == 255


def test_procedure_table() -> None:
    """FopProc is GFS3_OP_* 0..56; PROCEDURES covers every procedure the 10.3 v400 brick serves
    (all but COMPOUND 49 and PUT 55) with (request, reply) xdr structs."""
    assert [p.value for p in FopProc] == list(range(57))
    assert (FopProc.RELEASE, FopProc.RELEASEDIR, FopProc.SEEK) == (41, 42, 48)
    assert set(FopProc) - set(PROCEDURES) == {FopProc.COMPOUND, FopProc.PUT}
    for req_type, rsp_type in PROCEDURES.values():
        assert issubclass(req_type, xdr.XdrStruct) and issubclass(rsp_type, xdr.XdrStruct)
    assert fops.GLUSTER_FOP_NAME == "GlusterFS 4.x v1"
    assert PROCEDURES[FopProc.NULL][1]().pack() == bytes(12)
    with pytest.raises(RemoteProtocolError):
        fops.decode_request(FopProc.COMPOUND, b"")
    with pytest.raises(RemoteProtocolError):
        fops.decode_reply(999, b"")


def test_every_v400_message_frames_its_fields_alike() -> None:
    """glusterfs4-xdr.x: every gfx_*_req ends with ``gfx_dict xdata``; every gfx_*_rsp starts
    with ``int op_ret; int op_errno; gfx_dict xdata``, except gfx_read_rsp (xdata last)."""
    head = [("op_ret", xdr.Int), ("op_errno", xdr.Int), ("xdata", GFX_DICT)]
    requests = {req for req, _ in PROCEDURES.values()} - {fops.FopNullReq}
    replies = {rsp for _, rsp in PROCEDURES.values()} - {fops.GfCommonRsp}
    for req in [*requests, fops.GfxPutReq]:
        assert req.xdr_fields[-1] == ("xdata", GFX_DICT), req.__name__
        assert req.__doc__ and req.__doc__.startswith("gfx_"), req.__name__
    for rsp in replies - {fops.GfxReadRsp}:
        assert list(rsp.xdr_fields[:3]) == head, rsp.__name__
        assert rsp.__doc__ and rsp.__doc__.startswith("gfx_"), rsp.__name__
    read = [(name, t) for name, t in fops.GfxReadRsp.xdr_fields]
    assert read == [*head[:2], ("stat", fops_types.IATT), ("size", xdr.UInt), head[2]]


def test_iattx_layout() -> None:
    """gfx_iattx is 148 bytes in glusterfs4-xdr.x order: gfid, flags, ino, dev, rdev, size,
    blocks, attributes, attributes_mask, a/m/c/btime, their nsecs, nlink, uid, gid, blksize,
    mode."""
    names = [n for n, _ in Iatt.xdr_fields]
    assert names[:3] == ["ia_gfid", "ia_flags", "ia_ino"] and names[-1] == "mode"
    ia = Iatt(
        ia_gfid=ROOT_GFID,
        ia_flags=1,
        ia_ino=2,
        ia_dev=3,
        ia_rdev=4,
        ia_size=5,
        ia_blocks=6,
        ia_attributes=7,
        ia_attributes_mask=8,
        ia_atime=-9,
        ia_mtime=10,
        ia_ctime=11,
        ia_btime=12,
        ia_atime_nsec=13,
        ia_mtime_nsec=14,
        ia_ctime_nsec=15,
        ia_btime_nsec=16,
        ia_nlink=17,
        ia_uid=18,
        ia_gid=19,
        ia_blksize=20,
        mode=0o40755,
    )
    raw = ia.pack()
    assert len(raw) == 148 and raw[:16] == ROOT_GFID
    assert raw[16:24] == (1).to_bytes(8, "big") and raw[80:88] == (-9).to_bytes(
        8, "big", signed=True
    )
    assert raw[-4:] == (0o40755).to_bytes(4, "big")
    assert Iatt.unpack(raw) == ia
    assert fops_types.GfxMdataIatt().pack() == bytes(36)
    assert fops_types.GfStatfs().pack() == bytes(88)


def test_gfid_constants_and_ia_type() -> None:
    """ROOT_GFID is 00..01 and NULL_GFID 16 zero bytes; the ia_type comes from mode's S_IF* bits
    (IA_INVAL for bits GlusterFS does not know). The iatt builder is the brick store's
    (tests/services/test_store.py, and the replies of a running brick in test_brick_fops.py)."""
    assert ROOT_GFID == bytes(15) + b"\x01" and NULL_GFID == bytes(16)
    assert ia_type_from_mode(stat.S_IFLNK | 0o777) == IaType.IA_IFLNK
    assert ia_type_from_mode(stat.S_IFCHR) == IaType.IA_IFCHR
    assert ia_type_from_mode(0o644) == IaType.IA_INVAL
    assert iatt_type(Iatt(mode=stat.S_IFDIR | 0o755)) == IaType.IA_IFDIR


def test_write_request_helpers() -> None:
    """encode_write_request gives [header, payload] (payload object passed through, size must
    match); decode_write_request slices the payload off and rejects a size mismatch."""
    payload = bytearray(b"hello world")
    req = fops.GfxWriteReq(gfid=ROOT_GFID, fd=3, offset=10, size=len(payload))
    header, body = fops.encode_write_request(req, payload)
    assert body is payload and header == req.pack()
    wire = bytes(header) + bytes(payload)
    got, view = fops.decode_write_request(wire)
    assert got == req and view == payload and view.obj is wire
    with pytest.raises(RemoteProtocolError):
        fops.decode_write_request(wire + b"!")
    with pytest.raises(RemoteProtocolError):
        fops.decode_write_request(wire[:-1])
    with pytest.raises(LocalProtocolError):
        fops.encode_write_request(fops.GfxWriteReq(size=1), b"")
    with pytest.raises(LocalProtocolError):
        fops.encode_write_request(fops.GfxReadReq(), b"")


def test_read_reply_helpers() -> None:
    """encode_read_reply needs op_ret == len(data); decode_read_reply takes op_ret bytes and
    rejects missing or extra data; a failed READ carries no data."""
    data = memoryview(b"abcdef")
    rsp = fops.GfxReadRsp(op_ret=6, size=6)
    parts = fops.encode_read_reply(rsp, data)
    assert parts[1] is data
    wire = b"".join(parts)
    got, view = fops.decode_read_reply(wire)
    assert got == fops.GfxReadRsp.unpack(rsp.pack()) and view == b"abcdef"
    for bad in (wire[:-1], wire + b"x"):
        with pytest.raises(RemoteProtocolError):
            fops.decode_read_reply(bad)
    err = fops.GfxReadRsp(op_ret=-1, op_errno=5)
    assert fops.decode_read_reply(b"".join(fops.encode_read_reply(err, b"")))[1] == b""
    with pytest.raises(LocalProtocolError):
        fops.encode_read_reply(fops.GfxReadRsp(op_ret=2), b"abc")
    with pytest.raises(LocalProtocolError):
        fops.encode_read_reply(fops.GfxCommonRsp(), b"")


def test_none_means_zero_struct() -> None:
    """An iatt/flock/statfs field left None is sent as the all-zero struct (what GlusterFS
    sends on errors) and a dict left None as the NULL gfx_dict (count -1)."""
    rsp = fops.GfxCommon3IattRsp(op_ret=-1, op_errno=2)
    raw = rsp.pack()
    assert raw == b"\xff\xff\xff\xff\0\0\0\x02" + b"\0\0\0\0\xff\xff\xff\xff\0\0\0\0" + bytes(444)
    assert fops.GfxLkRsp().pack()[-32:] == bytes(32)
    with pytest.raises(LocalProtocolError):
        fops.GfxCommonIattRsp(stat=fops_types.GfStatfs()).pack()


def test_programs_layer_has_no_io_imports() -> None:
    """programs/ is sans-IO: fops.py and fops_types.py import no socket/select/threading."""
    for mod in (fops, fops_types):
        tree = ast.parse(Path(mod.__file__ or "").read_text())
        names = {
            a.name.split(".")[0]
            for n in ast.walk(tree)
            if isinstance(n, ast.Import)
            for a in n.names
        }
        names |= {
            (n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
        }
        assert not names & {"socket", "select", "selectors", "threading"}


# --------------------------------------------------------------------------- hypothesis

_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
_KEY = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="\0"), min_size=1, max_size=8
)
_VALUE = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    _TEXT.map(lambda s: s.replace("\0", "")),
    st.binary(max_size=8),
    st.uuids(),
    st.integers(0, 2**64 - 1).map(lambda v: GfValue(GfType.UINT, v)),
)
_DICT = st.one_of(st.none(), st.dictionaries(_KEY, _VALUE, max_size=3))
_INTS = {
    "i": (-(2**31), 2**31 - 1),
    "I": (0, 2**32 - 1),
    "q": (-(2**63), 2**63 - 1),
    "Q": (0, 2**64 - 1),
}


def _strategy(t: xdr.XdrType) -> st.SearchStrategy[Any]:
    if t is GFX_DICT:
        return _DICT
    if t.fmt is not None:
        lo, hi = _INTS[t.fmt]
        return st.integers(lo, hi)
    if isinstance(t, xdr.FixedOpaque):
        return st.binary(min_size=t.n, max_size=t.n)
    if isinstance(t, xdr.String):
        return _TEXT
    if isinstance(t, xdr.Opaque):
        return st.binary(max_size=12)
    if isinstance(t, fops_types.OrZero):
        return st.one_of(st.none(), _struct_strategy(t.cls))
    if isinstance(t, xdr.LinkedList):
        return st.lists(_strategy(t.item), max_size=3)
    if isinstance(t, xdr.XdrType) and hasattr(t, "cls"):
        return _struct_strategy(t.cls)
    raise AssertionError(f"no strategy for {t!r}")


def _struct_strategy(cls: type[xdr.XdrStruct]) -> st.SearchStrategy[Any]:
    return st.builds(cls, **{name: _strategy(t) for name, t in cls.xdr_fields})


_ALL_TYPES = sorted({t for pair in PROCEDURES.values() for t in pair}, key=lambda c: c.__name__)
_FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))


def _decode_all(proc: FopProc, data: bytes) -> None:
    """Both decoders of a procedure: they may return or raise RemoteProtocolError, nothing else."""
    for decode in (fops.decode_request, fops.decode_reply):
        try:
            decode(proc, data)
        except RemoteProtocolError:
            pass


@_FUZZ
@given(proc=st.sampled_from(sorted(PROCEDURES)), data=st.binary(max_size=600))
def test_hypothesis_random_bytes(proc: FopProc, data: bytes) -> None:
    """Every request and reply decoder, on random bytes, returns or raises RemoteProtocolError."""
    _decode_all(proc, data)


@_FUZZ
@given(cls=st.sampled_from(_ALL_TYPES), data=st.data())
def test_hypothesis_roundtrip_and_truncation(cls: type[xdr.XdrStruct], data: st.DataObject) -> None:
    """Generated values round-trip (decode(encode(v)) re-encodes to the same bytes); every
    truncation raises RemoteProtocolError, and byte flips never raise anything else."""
    value = data.draw(_struct_strategy(cls))
    raw = value.pack()
    assert cls.unpack(raw).pack() == raw
    for cut in {0, len(raw) // 2, len(raw) - 1, data.draw(st.integers(0, max(len(raw) - 1, 0)))}:
        if 0 <= cut < len(raw):
            with pytest.raises(RemoteProtocolError):
                cls.unpack(raw[:cut])
    if raw:
        pos = data.draw(st.integers(0, len(raw) - 1))
        flipped = bytearray(raw)
        flipped[pos] ^= data.draw(st.integers(1, 255))
        try:
            cls.unpack(bytes(flipped))
        except RemoteProtocolError:
            pass


@pytest.mark.parametrize("stem", sorted(GOLDEN))
def test_golden_truncations(golden: Golden, feed: Feed, stem: str) -> None:
    """Every proper prefix of a real call or reply body (payload included) is rejected with
    RemoteProtocolError by the procedure's decoder."""
    proc = GOLDEN[stem]
    _, cbody, _, rbody = _golden_pair(golden, feed, stem)
    for body, decode in ((bytes(cbody), fops.decode_request), (bytes(rbody), fops.decode_reply)):
        step = max(1, len(body) // 300)
        for cut in [*range(0, len(body), step), len(body) - 1]:
            with pytest.raises(RemoteProtocolError):
                decode(proc, body[:cut])


def _golden_bodies() -> list[tuple[FopProc, bytes, bytes]]:
    fixtures = Path(__file__).resolve().parent.parent / "fixtures" / "fops"
    out = []
    for stem, proc in sorted(GOLDEN.items()):
        bodies = []
        for kind in ("call", "reply"):
            text = (fixtures / f"{stem}_{kind}.hex").read_text().splitlines()
            record = bytes.fromhex("".join(ln.strip() for ln in text if not ln.startswith("#")))
            bodies.append(bytes(decode_message(record[4:])[1]))
        out.append((proc, bodies[0], bodies[1]))
    return out


_BODIES = _golden_bodies()


@_FUZZ
@given(which=st.sampled_from(_BODIES), data=st.data())
def test_hypothesis_mutated_captures(
    which: tuple[FopProc, bytes, bytes], data: st.DataObject
) -> None:
    """Real bodies with random bytes overwritten (lengths, counts, dict types, bools) decode or
    raise RemoteProtocolError, never another exception."""
    proc, call, reply = which
    for body, decode in ((call, fops.decode_request), (reply, fops.decode_reply)):
        buf = bytearray(body)
        for _ in range(data.draw(st.integers(1, 4))):
            pos = data.draw(st.integers(0, len(buf) - 1))
            buf[pos] = data.draw(st.integers(0, 255))
        try:
            decode(proc, bytes(buf))
        except RemoteProtocolError:
            pass


def test_write_request_with_an_unread_end_decodes_only_what_came() -> None:
    """decode_write_request(args, unread): the header is decoded from the bytes that came and
    the payload view still covers all ``size`` bytes; a header that would reach into the bytes
    not yet read (a client that put its xdata there) is refused, never decoded from them."""
    payload = bytes(range(200)) * 10
    req = fops.GfxWriteReq(gfid=ROOT_GFID, fd=3, offset=10, size=len(payload))
    header = bytes(req.pack())
    wire = header + payload
    got, view = fops.decode_write_request(wire, 1500)
    assert got == req and len(view) == len(payload) and view[:500] == payload[:500]
    with pytest.raises(RemoteProtocolError):
        fops.decode_write_request(wire, len(payload) + 8)  # the end of the header is unread
