"""RFC 5531 §11 record marking, sans-IO.

Theory of operation
-------------------
On a stream transport every RPC message is a *record* made of *fragments*; each fragment starts
with a 4-byte big-endian header whose top bit says "last fragment" and whose low 31 bits give the
fragment length. GlusterFS always sends one fragment per message (``record_mark``), but accepts
several, so this decoder does too. A record of ``max_record_size`` (1 GiB, as GlusterFS) or more
is refused before anything is allocated for it.

Bytes arrive in one of two ways, and both end in the same parser:

* ``receive_data(data)`` parses the caller's bytes where they are (tests, TLS, fuzzers);
* ``get_buffer()`` / ``buffer_updated(n)`` let the caller ``recv_into`` our memory.

*What an idle connection costs.* A decoder at a record boundary owns nothing but a few
attributes: no per-connection scratch. ``get_buffer()`` at a boundary *leases* a read buffer
(256 KiB) from a process-wide free list, and ``buffer_updated`` parses it and gives it back at
once, so the number of read buffers is the number of reads in progress (one per poller thread),
not the number of connections. What is left over after parsing is kept per connection, sized
by what arrived: at most 3 bytes of an incomplete fragment header, or the record being
assembled. A reader that leases a buffer and then reads nothing (EAGAIN) calls
``release_buffer()``.

*Records.* A small record (under 64 KiB) that arrived whole is copied out once into its own
``bytes``. Otherwise the record gets its own body as soon as its header is parsed, and from
then on ``get_buffer()`` returns a view of *the rest of the current fragment inside that body*
(while 64 KiB or more of it is still to come): the kernel writes a 1 MiB WRITE payload straight
where the record lives, with no copy in Python. Only the rest of the current fragment is
exposed, so the next header always lands in a leased buffer.

*Memory follows the bytes that arrived.* A large body is an anonymous ``mmap`` of at most
8 MiB: the kernel gives it pages only as bytes are written, so a header that announces 1 GiB
and is followed by nothing costs a page table entry, not 8 MiB of resident memory, and the
pages go back to the kernel when the record is dropped (a ``bytearray`` would be zero-filled,
i.e. resident, at once, and glibc keeps freed heap). Bigger records grow by doubling as their
bytes arrive. A small incomplete record grows from 4 KiB the same way. ``buffered_bytes``
tells how many bytes of incomplete records are held, for a caller's memory budget.

*Recycling.* Zero-filling or faulting in fresh pages for every 1 MiB WRITE costs about as much
as a copy, so bodies of large records go to a :class:`BodyPool` (the transport shares one of
at most 64 MiB among all its connections; a decoder given none keeps a small one) and one is
reused for a later record of the same *size class* once nothing refers to it any more (a large
body is made with its class's size, :func:`body_class`: eight classes per power of two, so at
most 12.5 % of it is spare, and never-touched spare pages cost nothing): every view of
a record (and every slice of those views) holds a reference to its body, so a reference count
of "the pool's and this loop's" means no reader can see the bytes change (CPython reference
counting; elsewhere the check never passes and we allocate). ``BodyPool.trim()`` drops the
bodies nobody reused for a while (the transport's timer calls it).

Parsing is eager: every ``buffer_updated`` parses as far as the data goes and queues finished
records. ``next_record()`` pops the queue in arrival order; a protocol error is raised after
the records that arrived before it. A record is handed out as a ``memoryview`` over memory
nobody else writes to again. A zero-length fragment consumes its 4-byte header, so a stream of
empty non-last fragments makes progress and simply yields ``NEED_DATA``.
"""

from __future__ import annotations

import contextlib
import mmap
import struct
import sys
import time
from collections import deque
from typing import Final

from gfrpc.errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "NEED_DATA",
    "DEFAULT_MAX_RECORD",
    "LAST_FRAGMENT",
    "record_mark",
    "RecordDecoder",
    "BodyPool",
    "body_class",
    "lease_read_buffer",
    "return_read_buffer",
]


class _NeedData:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NEED_DATA"

    def __reduce__(self) -> str:
        return "NEED_DATA"


NEED_DATA: Final = _NeedData()
DEFAULT_MAX_RECORD: Final = 1 << 30
LAST_FRAGMENT: Final = 0x80000000
READ_BUFFER_SIZE: Final = 256 * 1024
DIRECT_THRESHOLD: Final = 64 * 1024
EAGER_ALLOC: Final = 8 * 1024 * 1024  # virtual size of a large body before it must grow
SMALL_STEP: Final = 4096  # first size of an incomplete small record
HEAD_BYTES: Final = 4096  # what a detached record must hold at least (``RecordDecoder.detach``)
POOL_BYTES: Final = 64 * 1024 * 1024  # recycled large bodies, shared by a process's decoders
OWN_POOL_BYTES: Final = 4 * 1024 * 1024  # a decoder given no pool keeps its own, this small
FREE_READ_BUFFERS: Final = 16  # idle read buffers kept for reuse

