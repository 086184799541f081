"""The management daemon's volume store: volumes, bricks, options and volume ids in SQLite.

Theory of operation. Everything a volume command changes lives in one SQLite file under the
daemon's work directory, and every command is **one transaction**: ``create_volume`` writes the
volume row, its bricks and its options and commits once, so a daemon killed at any instant
(``kill -9``, a power cut) comes back with the whole volume or none of it. The file runs in WAL
mode with ``synchronous=FULL``: a commit is on disk when ``COMMIT`` returns, and the frames of a
transaction that never committed are ignored when the file is next opened.

Writers start with ``BEGIN IMMEDIATE``, which takes the database's write lock before reading
anything, so the checks a command makes ("no volume of that name yet", "this brick is free")
and the change it makes are one atomic step, across threads and processes alike: of two
``volume create`` of one name, the second waits for the first to commit and then finds the
name taken. (The primary keys would refuse a duplicate anyway; the lock makes the refusal the
"already exists" error that glusterd gives.) Each ``VolumeStore`` has one connection, used by
one thread at a time under a lock.

Failures raise :class:`VolumeStateError` (``op_errno`` plus glusterd's own message, as the
CLI prints it after "failed: ": see glusterd-volume-ops.c and glusterd.h at v10.3, checked
against ``tests/fixtures/cli``).

Fault injection: the ``fault`` callable given to the store is called with the name of each step
of a transaction (``"create:begin"`` ... ``"create:commit"``, ``"create:committed"``). A test
makes it raise, or end the process with ``os._exit``, at each step in turn, and checks what a
reopened store holds. :meth:`VolumeStore.steps` lists the steps a command goes through.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from gfrpc.errors import ConfigError, GfrpcError
from gfrpc.programs.cli import ClusterType, GlusterdErrno, VolumeStatus, validate_volume_name
from gfrpc.services.mgmt.registry import BrickRef

__all__ = [
    "STATE_FILE",
    "Brick",
    "Volume",
    "VolumeStore",
    "VolumeStateError",
    "VolumeExistsError",
    "NoSuchVolumeError",
    "Fault",
    "NODE_FILE",
    "node_uuid",
]

STATE_FILE: Final = "volumes.sqlite"
NODE_FILE: Final = "glusterd.info"  # this node's UUID, in glusterd's own file format
SCHEMA_VERSION: Final = 1
BUSY_TIMEOUT_S: Final = 30.0  # how long a writer waits for another one's transaction

#: Called with the name of each step of a transaction (fault injection in tests).
Fault = Callable[[str], None]

_SCHEMA = """
CREATE TABLE volumes (
    name       TEXT PRIMARY KEY,
    volume_id  TEXT NOT NULL UNIQUE,
    type       INTEGER NOT NULL,
    transport  TEXT NOT NULL,
    status     INTEGER NOT NULL
);
CREATE TABLE bricks (
    volume     TEXT NOT NULL REFERENCES volumes(name) ON DELETE CASCADE,
    idx        INTEGER NOT NULL,
    host       TEXT NOT NULL,
    path       TEXT NOT NULL,
    port       INTEGER NOT NULL DEFAULT 0,
    pid        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (volume, idx),
    UNIQUE (host, path)
);
CREATE TABLE options (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    volume     TEXT NOT NULL REFERENCES volumes(name) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    UNIQUE (volume, key)
);
"""


def node_uuid(workdir: str | Path) -> uuid.UUID:
    """This node's UUID, kept in ``DIR/glusterd.info`` (``UUID=...`` as glusterd writes it):
    read it, or make one and write the file atomically (a new file renamed into place)."""
    path = Path(workdir) / NODE_FILE
    try:
        for line in path.read_text(encoding="ascii").splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "UUID":
                return uuid.UUID(value.strip())
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot read this node's UUID from {path}: {e}") from None
    made = uuid.uuid4()
    tmp = path.with_name(f".{NODE_FILE}.{os.getpid()}")
    try:
        with open(tmp, "w", encoding="ascii") as f:
            f.write(f"UUID={made}\noperating-version=100000\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        raise ConfigError(f"cannot write this node's UUID to {path}: {e}") from None
    return made


class VolumeStateError(GfrpcError):
    """A volume command refused: ``str(e)`` is glusterd's message, ``op_errno`` its errno."""

    def __init__(self, message: str, op_errno: int = GlusterdErrno.INTRNL) -> None:
        super().__init__(message)
        self.op_errno = op_errno


