"""Errors of the client API: every failed file operation is an ``OSError`` with the brick's errno.

``OSError(errno, strerror, path)`` is what Python's own ``open``/``os`` functions raise, and its
constructor picks the matching subclass (``FileNotFoundError`` for ENOENT, ``PermissionError``
for EACCES, ``FileExistsError``, ``IsADirectoryError``, ...), so callers use the usual
``except FileNotFoundError``. The wire carries Linux errno values (GlusterFS's
``gf_errno_to_error`` is the identity on Linux).
"""

from __future__ import annotations

import errno as _errno
import os

__all__ = ["NameMissing", "fop_error", "is_stale"]


def fop_error(code: int, path: str | None = None, what: str | None = None) -> OSError:
    """The OSError (subclass) for a brick's ``op_errno``; ``what`` is appended to the text."""
    code = code or _errno.EIO
    text = os.strerror(code)
    if what:
        text = f"{text} ({what})"
    if path is None:
        return OSError(code, text)
    return OSError(code, text, path)


class NameMissing(FileNotFoundError):
    """ENOENT for a name that a directory known to be current lacks (``Namespace``'s
    ``miss_trust``): an answer, not a sign that a cached gfid went stale."""


def is_stale(exc: BaseException) -> bool:
    """True for the errors that mean "the cached gfid no longer names this path"."""
    return (
        isinstance(exc, OSError)
        and exc.errno in (_errno.ENOENT, _errno.ESTALE)
        and not isinstance(exc, NameMissing)
    )
