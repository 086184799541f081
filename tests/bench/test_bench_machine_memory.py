"""The bench's probe for memory taken back behind the processes' backs (a virtio-balloon with
free page reporting, a running DAMON that pages out), over a made-up ``/sys``."""

from __future__ import annotations

from pathlib import Path

from gfrpc.bench.experiment.machine import memory_reclaim, memory_reclaim_note


def virtio_device(sysfs: Path, name: str, driver: str, features: str) -> None:
    drivers = sysfs / "bus" / "virtio" / "drivers" / driver
    drivers.mkdir(parents=True, exist_ok=True)
    dev = sysfs / "bus" / "virtio" / "devices" / name
    dev.mkdir(parents=True)
    (dev / "driver").symlink_to(drivers)
    (dev / "features").write_text(features + "\n")


def kdamond(sysfs: Path, index: int, state: str, actions: list[str]) -> None:
    kd = sysfs / "kernel" / "mm" / "damon" / "admin" / "kdamonds" / str(index)
    (kd / "contexts" / "0" / "schemes").mkdir(parents=True)
    (kd / "state").write_text(state + "\n")
    for i, action in enumerate(actions):
        scheme = kd / "contexts" / "0" / "schemes" / str(i)
        scheme.mkdir()
        (scheme / "action").write_text(action + "\n")


def test_a_balloon_that_reports_free_pages_and_a_paging_damon_are_named(tmp_path: Path) -> None:
    """Rule: feature bit 5 (VIRTIO_BALLOON_F_REPORTING) of a device bound to virtio_balloon,
    and a kdamond that is on with a pageout scheme, are each named once; the note names them
    and says that this is not steal time."""
    virtio_device(tmp_path, "virtio0", "virtio_net", "0" * 5 + "1" + "0" * 58)
    virtio_device(tmp_path, "virtio1", "virtio_balloon", "011001010" + "0" * 55)
    kdamond(tmp_path, 0, "on", ["stat", "pageout"])
    found = memory_reclaim(tmp_path)
    assert found == ["virtio-balloon free page reporting", "DAMON pageout"]
    note = memory_reclaim_note(found)
    assert "virtio-balloon free page reporting, DAMON pageout" in note and "not steal" in note


def test_nothing_is_named_without_the_feature_or_when_damon_is_off(tmp_path: Path) -> None:
    """Rule: a balloon without bit 5, a bit 5 on another driver's device, a kdamond that is
    off or only monitors, and a /sys without these directories are all silent."""
    assert memory_reclaim(tmp_path) == []
    virtio_device(tmp_path, "virtio0", "virtio_balloon", "01100" + "0" * 59)
    virtio_device(tmp_path, "virtio1", "virtio_blk", "000001" + "0" * 58)
    kdamond(tmp_path, 0, "off", ["pageout"])
    kdamond(tmp_path, 1, "on", ["stat", "lru_prio"])
    assert memory_reclaim(tmp_path) == []
