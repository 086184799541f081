"""Helpers of the record-marking tests: a fragment with its header, and a decoder drained."""

from __future__ import annotations

import struct

from gfrpc.wire.record import NEED_DATA, RecordDecoder


def frag(data: bytes, last: bool = True) -> bytes:
    return struct.pack(">I", len(data) | (0x80000000 if last else 0)) + data


def drain(dec: RecordDecoder) -> list[bytes]:
    out = []
    while (rec := dec.next_record()) is not NEED_DATA:
        assert isinstance(rec, memoryview)
        out.append(bytes(rec))
    return out
