"""Running the developer tools in ``tools/`` from tests, on this tree's sources."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_tool(name: str, *args: str, timeout: float = 170) -> subprocess.CompletedProcess[str]:
    """``tools/<name> args...`` under this interpreter with ``src`` first on the path; its
    output captured as text, its exit status left to the caller."""
    return subprocess.run(
        [sys.executable, str(ROOT / "tools" / name), *args],
        env=dict(os.environ, PYTHONPATH=str(ROOT / "src")),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