_HDR = struct.Struct(">I")
Body = bytearray | mmap.mmap


def record_mark(length: int) -> bytes:
    """The header of a one-fragment record of ``length`` bytes (last-fragment bit set)."""
    if not 0 <= length < LAST_FRAGMENT:
        raise LocalProtocolError(f"record of {length} bytes cannot be sent as one fragment")
    return _HDR.pack(length | LAST_FRAGMENT)


# -- process-wide memory: read buffers and recycled record bodies ----------------------------

_free_reads: list[bytearray] = []  # list.pop/append are atomic under the GIL


def lease_read_buffer(size: int = READ_BUFFER_SIZE) -> bytearray:
    """A read buffer from the process-wide free list (give it back with ``return_read_buffer``)."""
    if size == READ_BUFFER_SIZE:
        try:
            return _free_reads.pop()
        except IndexError:
            pass
    return bytearray(size)


def return_read_buffer(buf: bytearray) -> None:
    if len(buf) == READ_BUFFER_SIZE and len(_free_reads) < FREE_READ_BUFFERS:
        _free_reads.append(buf)


def body_class(size: int) -> int:
    """The size of the body made (and pooled) for a large record of ``size`` bytes: ``size``
    rounded up to an eighth of its power of two, so records of similar sizes share bodies."""
    step = 1 << max(size.bit_length() - 4, 0)
    return (size + step - 1) // step * step


def _anon(size: int) -> mmap.mmap:
    """Anonymous memory whose pages the kernel provides only when written."""
    return mmap.mmap(-1, max(size, 1))


class _Entry:
    __slots__ = ("body", "used")

    def __init__(self, body: mmap.mmap) -> None:
        self.body = body
        self.used = time.monotonic()


class BodyPool:
    """Large record bodies kept for reuse by size; see the module docstring.

    Decoders on several threads may share one pool if it is given a ``lock`` (this sans-IO
    layer has no threads of its own: the transport passes a ``threading.Lock``).
    """

    def __init__(
        self, limit: int = POOL_BYTES, lock: contextlib.AbstractContextManager[object] | None = None
    ) -> None:
        self.limit = limit
        self._lock = lock if lock is not None else contextlib.nullcontext()
        self._entries: list[_Entry] = []  # least recently used first
        self._bytes = 0

    def take(self, size: int) -> mmap.mmap | None:
        """A pooled body of ``size`` bytes (a :func:`body_class`) that nothing refers to any
        more, or None."""
        with self._lock:
            entries = self._entries
            for i in range(len(entries)):  # not enumerate(): its tuple would add a reference
                body = entries[i].body
                # references: the entry, ``body``, getrefcount's argument
                if len(body) == size and sys.getrefcount(body) <= 3:
                    entry = entries.pop(i)
                    entry.used = time.monotonic()
                    entries.append(entry)
                    return body
        return None

    def offer(self, body: mmap.mmap) -> None:
        with self._lock:
            if any(e.body is body for e in self._entries):
                return
            self._entries.append(_Entry(body))
            self._bytes += len(body)
            while self._bytes > self.limit and self._entries:
                self._bytes -= len(self._entries.pop(0).body)

    def trim(self, max_idle: float) -> int:
        """Drop bodies not reused for ``max_idle`` seconds; returns the bytes dropped."""
        cutoff = time.monotonic() - max_idle
        with self._lock:
            keep = [e for e in self._entries if e.used >= cutoff]
            dropped = self._bytes - sum(len(e.body) for e in keep)
            self._entries = keep
            self._bytes -= dropped
        return dropped

    @property
    def nbytes(self) -> int:
        return self._bytes


