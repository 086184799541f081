"""Test-side support of the interop harness: the CI rule ``need()``, plus everything of
:mod:`gfrpc.bench.realgluster_support` (constants, process helpers, RPC probe, TLS material),
re-exported so that ``from gluster_support import ...`` keeps working.

The launcher itself lives in the package (``gfrpc.bench.realgluster``) so benchmarks can use
it; it raises ``GlusterUnavailable`` where this module's ``need()`` skips or fails a test.
``conftest.py`` turns that exception into ``need(False, reason)``.
"""

from __future__ import annotations

import os

import pytest

from gfrpc.bench.realgluster_support import *  # noqa: F403  (re-exported for the tests)
from gfrpc.bench.realgluster_support import (  # noqa: F401  (names the tests import)
    BRICK_PORT_RANGE,
    CLI_TIMEOUT,
    GLUSTERD_ADDRESS,
    GLUSTERD_PORT,
    LOG_DIR,
    START_TIMEOUT,
    SYSTEM_WORKDIR,
    TMP_PREFIX,
    VOLUME_LOG_SUBDIRS,
    GlusterError,
    GlusterUnavailable,
    TLSMaterial,
    brick_log_path,
)

# --------------------------------------------------------------------------------------------
# "In CI a missing peer is a failure, not a skip"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes", "on")


def need(condition: object, reason: str) -> None:
    """Stop the test unless ``condition`` holds: ``pytest.fail`` when CI is set, else skip."""
    if condition:
        return
    if in_ci():
        pytest.fail(
            f"interop prerequisite missing (CI=true, so this is a failure): {reason}", pytrace=False
        )
    pytest.skip(f"interop prerequisite missing: {reason}")
