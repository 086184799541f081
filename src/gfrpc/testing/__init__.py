"""gfrpc's public test kit, in the manner of ``trio.testing``: what gfrpc's own tests use to
run the real thing beside gfrpc, offered to anyone who tests against GlusterFS.

* :mod:`gfrpc.testing.realgluster`: a private real GlusterFS 10 (glusterd, glusterfsd bricks,
  FUSE mounts), process helpers, and an RPC probe that is independent of gfrpc's stack.
* :mod:`gfrpc.testing.certs`: throwaway certificates in GlusterFS's layout.
* :func:`need` / :func:`in_ci`: the rule for a missing real peer: a skip on a laptop, a
  failure under ``CI=true``.

Only ``gfrpc.bench``, ``gfrpc.cli`` and tests may import this package (import-linter checks
it); the library itself never does. Nothing here imports pytest at import time.
"""

from __future__ import annotations

import os

__all__ = ["in_ci", "need"]


def in_ci() -> bool:
    """Whether this runs under CI (``CI`` set to 1/true/yes/on)."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes", "on")


def need(condition: object, reason: str) -> None:
    """Stop the current pytest test unless *condition* holds: ``pytest.fail`` under CI (a
    missing real peer is a failure there), ``pytest.skip`` otherwise."""
    if condition:
        return
    import pytest

    if in_ci():
        pytest.fail(
            f"interop prerequisite missing (CI=true, so this is a failure): {reason}", pytrace=False
        )
    pytest.skip(f"interop prerequisite missing: {reason}")
