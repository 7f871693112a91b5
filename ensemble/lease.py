"""One driver per store: a lease that a second driver respects and a dead one does not hold.

The driver that runs a sweep holds ``<work folder>/driver.lease`` (JSON: host, pid, the
process's start time, when it took the lease, its last heartbeat). Another driver of the same
store refuses to start while the lease is live, naming who holds it. A lease is dead when its
process is gone (same host: the pid no longer runs, or runs another program since) or when its
heartbeat is older than ``STALE_AFTER_S`` (another host, whose processes we cannot see); a dead
lease is taken over. ``mesosweep status`` shows the lease.

Taking a lease is race-free between drivers: it is created with ``O_EXCL``, and a dead one is
first renamed away (only one renamer succeeds) and checked to be the one that was judged dead.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from mesosweep.errors import StoreError

HEARTBEAT_S = 10.0  # how often the driver refreshes its heartbeat
STALE_AFTER_S = 120.0  # a heartbeat this old is a dead driver's (on another host)


@dataclass(frozen=True)
class Lease:
    """Who holds a store, and since when (UTC seconds since the epoch)."""

    host: str
    pid: int
    process_started: float  # the process's own start time: tells a recycled pid apart
    since: float
    heartbeat: float

    @classmethod
    def mine(cls) -> Lease:
        now = time.time()
        return cls(socket.gethostname(), os.getpid(), psutil.Process().create_time(), now, now)

    def alive(self, now: float | None = None) -> bool:
        """Is the holder still running? See the module's docstring."""
        if self.host == socket.gethostname():
            try:
                return abs(psutil.Process(self.pid).create_time() - self.process_started) < 1.0
            except psutil.Error:  # no such process (or not ours to see: then it is alive)
                return psutil.pid_exists(self.pid)
        return (now if now is not None else time.time()) - self.heartbeat < STALE_AFTER_S

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.since))
        return f"host {self.host}, pid {self.pid}, since {when}"


def read(path: Path) -> Lease | None:
    """The lease at ``path`` (None: none, or unreadable, which counts as none)."""
    try:
        return Lease(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _create(path: Path, lease: Lease) -> bool:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as fh:
        json.dump(asdict(lease), fh)
    return True


def acquire(path: Path, store: Path) -> Lease:
    """Take the lease of ``store`` at ``path``, or raise :class:`StoreError` naming its holder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mine = Lease.mine()
    for _ in range(3):  # another driver may take or drop it between our looks
        if _create(path, mine):
            return mine
        held = read(path)
        if held is not None and held.alive():
            raise StoreError(f"sweep.output: {store} is being run by another driver "
                             f"({held.describe()}); wait for it to finish, or stop it and "
                             "run this command again (mesosweep status shows its progress)")
        aside = path.with_name(f"{path.name}.dead.{mine.pid}")
        try:
            os.rename(path, aside)
        except FileNotFoundError:
            continue
        if read(aside) != held:  # we renamed a lease taken in between: give it back
            os.rename(aside, path)
            continue
        aside.unlink()
    raise StoreError(f"sweep.output: could not take the lease {path} of {store}: other drivers "
                     "keep taking it; run this command again")


def heartbeat(path: Path, lease: Lease) -> Lease:
    """Refresh our heartbeat (a rename over the file: readers never see half of it)."""
    fresh = Lease(lease.host, lease.pid, lease.process_started, lease.since, time.time())
    tmp = path.with_name(f"{path.name}.{lease.pid}.tmp")
    tmp.write_text(json.dumps(asdict(fresh)))
    os.replace(tmp, path)
    return fresh


def release(path: Path, lease: Lease) -> None:
    """Give the lease back, if it is still ours."""
    held = read(path)
    if held is not None and (held.host, held.pid) == (lease.host, lease.pid):
        path.unlink(missing_ok=True)
