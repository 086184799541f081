"""Shared fixtures for all tests: golden fixtures and the whole / byte-at-a-time feeders."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from gfrpc.wire.record import NEED_DATA, RecordDecoder

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _load_hex(name: str) -> bytes:
    lines = (FIXTURES / f"{name}.hex").read_text().splitlines()
    return bytes.fromhex("".join(ln.strip() for ln in lines if not ln.startswith("#")))


def _drain(dec: RecordDecoder) -> list[bytes]:
    out = []
    while (rec := dec.next_record()) is not NEED_DATA:
        out.append(bytes(rec))  # type: ignore[arg-type]
    return out


def _whole(data: bytes) -> list[bytes]:
    dec = RecordDecoder()
    dec.receive_data(data)
    return _drain(dec)


def _bytewise(data: bytes) -> list[bytes]:
    dec = RecordDecoder()
    out: list[bytes] = []
    for i in range(len(data)):
        dec.receive_data(data[i : i + 1])
        out += _drain(dec)
    return out


@pytest.fixture
def golden() -> Callable[[str], bytes]:
    """Bytes of a tests/fixtures/NAME.hex capture (TCP payload, record mark included)."""
    return _load_hex


@pytest.fixture(params=["whole", "bytewise"])
def feed(request: pytest.FixtureRequest) -> Callable[[bytes], list[bytes]]:
    """Split a byte stream into records, fed to RecordDecoder whole or one byte at a time."""
    return _whole if request.param == "whole" else _bytewise
