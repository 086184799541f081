"""gfrpc.bench.procstat: /proc readings and the hash-directory exclusion used by the soak."""

from __future__ import annotations

import os

from gfrpc.bench.procstat import (
    HASH_DIR_CACHE,
    cpu_ticks,
    fd_count,
    percentile,
    rss_bytes,
    settled_fd_count,
    steal_share,
    thread_count,
)


def test_own_readings_are_plausible():
    """Rule: RSS, threads and fds of this process come from /proc and are positive."""
    assert rss_bytes() > 1 << 20
    assert thread_count() >= 1
    assert fd_count() >= 3


def test_machine_ticks_and_the_stolen_share():
    """Rule: /proc/stat's steal ticks are part of all ticks and never go back; the stolen
    share is steal's part of the ticks between two readings, None when none passed."""
    steal0, all0 = cpu_ticks()
    assert 0 <= steal0 <= all0 and all0 > 0
    while cpu_ticks()[1] == all0:  # spin until the machine's clock ticks
        pass
    steal1, all1 = cpu_ticks()
    assert steal1 >= steal0 and all1 > all0
    assert steal_share((10, 1000), (40, 1100)) == 0.3
    assert steal_share((10, 1000), (10, 1000)) is None
    assert steal_share((10, 1000), (5, 1100)) == 0.0  # a counter never goes back: clamp


def test_hash_dir_cache_is_excluded_and_nothing_else(tmp_path):
    """Rule: only descriptors of first-level .glusterfs/xx directories are left out; a file
    or a deeper handle under .glusterfs still counts (a leaked file fd must show)."""
    level1 = tmp_path / ".glusterfs" / "ab"
    level2 = level1 / "cd"
    level2.mkdir(parents=True)
    handle = level2 / "0123"
    handle.write_bytes(b"x")
    base_counted, base_excluded = settled_fd_count("self", exclude=HASH_DIR_CACHE, timeout=0.2)
    fds = [
        os.open(level1, os.O_RDONLY | os.O_DIRECTORY),
        os.open(level2, os.O_RDONLY),
        os.open(handle, os.O_RDONLY),
    ]
    try:
        counted, excluded = settled_fd_count("self", exclude=HASH_DIR_CACHE, timeout=0.2)
        assert (counted - base_counted, excluded - base_excluded) == (2, 1)
        assert fd_count("self", exclude=HASH_DIR_CACHE) == counted
    finally:
        for fd in fds:
            os.close(fd)


def test_percentile_nearest_rank():
    """Rule: nearest-rank quantiles: p50 of 1..100 is 50, p99 is 99, p100 the max."""
    v = list(range(1, 101))
    assert (percentile(v, 0.5), percentile(v, 0.99), percentile(v, 1.0)) == (50, 99, 100)
    assert percentile([], 0.99) == 0.0
