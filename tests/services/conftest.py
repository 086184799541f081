"""Fixtures of the store-level brick tests: a brick directory where trusted.* xattrs work, and
a PosixStore over it. Modules that serve a whole brick define their own ``brick`` fixture,
which overrides this one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gfrpc.services.brick.store import PosixStore


@pytest.fixture
def brick(xattr_dir: Path) -> Path:
    """An empty brick directory (trusted.* xattrs work there; skipped where they do not)."""
    return xattr_dir


@pytest.fixture
def store(brick: Path) -> Iterator[PosixStore]:
    s = PosixStore(str(brick))
    yield s
    s.close()