class VolumeExistsError(VolumeStateError):
    """``volume create`` of a name that is taken (glusterd answers op_errno 0)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"Volume {name} already exists", 0)  # glusterd-volume-ops.c


class NoSuchVolumeError(VolumeStateError):
    """A command on a volume that does not exist (FMTSTR_CHECK_VOL_EXISTS)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"Volume {name} does not exist")


@dataclass(frozen=True)
class Brick:
    """A brick of a volume, in the volume's order; ``port``/``pid`` 0 when not running."""

    host: str
    path: str
    port: int = 0
    pid: int = 0

    def __str__(self) -> str:
        return f"{self.host}:{self.path}"


@dataclass(frozen=True)
class Volume:
    """One volume as stored; ``options`` in the order they were first set."""

    name: str
    volume_id: uuid.UUID
    type: ClusterType
    transport: str
    status: VolumeStatus
    bricks: tuple[Brick, ...]
    options: Mapping[str, str] = field(default_factory=dict)


def _contains(a: str, b: str) -> bool:
    """True when directory ``a`` is ``b`` or one of its ancestors (paths compared as text)."""
    a, b = a.rstrip("/") or "/", b.rstrip("/") or "/"
    return a == b or b.startswith(a if a.endswith("/") else a + "/")


class VolumeStore:
    """The volume store of one work directory (``DIR/volumes.sqlite``); see the module notes."""

    def __init__(self, workdir: str | Path, *, fault: Fault | None = None) -> None:
        self.path = Path(workdir) / STATE_FILE
        self.fault = fault
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as e:
            raise ConfigError(f"cannot open the volume store {self.path}: {e}") from None
        self._db.execute("PRAGMA foreign_keys = ON")
        self._db.execute("PRAGMA synchronous = FULL")
        if self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0] != "wal":
            raise ConfigError(f"{self.path}: SQLite refused WAL mode")
        self._migrate()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> VolumeStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _migrate(self) -> None:
        """Create the tables in a new file (once, even when several processes open it)."""
        if self._db.execute("PRAGMA user_version").fetchone()[0] == 0:
            with self._transaction("open"):
                if self._db.execute("PRAGMA user_version").fetchone()[0] == 0:
                    for stmt in _SCHEMA.split(";"):
                        if stmt.strip():
                            self._db.execute(stmt)
                    self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version != SCHEMA_VERSION:
            raise ConfigError(
                f"{self.path}: volume store schema {version}, this gfrpc knows {SCHEMA_VERSION}"
            )

    # ---- transactions --------------------------------------------------------------------

    def _step(self, name: str) -> None:
        if self.fault is not None:
            self.fault(name)

    @contextlib.contextmanager
    def _transaction(self, command: str) -> Iterator[None]:
        """One write transaction: BEGIN IMMEDIATE ... COMMIT, rolled back on any exception."""
        with self._lock:
            self._step(f"{command}:begin")
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
                self._step(f"{command}:commit")
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            self._step(f"{command}:committed")

    @staticmethod
    def steps(command: str, bricks: int = 1, options: int = 0) -> list[str]:
        """The fault-injection steps of ``command`` ("create", "start", "stop", "set",
        "reset", "delete", "brick") in order, for ``bricks`` bricks and ``options`` options."""
        body: list[str] = []
        if command == "create":
            body = ["create:checked", "create:volume"]
            body += [f"create:brick:{i}" for i in range(bricks)]
            body += [f"create:option:{i}" for i in range(options)]
        return [f"{command}:begin", *body, f"{command}:commit", f"{command}:committed"]

    def _require(self, name: str) -> VolumeStatus:
        row = self._db.execute("SELECT status FROM volumes WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NoSuchVolumeError(name)
        return VolumeStatus(row[0])

    # ---- commands ------------------------------------------------------------------------

    def create_volume(
        self,
        name: str,
        bricks: Sequence[BrickRef],
        *,
        volume_id: uuid.UUID | None = None,
        type: ClusterType = ClusterType.NONE,
        transport: str = "tcp",
        options: Mapping[str, str] | None = None,
    ) -> Volume:
        """Create a volume (status Created) with its bricks and options, all or nothing.

        Refuses a taken name (:class:`VolumeExistsError`) and a brick that is, contains or is
        contained by a brick of any volume or another brick of this one (glusterd's "not
        available" check, on the paths as given: the store does not look at the disk)."""
        try:
            validate_volume_name(name)
        except ConfigError as e:
            raise VolumeStateError(str(e)) from None
        if not bricks:
            raise VolumeStateError("a volume needs at least one brick")
        vid = volume_id or uuid.uuid4()
        opts = dict(options or {})
        with self._transaction("create"):
            taken = self._db.execute("SELECT 1 FROM volumes WHERE name = ?", (name,)).fetchone()
            if taken:
                raise VolumeExistsError(name)
            self._check_bricks_free(bricks)
            self._step("create:checked")
            self._db.execute(
                "INSERT INTO volumes (name, volume_id, type, transport, status) "
                "VALUES (?, ?, ?, ?, ?)",
                (name, str(vid), int(type), transport, int(VolumeStatus.CREATED)),
            )
            self._step("create:volume")
            for i, b in enumerate(bricks):
                self._db.execute(
                    "INSERT INTO bricks (volume, idx, host, path) VALUES (?, ?, ?, ?)",
                    (name, i, b.host, b.path),
                )
                self._step(f"create:brick:{i}")
            for i, (key, value) in enumerate(opts.items()):
                self._db.execute(
                    "INSERT INTO options (volume, key, value) VALUES (?, ?, ?)", (name, key, value)
                )
                self._step(f"create:option:{i}")
        made = tuple(Brick(b.host, b.path) for b in bricks)
        return Volume(name, vid, type, transport, VolumeStatus.CREATED, made, opts)

    def _check_bricks_free(self, bricks: Sequence[BrickRef]) -> None:
        seen: list[tuple[str, str]] = []
        for b in bricks:
            others = self._db.execute("SELECT path FROM bricks WHERE host = ?", (b.host,))
            clash = [p for (p,) in others] + [p for h, p in seen if h == b.host]
            if any(_contains(p, b.path) or _contains(b.path, p) for p in clash):
                raise VolumeStateError(
                    f"Brick: {b.host}:{b.path} not available. Brick may be containing or be "
                    "contained by an existing brick."
                )  # glusterd-utils.c, glusterd_new_brick_validate
            seen.append((b.host, b.path))

    def start_volume(self, name: str, *, force: bool = False) -> None:
        """Mark a volume Started; without ``force`` it must not be started already."""
        with self._transaction("start"):
            if self._require(name) == VolumeStatus.STARTED and not force:
                raise VolumeStateError(f"Volume {name} already started")
            self._set_status(name, VolumeStatus.STARTED)

    def stop_volume(self, name: str, *, force: bool = False) -> None:
        """Mark a volume Stopped and forget its bricks' ports and pids; without ``force`` it
        must be started."""
        with self._transaction("stop"):
            if self._require(name) != VolumeStatus.STARTED and not force:
                raise VolumeStateError(f"Volume {name} is not in the started state")
            self._set_status(name, VolumeStatus.STOPPED)
            self._db.execute("UPDATE bricks SET port = 0, pid = 0 WHERE volume = ?", (name,))

    def _set_status(self, name: str, status: VolumeStatus) -> None:
        self._db.execute("UPDATE volumes SET status = ? WHERE name = ?", (int(status), name))

    def delete_volume(self, name: str) -> None:
        """Delete a volume that is not started, with its bricks and options."""
        with self._transaction("delete"):
            if self._require(name) == VolumeStatus.STARTED:
                raise VolumeStateError(
                    f"Volume {name} has been started.Volume needs to be stopped before deletion."
                )  # sic: glusterd-volume-ops.c has no space after the period
            self._db.execute("DELETE FROM volumes WHERE name = ?", (name,))

    def set_options(self, name: str, options: Mapping[str, str]) -> None:
        """Set options (one ``volume set`` may carry several pairs); a key set again keeps its
        place in the order."""
        with self._transaction("set"):
            self._require(name)
            for key, value in options.items():
                self._db.execute(
                    "INSERT INTO options (volume, key, value) VALUES (?, ?, ?) "
                    "ON CONFLICT (volume, key) DO UPDATE SET value = excluded.value",
                    (name, key, value),
                )

    def set_option(self, name: str, key: str, value: str) -> None:
        """Set one option."""
        self.set_options(name, {key: value})

    def reset_options(
        self, name: str, key: str | None = None, *, keep: Sequence[str] = ()
    ) -> list[str]:
        """Remove option ``key``, or every option but ``keep`` when ``key`` is None; returns
        the keys removed."""
        with self._transaction("reset"):
            self._require(name)
            rows = self._db.execute(
                "SELECT key FROM options WHERE volume = ? ORDER BY seq", (name,)
            ).fetchall()
            gone = [k for (k,) in rows if (k == key if key is not None else k not in keep)]
            self._db.executemany(
                "DELETE FROM options WHERE volume = ? AND key = ?", [(name, k) for k in gone]
            )
        return gone

    def reset_option(self, name: str, key: str) -> bool:
        """Remove one option; True when it was set."""
        return bool(self.reset_options(name, key))

    def set_brick_process(self, name: str, path: str, *, port: int, pid: int) -> None:
        """Record the port and pid a brick of ``name`` (by path) runs with; 0/0 when it stopped."""
        with self._transaction("brick"):
            self._require(name)
            cur = self._db.execute(
                "UPDATE bricks SET port = ?, pid = ? WHERE volume = ? AND path = ?",
                (port, pid, name, path),
            )
            if cur.rowcount != 1:
                raise VolumeStateError(f"brick: {path} does not exist in volume: {name}")

    # ---- queries ---------------------------------------------------------------------------

    def volume_names(self) -> list[str]:
        """Every volume name, sorted (glusterd keeps its volume list ordered by name)."""
        with self._lock:
            return [n for (n,) in self._db.execute("SELECT name FROM volumes ORDER BY name")]

    def get_volume(self, name: str) -> Volume:
        """One volume, read in one snapshot; :class:`NoSuchVolumeError` when absent."""
        with self._lock, self._read():
            row = self._db.execute(
                "SELECT volume_id, type, transport, status FROM volumes WHERE name = ?", (name,)
            ).fetchone()
            if row is None:
                raise NoSuchVolumeError(name)
            bricks = tuple(
                Brick(*r)
                for r in self._db.execute(
                    "SELECT host, path, port, pid FROM bricks WHERE volume = ? ORDER BY idx",
                    (name,),
                )
            )
            options = dict(
                self._db.execute(
                    "SELECT key, value FROM options WHERE volume = ? ORDER BY seq", (name,)
                ).fetchall()
            )
        vid, vtype, transport, status = row
        status_ = VolumeStatus(status)
        return Volume(name, uuid.UUID(vid), ClusterType(vtype), transport, status_, bricks, options)

    def volumes(self) -> list[Volume]:
        """Every volume, sorted by name (one deleted meanwhile is left out)."""
        out = []
        for n in self.volume_names():
            with contextlib.suppress(NoSuchVolumeError):
                out.append(self.get_volume(n))
        return out

    @contextlib.contextmanager
    def _read(self) -> Iterator[None]:
        """A read transaction: the queries inside see one committed state."""
        self._db.execute("BEGIN")
        try:
            yield
        finally:
            self._db.execute("COMMIT")
