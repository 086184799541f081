"""Running the same drawn call sequences on glusterfsd and on the gfrpc brick, and saying
where their answers first part (tests/interop/test_differential_interop.py and the random
lock sequences of test_lock_semantics_interop.py)."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

Plan = Sequence[Any]


def first_differences(
    seed: int,
    sequences: int,
    draw: Callable[[random.Random], Plan],
    theirs: Callable[[Plan], Sequence[object]],
    mine: Callable[[Plan], Sequence[object]],
    only: int | None = None,
) -> list[str]:
    """Draw ``sequences`` plans from ``seed``, run each on glusterfsd (``theirs``) and gfrpc
    (``mine``), and list each sequence's first call whose answers differ. With ``only``, run
    that sequence alone and list every call with both answers (``!=`` where they differ)."""
    rng = random.Random(seed)
    lines = []
    for n in range(sequences):
        plan = draw(rng)  # drawn even when skipped, so that sequence n is always the same
        if only is not None and n != only:
            continue
        for i, (step, t, m) in enumerate(zip(plan, theirs(plan), mine(plan), strict=True)):
            if only is not None:
                lines.append(f"{'  ' if t == m else '!='} {i} {step}: {t} {m}")
            elif t != m:
                lines.append(f"sequence {n} call {i} {step}: glusterfsd {t}, gfrpc {m}")
                break
    return lines
