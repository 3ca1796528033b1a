"""A cross-process lock file next to a download target.

``<target>.lock`` is created with ``O_CREAT | O_EXCL`` (atomic on local file
systems and on NFSv3+), so it works between processes, between
torch.distributed ranks on one machine, and between machines sharing a file
system. It holds the owner's host, PID and a random token; while held, a
heartbeat thread touches it. A lock is stale when its owner is a dead process
on this host, or when it has not been touched for ``stale_after`` seconds
(an owner on another host, or a reused PID). Stale locks are broken under a
short-lived ``.break`` lock so that two waiters cannot both break and then
delete each other's fresh lock.

A lock file is only ever read as a small regular file of the current user
(:mod:`safe_files`): a planted link, FIFO or another user's file is refused
with :class:`~zoo.registry.errors.CacheFileError`; garbage content or an
oversized file is judged by its age alone, like a lock being written.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from zoo.registry.errors import LockTimeoutError
from zoo.registry.safe_files import own_file, read_small
from zoo.registry.transport import printable

LOCK_SUFFIX = ".lock"
BREAK_SUFFIX = ".break"
#: What densenet-zoo writes into a lock is about 100 bytes.
LOCK_LIMIT = 4096
#: Linux's largest possible PID (``/proc/sys/kernel/pid_max`` cannot exceed it).
MAX_PID = 1 << 22


def _pid_alive(pid: int) -> bool:
    """False only when no process ``pid`` exists on this host (another user's process counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, owned by another user
        return True
    return True


class FileLock:
    """``with FileLock(target):`` — exclusive ownership of ``target`` across processes.

    ``timeout`` is how long to wait for another owner (``None``: forever);
    ``stale_after`` is the heartbeat age after which a lock is considered
    abandoned; ``poll_interval`` the wait between attempts.
    """

    def __init__(
        self,
        target: str | os.PathLike[str],
        timeout: float | None = 3600.0,
        stale_after: float = 120.0,
        poll_interval: float = 0.1,
        on_wait: Callable[[str], None] | None = None,
    ) -> None:
        target = Path(target)
        self.path = target.with_name(target.name + LOCK_SUFFIX)
        self.timeout = timeout
        self.stale_after = stale_after
        self.poll_interval = poll_interval
        self.on_wait = on_wait
        self.token = uuid.uuid4().hex
        self._heartbeat: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def owner(self) -> dict:
        """What this lock writes into the lock file: host, PID, its token and the time."""
        return {"host": socket.gethostname(), "pid": os.getpid(), "token": self.token, "created": time.time()}

    def acquire(self) -> None:
        """Wait until the lock file can be created (breaking stale ones), then keep it fresh.

        Raises :class:`LockTimeoutError` when another owner holds it longer than ``timeout``.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        told = False
        while True:
            if self._try_create():
                self._start_heartbeat()
                return
            holder = self._read_holder()
            if holder is not None and self._is_stale(holder):
                self._break(holder)
                continue
            if not told and self.on_wait is not None:
                self.on_wait(f"waiting for {self._describe(holder)}, which holds {self.path}")
                told = True
            if deadline is not None and time.monotonic() >= deadline:
                raise LockTimeoutError(
                    f"waited {self.timeout:.0f} s for {self.path} held by {self._describe(holder)}; "
                    "another process is still downloading. Wait for it, or delete the lock file if no such "
                    "process exists"
                )
            time.sleep(self.poll_interval)

    def release(self) -> None:
        """Stop the heartbeat and remove the lock file if it is still ours."""
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join()
            self._heartbeat = None
        holder = self._read_holder()
        if holder is not None and holder.get("token") == self.token:
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.release()

    def _try_create(self) -> bool:
        try:
            handle = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(handle, "w") as stream:
            json.dump(self.owner, stream)
        return True

    def _read_holder(self) -> dict | None:
        """The lock's content with its modification time, or None when there is no lock."""
        lock = read_small(self.path, LOCK_LIMIT)
        if lock is None:
            return None
        try:
            holder = json.loads(lock.content)
            if not isinstance(holder, dict):
                holder = {}
        except ValueError:
            holder = {}  # being written right now, or garbage: judged by age alone
        pid = holder.get("pid")
        if not (isinstance(pid, int) and not isinstance(pid, bool) and 0 < pid <= MAX_PID):
            holder.pop("pid", None)
        holder["mtime"] = lock.status.st_mtime
        return holder

    def _is_stale(self, holder: dict) -> bool:
        age = time.time() - holder["mtime"]
        same_host = holder.get("host") == socket.gethostname()
        if same_host and "pid" in holder and not _pid_alive(holder["pid"]):
            return True
        return age > self.stale_after

    def _break(self, holder: dict) -> None:
        """Remove a stale lock, making sure it is still the same stale lock."""
        guard = self.path.with_name(self.path.name + BREAK_SUFFIX)
        try:
            handle = os.open(guard, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except FileExistsError:
            status = own_file(guard)
            if status is not None and time.time() - status.st_mtime > 30.0:
                guard.unlink(missing_ok=True)  # a breaker died within its few milliseconds
            time.sleep(self.poll_interval)
            return
        os.close(handle)
        try:
            current = self._read_holder()
            if (
                current is not None
                and current.get("token") == holder.get("token")
                and current["mtime"] == holder["mtime"]
            ):
                self.path.unlink(missing_ok=True)
        finally:
            guard.unlink(missing_ok=True)

    def _start_heartbeat(self) -> None:
        self._stop.clear()
        interval = max(0.05, self.stale_after / 4)

        def beat() -> None:
            while not self._stop.wait(interval):
                try:
                    os.utime(self.path, follow_symlinks=False)
                except OSError:
                    return

        self._heartbeat = threading.Thread(target=beat, name=f"heartbeat {self.path.name}", daemon=True)
        self._heartbeat.start()

    @staticmethod
    def _describe(holder: dict | None) -> str:
        if not holder:
            return "an unknown process"
        return f"PID {holder.get('pid', '?')} on {printable(holder.get('host'), 100)}"
