"""RFC 5531 §11 record marking, sans-IO.

Theory of operation
-------------------
On a stream transport every RPC message is a *record* made of *fragments*; each fragment starts
with a 4-byte big-endian header whose top bit says "last fragment" and whose low 31 bits give the
fragment length. GlusterFS always sends one fragment per message (``record_mark``), but accepts
several, so this decoder does too. A record of ``max_record_size`` (1 GiB, as GlusterFS) or more
is refused before anything is allocated for it.

Bytes arrive in one of two ways, and both end in the same parser:

* ``receive_data(data)`` copies the caller's bytes in (simple, used by tests and TLS);
* ``get_buffer()`` / ``buffer_updated(n)`` let the caller ``recv_into`` our memory.

The decoder owns a reusable *scratch* buffer (256 KiB). Headers and small records are read into
it in as few ``recv_into`` calls as possible, many per read; each complete small record is then
copied out once into its own ``bytes`` (the scratch is reused, so a record handed out must never
point into it). When a fragment header announces a large fragment (64 KiB or more) or a record
made of several fragments, the decoder allocates that record's own ``bytearray`` at once (up to
8 MiB ahead of the data received; bigger records grow by doubling as bytes arrive, so a lying
header cannot make us commit a gigabyte), moves
the bytes already in the scratch into it, and from then on ``get_buffer()`` returns a view of the
*rest of the current fragment inside that bytearray*: the kernel writes a 1 MiB WRITE payload
straight where the record lives, with no copy in Python. Only the rest of the current fragment is
exposed, so the next header always lands in the scratch.

Parsing is eager: every ``buffer_updated`` parses as far as the data goes and queues finished
records, so the scratch only ever holds an incomplete header or an incomplete small record and
always has room. ``next_record()`` pops the queue in arrival order; a protocol error is raised
after the records that arrived before it. A record is handed out as a ``memoryview`` over memory
nobody else writes to again. A zero-length fragment consumes its 4-byte header, so a stream of
empty non-last fragments makes progress and simply yields ``NEED_DATA``.
"""

from __future__ import annotations

import struct
import sys
from collections import deque
from typing import Final

from gfrpc.errors import LocalProtocolError, RemoteProtocolError

__all__ = ["NEED_DATA", "DEFAULT_MAX_RECORD", "LAST_FRAGMENT", "record_mark", "RecordDecoder"]


class _NeedData:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NEED_DATA"

    def __reduce__(self) -> str:
        return "NEED_DATA"


NEED_DATA: Final = _NeedData()
DEFAULT_MAX_RECORD: Final = 1 << 30
LAST_FRAGMENT: Final = 0x80000000
SCRATCH_SIZE: Final = 256 * 1024
DIRECT_THRESHOLD: Final = 64 * 1024
EAGER_ALLOC: Final = 8 * 1024 * 1024
POOL_SIZE: Final = 3  # record bodies kept for reuse per decoder

_HDR = struct.Struct(">I")


def record_mark(length: int) -> bytes:
    """The header of a one-fragment record of ``length`` bytes (last-fragment bit set)."""
    if not 0 <= length < LAST_FRAGMENT:
        raise LocalProtocolError(f"record of {length} bytes cannot be sent as one fragment")
    return _HDR.pack(length | LAST_FRAGMENT)