class RecordDecoder:
    """Splits a byte stream into RPC records; see the module docstring."""

    def __init__(
        self,
        max_record_size: int = DEFAULT_MAX_RECORD,
        *,
        read_size: int = READ_BUFFER_SIZE,
        direct_threshold: int = DIRECT_THRESHOLD,
        pool: BodyPool | None = None,
    ) -> None:
        if direct_threshold < 1 or read_size < direct_threshold + 4:
            raise LocalProtocolError("read_size must hold a small record")
        self.max_record_size = max_record_size
        self._threshold = direct_threshold
        self._read_size = read_size
        self._pool = pool if pool is not None else BodyPool(OWN_POOL_BYTES)
        self._lease: bytearray | None = None  # read buffer handed out by get_buffer()
        self._carry = b""  # start of an incomplete fragment header (< 4 bytes)
        self._body: Body | None = None  # record being assembled (None: at a boundary)
        self._have = 0  # bytes of _body filled
        self._frag_left = 0  # bytes of the current fragment still to come
        self._frag_last = False
        self._direct = 0  # size of the _body view the last get_buffer() handed out
        self._ready: deque[memoryview] = deque()
        self._error: RemoteProtocolError | None = None

    @property
    def in_record(self) -> bool:
        """True while part of a record (or of a fragment header) is buffered."""
        return self._body is not None or bool(self._carry)

    @property
    def buffered_bytes(self) -> int:
        """Bytes of incomplete records held (what a memory budget should count)."""
        return self._have + len(self._carry) if self._body is not None else len(self._carry)

    @property
    def record_left(self) -> int:
        """Bytes the record being assembled still needs in its current fragment (0 at a
        boundary): what a memory budget lets it read to finish."""
        return self._frag_left if self._body is not None else 0

    @property
    def has_records(self) -> bool:
        """Whether complete records (or an error) wait to be taken with ``next_record``."""
        return bool(self._ready) or self._error is not None

    # ------------------------------------------------------------------ input

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Parse ``data`` (bytes that are not kept: whatever is buffered is copied)."""
        view = memoryview(data).cast("B")
        if self._error is None:
            try:
                self._parse(view, len(view))
            except RemoteProtocolError as exc:
                self._error = exc

    @property
    def buffer_is_direct(self) -> bool:
        """Whether the last ``get_buffer()`` view is the record's own memory (not a read buffer).

        A reader that fills the buffer in several steps (TLS: one record per step) should
        report each step while this is False, so the decoder can switch to the record's
        memory as soon as a large record's header is in, instead of copying.
        """
        return self._direct > 0

    def get_buffer(self) -> memoryview:
        """A writable buffer for ``recv_into``; report what was written with ``buffer_updated``
        (or give it back unused with ``release_buffer``)."""
        if self._body is not None and self._frag_left >= self._threshold:
            self.release_buffer()
            room = self._room()
            self._direct = room
            return memoryview(self._body)[self._have : self._have + room]
        self._direct = 0
        if self._lease is None:
            self._lease = lease_read_buffer(self._read_size)
        return memoryview(self._lease)

    def release_buffer(self) -> None:
        """Give back a read buffer that ``get_buffer()`` leased and nothing was read into."""
        lease, self._lease = self._lease, None
        if lease is not None:
            return_read_buffer(lease)

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
        lease = self._lease
        if lease is None or nbytes > len(lease):
            raise LocalProtocolError("buffer_updated() past the buffer given")
        record = self.take_whole(nbytes)  # the usual case, without the parser
        if record is not None:
            self._ready.append(record)
            return
        try:
            if self._error is None:
                try:
                    self._parse(memoryview(lease), nbytes)
                except RemoteProtocolError as exc:
                    self._error = exc
        finally:
            self.release_buffer()

    def take_whole(self, nbytes: int) -> memoryview | None:
        """The one record that ``nbytes`` written into a leased ``get_buffer()`` view hold
        exactly, when that view came at a record boundary with nothing queued: one small
        last fragment, header and all (what a client sends one request at a time). The record
        is copied out as ``buffer_updated`` would, and the lease is given back. None: nothing
        was done, and the caller reports the bytes with ``buffer_updated`` as usual."""
        lease = self._lease
        if (
            lease is None
            or nbytes < 4
            or self._body is not None
            or self._carry
            or self._ready
            or self._error is not None
        ):
            return None
        header = _HDR.unpack_from(lease)[0]
        length = nbytes - 4
        if (
            header != length | LAST_FRAGMENT
            or length >= self._threshold
            or length >= self.max_record_size
        ):
            return None
        record = memoryview(bytes(memoryview(lease)[4:nbytes]))
        self._lease = None  # release_buffer() inlined: a call is 13 bytecodes of a STAT's 1,982
        return_read_buffer(lease)
        return record

    def take_lone(self) -> memoryview | None:
        """The one complete record queued, when the decoder holds nothing else (no other
        record, no part of a next one, no error); else None, and nothing changes."""
        ready = self._ready
        if len(ready) != 1 or self._body is not None or self._carry or self._error is not None:
            return None
        return ready.popleft()

    # ------------------------------------------------------------------ output

    def next_record(self) -> memoryview | _NeedData:
        """The next complete record, ``NEED_DATA``, or ``RemoteProtocolError``."""
        if self._ready:
            return self._ready.popleft()
        if self._error is not None:
            raise self._error
        return NEED_DATA

    def unread_tail(self, minimum: int) -> int:
        """How many bytes of the record being assembled are still to come, if a reader may
        hand it up before they arrive (:meth:`detach`); else 0.

        Only for a record in its last fragment with at least ``minimum`` bytes to come and at
        least ``HEAD_BYTES`` here (an RPC call's header is at most 840 bytes, so it is whole),
        whose body already has room for all of it, with no finished record queued before it.
        """
        body = self._body
        if (
            body is None
            or not self._frag_last
            or self._frag_left < minimum
            or self._have < HEAD_BYTES
            or self._ready
            or self._error is not None
            or len(body) < self._have + self._frag_left
        ):
            return 0
        return self._frag_left

    def detach(self) -> memoryview:
        """The record being assembled, whole-size, its last ``unread_tail()`` bytes not yet
        written (the caller reads them into the view, or moves them elsewhere: the
        transport's ``tail.py``); the decoder is at a record boundary afterwards."""
        if not self.unread_tail(1):
            raise LocalProtocolError("detach() without a record to detach")
        body = self._body
        assert body is not None
        total = self._have + self._frag_left
        record = memoryview(body)[:total]
        if isinstance(body, mmap.mmap) and len(body) == body_class(total):
            self._pool.offer(body)
        self._body = None
        self._have = 0
        self._frag_left = 0
        return record

    # ------------------------------------------------------------------ parser

    def _finish(self) -> None:
        body = self._body
        assert body is not None
        self._ready.append(memoryview(body)[: self._have])
        if isinstance(body, mmap.mmap) and len(body) == body_class(self._have):
            self._pool.offer(body)
        self._body = None
        self._have = 0

    def _new_body(self, length: int, avail: int) -> Body:
        """The body of a record whose first fragment is ``length`` bytes, ``avail`` of them
        already here (see the module docstring: memory follows the bytes that arrived)."""
        if length >= self._threshold:
            size = body_class(length)
            pooled = self._pool.take(size)
            if pooled is not None:
                return pooled
            return _anon(min(size, EAGER_ALLOC))
        return bytearray(min(length, max(SMALL_STEP, avail)))

    def _room(self) -> int:
        """Contiguous free bytes in _body for the current fragment, growing it if needed.

        Growth makes a new body (views handed out by get_buffer() may still be alive, so no
        resize) at least twice as big, and never more than the fragment still needs.
        """
        body, have = self._body, self._have
        assert body is not None
        room = len(body) - have
        if room == 0:
            step = EAGER_ALLOC if have + self._frag_left >= self._threshold else SMALL_STEP
            room = min(self._frag_left, max(step, have))
            size = have + room
            grown: Body = _anon(size) if size >= self._threshold else bytearray(size)
            memoryview(grown)[:have] = memoryview(body)[:have]
            self._body = grown
        return min(room, self._frag_left)

    def _parse(self, view: memoryview, end: int) -> None:
        pos = 0
        if self._carry:
            pos = min(4 - len(self._carry), end)
            self._carry += bytes(view[:pos])
            if len(self._carry) < 4:
                return
            header = _HDR.unpack(self._carry)[0]
            self._carry = b""
            self._header(header, end - pos)
        while True:
            if self._body is not None and self._frag_left:
                if pos == end:
                    return
                n = min(end - pos, self._room())
                have = self._have
                memoryview(self._body)[have : have + n] = view[pos : pos + n]
                pos += n
                self._have = have + n
                self._frag_left -= n
                if self._frag_left == 0 and self._frag_last:
                    self._finish()
                continue
            if end - pos < 4:
                if pos < end:
                    self._carry = bytes(view[pos:end])
                return
            header = _HDR.unpack_from(view, pos)[0]
            length = header & 0x7FFFFFFF
            if (
                self._body is None
                and header >= LAST_FRAGMENT
                and length < self._threshold
                and end - pos - 4 >= length
                and length < self.max_record_size
            ):
                self._ready.append(memoryview(bytes(view[pos + 4 : pos + 4 + length])))
                pos += 4 + length
                continue
            pos += 4
            self._header(header, end - pos)

    def _header(self, header: int, avail: int) -> None:
        """A fragment header was parsed; ``avail`` bytes after it are at hand."""
        last = header >= LAST_FRAGMENT
        length = header & 0x7FFFFFFF
        total = self._have + length
        if total >= self.max_record_size:
            # RFC 5531 leaves the limit to the receiver; GlusterFS refuses >= 1 GiB.
            raise RemoteProtocolError(
                f"record of {total} bytes or more exceeds the limit of {self.max_record_size} bytes"
            )
        self._frag_last = last
        if self._body is None:
            self._body = self._new_body(length, avail)
        self._frag_left = length
        if length == 0 and last:
            self._finish()
