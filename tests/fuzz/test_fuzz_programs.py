"""Fuzz of the program decoders: every FOP request and reply, WRITE/READ payloads, and the
DUMP, portmapper and handshake structs.

Rule (STYLE "every decoder has the same contract"): on random bytes and on mutations of valid
encodings a program decoder returns a message or raises ``RemoteProtocolError``, nothing else;
generated messages round-trip (``unpack(pack(v))`` re-packs to the same bytes).
"""

from __future__ import annotations

from typing import Any

from fuzz_support import decode_ok, fuzz_settings, mutations, peak_allocation, struct_strategy
from hypothesis import given
from hypothesis import strategies as st

from gfrpc.programs import dump, fops, handshake, pmap
from gfrpc.programs.fops import PROCEDURES, FopProc
from gfrpc.wire import xdr

_PROCS = sorted(PROCEDURES)
_SMALL_PROGRAMS = sorted(
    {
        v
        for mod in (dump, pmap, handshake)
        for v in vars(mod).values()
        if isinstance(v, type) and issubclass(v, xdr.XdrStruct) and v is not xdr.XdrStruct
    },
    key=lambda c: c.__name__,
)


def _both(proc: FopProc, data: bytes) -> None:
    for decode in (fops.decode_request, fops.decode_reply):
        result = decode_ok(lambda decode=decode: decode(proc, data))  # type: ignore[misc]
        if result is not None:
            message, payload = result
            assert isinstance(payload, memoryview) and len(payload) <= len(data)


@fuzz_settings(300)
@given(proc=st.sampled_from(_PROCS), data=st.binary(max_size=400))
def test_fop_random_bytes(proc: FopProc, data: bytes) -> None:
    """decode_request and decode_reply of every v400 procedure on random bytes: a message
    (payload no longer than the input) or RemoteProtocolError."""
    _both(proc, data)


@fuzz_settings(60)
@given(proc=st.integers(-5, 70), data=st.binary(max_size=40))
def test_fop_unknown_procedures(proc: int, data: bytes) -> None:
    """A procedure number with no v400 schema (COMPOUND, PUT, out of range) is a
    RemoteProtocolError, never a KeyError or ValueError."""
    if proc in PROCEDURES:
        return
    for decode in (fops.decode_request, fops.decode_reply):
        assert decode_ok(lambda decode=decode: decode(proc, data)) is None  # type: ignore[misc]


@fuzz_settings(300)
@given(proc=st.sampled_from(_PROCS), side=st.sampled_from((0, 1)), data=st.data())
def test_fop_roundtrip_and_mutations(proc: FopProc, side: int, data: st.DataObject) -> None:
    """A generated request or reply of every procedure round-trips; campaign-style mutations of
    its encoding decode or raise RemoteProtocolError."""
    cls = PROCEDURES[proc][side]
    value = data.draw(struct_strategy(cls))
    raw = value.pack()
    assert cls.unpack(raw).pack() == raw
    _both(proc, data.draw(mutations(raw)))


@fuzz_settings(200)
@given(req=struct_strategy(fops.GfxWriteReq), payload=st.binary(max_size=64), data=st.data())
def test_write_request_payload(req: Any, payload: bytes, data: st.DataObject) -> None:
    """decode_write_request gives back the header and exactly the payload; a mutated request
    (size word inflated, payload cut) decodes or raises RemoteProtocolError."""
    req.size = len(payload)
    raw = b"".join(bytes(p) for p in fops.encode_write_request(req, payload))
    got, view = fops.decode_write_request(raw)
    assert got == fops.GfxWriteReq.unpack(req.pack()) and bytes(view) == payload
    mutated = data.draw(mutations(raw))
    result = decode_ok(lambda: fops.decode_write_request(mutated))
    if result is not None:
        assert result[0].size == len(result[1])


@fuzz_settings(200)
@given(rsp=struct_strategy(fops.GfxReadRsp), payload=st.binary(max_size=64), data=st.data())
def test_read_reply_payload(rsp: Any, payload: bytes, data: st.DataObject) -> None:
    """decode_read_reply gives back exactly op_ret data bytes; mutations decode (with data of
    op_ret bytes) or raise RemoteProtocolError."""
    rsp.op_ret = len(payload)
    raw = b"".join(bytes(p) for p in fops.encode_read_reply(rsp, payload))
    assert bytes(fops.decode_read_reply(raw)[1]) == payload
    mutated = data.draw(mutations(raw))
    result = decode_ok(lambda: fops.decode_read_reply(mutated))
    if result is not None:
        assert len(result[1]) == max(result[0].op_ret, 0)


@fuzz_settings(250)
@given(cls=st.sampled_from(_SMALL_PROGRAMS), data=st.data())
def test_dump_pmap_handshake_structs(cls: type[xdr.XdrStruct], data: st.DataObject) -> None:
    """Every struct of the DUMP, portmapper and handshake programs round-trips; random bytes
    and mutations of its encoding decode or raise RemoteProtocolError."""
    value = data.draw(struct_strategy(cls))
    raw = value.pack()
    assert cls.unpack(raw).pack() == raw
    decode_ok(lambda: cls.unpack(data.draw(mutations(raw))))
    decode_ok(lambda: cls.unpack(data.draw(st.binary(max_size=120))))


def test_dump_reply_inflated_list_allocation() -> None:
    """A DUMP reply whose program list claims a 4 GiB name allocates little (the linked list
    is read item by item, each bounded by what remains)."""
    raw = bytearray(dump.GfDumpRsp(progs=[dump.GfProgDetail("x", 1, 1)]).pack())
    raw[20:24] = b"\xff\xff\xff\xff"  # the first name's length
    assert peak_allocation(lambda: dump.GfDumpRsp.unpack(bytes(raw))) < 64 << 10
