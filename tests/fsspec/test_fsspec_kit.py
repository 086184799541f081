"""fsspec's own test kit (``fsspec.tests.abstract``: copy, get, put, open, pipe) against a
gfrpc volume: a suite that neither gfrpc nor GlusterFS wrote. Each test of the kit checks the
rule its own name says (e.g. ``test_copy_directory_to_existing_directory``)."""

from __future__ import annotations

import posixpath
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fsspec.tests import abstract

from gfrpc.fsspec import GlusterFileSystem

pytestmark = pytest.mark.timeout(60)


class GlusterKitFixtures(abstract.AbstractFixtures):  # type: ignore[misc]
    @pytest.fixture
    def fs(self, kit_cluster: Any) -> GlusterFileSystem:
        return GlusterFileSystem(**kit_cluster.options())

    @pytest.fixture
    def fs_join(self) -> Callable[..., str]:
        return posixpath.join

    @pytest.fixture
    def fs_path(self, fs: GlusterFileSystem) -> Iterator[str]:
        path = f"/kit-{uuid.uuid4().hex[:10]}"
        fs.makedirs(path)
        yield path
        fs.rm(path, recursive=True)

    @pytest.fixture
    def supports_empty_directories(self) -> bool:
        return True  # a GlusterFS directory exists on its own (unlike an object store's)


class TestGlusterCopy(abstract.AbstractCopyTests, GlusterKitFixtures):  # type: ignore[misc]
    pass


class TestGlusterGet(abstract.AbstractGetTests, GlusterKitFixtures):  # type: ignore[misc]
    pass


class TestGlusterPut(abstract.AbstractPutTests, GlusterKitFixtures):  # type: ignore[misc]
    pass


class TestGlusterOpen(abstract.AbstractOpenTests, GlusterKitFixtures):  # type: ignore[misc]
    pass


class TestGlusterPipe(abstract.AbstractPipeTests, GlusterKitFixtures):  # type: ignore[misc]
    pass
