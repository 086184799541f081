"""Mutations of valid RPC records: what a hostile or broken peer sends instead.

Theory of operation. Random bytes rarely get past the first check of a decoder (the RPC
header), so the campaign starts from VALID records and breaks them a little, the way
AFL-style fuzzers do. XDR is a sequence of big-endian 32-bit words, and the dangerous words
are lengths and counts, so most mutations act on aligned words:

* ``flip``: flip 1-4 random bits;
* ``byte``: set a random byte to an interesting value (0, 0xff, 0x7f, 0x80, 1);
* ``word``: set an aligned word to an interesting 32-bit value (0, 1, 0x7fffffff,
  0x80000000, 0xffffffff, a small length, the record length, -1, -2);
* ``inflate``: add a small or a large amount to an aligned word (a length that now points
  past the end, or a count far larger than the message);
* ``truncate``: cut the record short (at a random point, or on a word boundary);
* ``extend``: append random or zero bytes (trailing garbage);
* ``splice``: the head of this record with the tail of another valid record;
* ``delete`` / ``duplicate``: remove or repeat an aligned chunk (shifts every later field).

``mutate`` applies 1 to 3 of them. The RPC header itself (its length is given) is mutated less
often than the arguments (``header_weight``), so most inputs reach the program decoders
instead of only the header check. Everything is driven by a ``random.Random`` so a campaign
replays from its seed.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable, Sequence

__all__ = ["Mutator", "INTERESTING_WORDS", "MUTATIONS"]

INTERESTING_WORDS = (
    0,
    1,
    2,
    3,
    4,
    0x10,
    0x100,
    0x1000,
    0xFFFF,
    0x10000,
    0x7FFFFFFF,
    0x80000000,
    0xFFFFFFFF,
    0xFFFFFFFE,
    0x3FFFFFFF,
    400,
    401,
    1 << 20,
)
_BYTES = (0, 1, 0x7F, 0x80, 0xFF, 0x2E, 0x2F)  # ... and '.', '/' (path tricks)
_HEADER = 40  # default header length (a CALL with AUTH_NULL cred and verf is 40 bytes)


class Mutator:
    """Applies random mutations to records; deterministic for a given ``random.Random``."""

    def __init__(self, rng: random.Random, header_weight: float = 0.08) -> None:
        self.rng = rng
        self.header_weight = header_weight
        self.header = _HEADER
        self.ops: list[tuple[str, Callable[[bytearray, Sequence[bytes]], bytearray]]] = [
            ("flip", self._flip),
            ("byte", self._byte),
            ("word", self._word),
            ("word", self._word),
            ("inflate", self._inflate),
            ("inflate", self._inflate),
            ("truncate", self._truncate),
            ("extend", self._extend),
            ("splice", self._splice),
            ("delete", self._delete),
            ("duplicate", self._duplicate),
        ]

    def mutate(
        self, record: bytes, others: Sequence[bytes] = (), header: int = _HEADER
    ) -> tuple[bytes, str]:
        """A mutated copy of ``record`` and the names of the mutations applied; the first
        ``header`` bytes (the RPC header) are hit with probability ``header_weight`` only."""
        self.header = header
        data = bytearray(record)
        names = []
        for _ in range(self.rng.choice((1, 1, 1, 2, 2, 3))):
            name, op = self.rng.choice(self.ops)
            data = op(data, others)
            names.append(name)
        return bytes(data), "+".join(names)

    # -- positions ------------------------------------------------------------------------------
    def _pos(self, n: int) -> int:
        """A byte position: in the header with ``header_weight``, else in the arguments."""
        head = self.header
        if n <= head or self.rng.random() < self.header_weight:
            return self.rng.randrange(max(min(n, head), 1))
        return self.rng.randrange(head, n)

    def _word_pos(self, n: int) -> int | None:
        if n < 4:
            return None
        return min(self._pos(n) & ~3, n - 4)

    # -- mutations ------------------------------------------------------------------------------
    def _flip(self, d: bytearray, _o: Sequence[bytes]) -> bytearray:
        if d:
            for _ in range(self.rng.randint(1, 4)):
                d[self._pos(len(d))] ^= 1 << self.rng.randrange(8)
        return d

    def _byte(self, d: bytearray, _o: Sequence[bytes]) -> bytearray:
        if d:
            d[self._pos(len(d))] = self.rng.choice(_BYTES)
        return d

    def _word(self, d: bytearray, _o: Sequence[bytes]) -> bytearray:
        pos = self._word_pos(len(d))
        if pos is not None:
            value = self.rng.choice((*INTERESTING_WORDS, len(d), len(d) - pos, len(d) + 4))
            struct.pack_into(">I", d, pos, value & 0xFFFFFFFF)
        return d

    def _inflate(self, d: bytearray, _o: Sequence[bytes]) -> bytearray:
        pos = self._word_pos(len(d))
        if pos is not None:
            old = struct.unpack_from(">I", d, pos)[0]
            delta = self.rng.choice((1, 3, 4, 8, 64, 4096, 1 << 16, 1 << 24, 1 << 30))
            struct.pack_into(">I", d, pos, (old + delta) & 0xFFFFFFFF)
        return d

    def _truncate(self, d: bytearray, _o: Sequence[bytes]) -> bytearray:
        if len(d) > 1:
            cut = self._pos(len(d))
            if self.rng.random() < 0.5:
                cut &= ~3
            del d[cut:]
        return d

    def _extend(self, d: bytearray, _o: Sequence[bytes]) -> bytearray:
        n = self.rng.choice((1, 3, 4, 8, 16, 100))
        d += bytes(n) if self.rng.random() < 0.5 else self.rng.randbytes(n)
        return d

    def _splice(self, d: bytearray, others: Sequence[bytes]) -> bytearray:
        if not others:
            return self._truncate(d, others)
        other = self.rng.choice(others)
        cut_a = self._pos(len(d)) & ~3 if d else 0
        cut_b = self.rng.randrange(len(other) + 1) & ~3
        return bytearray(d[:cut_a] + other[cut_b:])

    def _delete(self, d: bytearray, _o: Sequence[bytes]) -> bytearray:
        pos = self._word_pos(len(d))
        if pos is not None:
            del d[pos : pos + 4 * self.rng.randint(1, 4)]
        return d

    def _duplicate(self, d: bytearray, _o: Sequence[bytes]) -> bytearray:
        pos = self._word_pos(len(d))
        if pos is not None:
            chunk = d[pos : pos + 4 * self.rng.randint(1, 4)]
            d[pos:pos] = chunk * self.rng.randint(1, 3)
        return d


MUTATIONS = (
    "flip",
    "byte",
    "word",
    "inflate",
    "truncate",
    "extend",
    "splice",
    "delete",
    "duplicate",
)