class RecordDecoder:
    """Splits a byte stream into RPC records; see the module docstring."""

    def __init__(self, max_record_size: int = DEFAULT_MAX_RECORD, *,
                 scratch_size: int = SCRATCH_SIZE, direct_threshold: int = DIRECT_THRESHOLD) -> None:
        if direct_threshold < 1 or scratch_size < 2 * (direct_threshold + 4):
            raise LocalProtocolError("scratch_size must hold two small records")
        self.max_record_size = max_record_size
        self._threshold = direct_threshold
        self._scratch = bytearray(scratch_size)
        self._sview = memoryview(self._scratch)
        self._rd = 0            # first unparsed byte in the scratch
        self._wr = 0            # end of valid data in the scratch
        self._body: bytearray | None = None   # record being assembled (None: at a boundary)
        self._have = 0          # bytes of _body filled
        self._frag_left = 0     # bytes of the current fragment still to come
        self._frag_last = False
        self._direct = 0        # size of the _body view the last get_buffer() handed out
        self._ready: deque[memoryview] = deque()
        self._pool: list[bytearray] = []  # bodies of earlier records, reused once unreferenced
        self._error: RemoteProtocolError | None = None

    @property
    def in_record(self) -> bool:
        """True while part of a record (or of a fragment header) is buffered."""
        return self._body is not None or self._wr > self._rd

    # ------------------------------------------------------------------ input

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Copy ``data`` in and parse it."""
        view = memoryview(data).cast("B")
        pos, end = 0, len(view)
        while pos < end:
            buf = self.get_buffer()
            n = min(len(buf), end - pos)
            buf[:n] = view[pos : pos + n]
            self.buffer_updated(n)
            pos += n

    @property
    def buffer_is_direct(self) -> bool:
        """Whether the last ``get_buffer()`` view is the record's own memory (not the scratch).

        A reader that fills the buffer in several steps (TLS: one record per step) should
        report each step while this is False, so the decoder can switch to the record's
        memory as soon as a large record's header is in, instead of copying from the scratch.
        """
        return self._direct > 0

    def get_buffer(self) -> memoryview:
        """A writable buffer for ``recv_into``; report what was written with ``buffer_updated``."""
        if self._body is not None and self._frag_left >= self._threshold and self._rd == self._wr:
            room = self._room()
            self._direct = room
            return memoryview(self._body)[self._have : self._have + room]
        self._direct = 0
        if self._rd == self._wr:
            self._rd = self._wr = 0
        elif len(self._scratch) - self._wr < self._threshold + 4:
            pending = self._wr - self._rd       # < one small record: cheap to move
            self._scratch[:pending] = self._scratch[self._rd : self._wr]
            self._rd, self._wr = 0, pending
        return self._sview[self._wr :]

    def buffer_updated(self, nbytes: int) -> None:
        """``nbytes`` were written at the start of the last ``get_buffer()`` view."""
        if nbytes < 0:
            raise LocalProtocolError("buffer_updated() with a negative count")
        if self._direct:
            given, self._direct = self._direct, 0
            if nbytes > given:
                raise LocalProtocolError("buffer_updated() past the buffer given")
            self._have += nbytes
            self._frag_left -= nbytes
            if self._frag_left == 0 and self._frag_last:
                self._finish()
            return
        if nbytes > len(self._scratch) - self._wr:
            raise LocalProtocolError("buffer_updated() past the buffer given")
        self._wr += nbytes
        if self._error is None:
            try:
                self._parse()
            except RemoteProtocolError as exc:
                self._error = exc
        if self._error is not None:
            self._rd = self._wr = 0         # discard everything after a protocol error

    # ------------------------------------------------------------------ output

    def next_record(self) -> memoryview | _NeedData:
        """The next complete record, ``NEED_DATA``, or ``RemoteProtocolError``."""
        if self._ready:
            return self._ready.popleft()
        if self._error is not None:
            raise self._error
        return NEED_DATA

    # ------------------------------------------------------------------ parser

    def _finish(self) -> None:
        assert self._body is not None
        self._ready.append(memoryview(self._body)[: self._have])
        self._body = None
        self._have = 0

    def _start_fragment(self, length: int) -> None:
        if self._body is None:
            self._body = self._new_body(min(length, EAGER_ALLOC))
        self._frag_left = length

    def _new_body(self, size: int) -> bytearray:
        """A bytearray of ``size`` bytes for the next record, recycled when possible.

        ``bytearray(n)`` zero-fills (and for large sizes faults in fresh pages): for a stream
        of 1 MiB WRITEs that costs as much as a copy. So the last few bodies are kept, and
        one is reused once nothing refers to it any more: every view of a record (and every
        slice of those views) holds a reference to its bytearray, so a reference count of
        "the pool's and this loop's" means no reader can see the bytes change. (CPython
        reference counting; elsewhere the check simply never passes and we allocate.)
        """
        pool = self._pool
        for i in range(len(pool)):  # not enumerate(): its tuple would add a reference
            buf = pool[i]
            if len(buf) == size and sys.getrefcount(buf) <= 3:  # pool list, ``buf``, argument
                del pool[i]
                pool.append(buf)
                return buf
        buf = bytearray(size)
        if size >= self._threshold:
            if len(pool) >= POOL_SIZE:
                del pool[0]
            pool.append(buf)
        return buf

    def _room(self) -> int:
        """Contiguous free bytes in _body for the current fragment, growing it if needed.

        Capacity never runs more than EAGER_ALLOC (or the bytes already received, when more)
        ahead of the data, so a header that announces a huge record costs little memory
        until the bytes actually arrive. Growth makes a new bytearray (views handed out by
        get_buffer() may still be alive, so no resize) and at least doubles it.
        """
        body, have = self._body, self._have
        assert body is not None
        room = len(body) - have
        if room == 0:
            room = min(self._frag_left, max(EAGER_ALLOC, have))
            grown = bytearray(have + room)
            grown[:have] = memoryview(body)[:have]
            self._body = grown
        return min(room, self._frag_left)

    def _parse(self) -> None:
        buf, rd, wr = self._scratch, self._rd, self._wr
        try:
            while True:
                if self._body is not None and self._frag_left:
                    if wr == rd:
                        return
                    n = min(wr - rd, self._room())
                    have = self._have
                    self._body[have : have + n] = self._sview[rd : rd + n]
                    rd += n
                    self._have = have + n
                    self._frag_left -= n
                    if self._frag_left == 0 and self._frag_last:
                        self._finish()
                    continue
                if wr - rd < 4:
                    return
                header = _HDR.unpack_from(buf, rd)[0]
                last = header >= LAST_FRAGMENT
                length = header & 0x7FFFFFFF
                total = self._have + length
                if total >= self.max_record_size:
                    # RFC 5531 leaves the limit to the receiver; GlusterFS refuses >= 1 GiB.
                    raise RemoteProtocolError(
                        f"record of {total} bytes or more exceeds the limit of "
                        f"{self.max_record_size} bytes")
                if self._body is None and last and length < self._threshold:
                    if wr - rd < 4 + length:
                        return                  # small record: wait for all of it in scratch
                    self._ready.append(memoryview(bytes(self._sview[rd + 4 : rd + 4 + length])))
                    rd += 4 + length
                    continue
                rd += 4
                self._frag_last = last
                self._start_fragment(length)
                if length == 0 and last:
                    self._finish()
        finally:
            self._rd = rd
