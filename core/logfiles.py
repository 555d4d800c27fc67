"""One log file shared by several processes, rotated whole (issue 7).

``logging.handlers.RotatingFileHandler`` rotates per process: each one renames the file when
*its* count says so and keeps writing to the renamed file, so with a web process and schedulers
``logs/pulseguard.log`` splits into fragments and lines are lost when backups are overwritten.

``SharedRotatingFileHandler`` keeps one rule for every writer: each record is written holding
an exclusive ``flock`` on ``<file>.lock``; under the lock the handler first reopens the file if
another process rotated it away (the path names a different inode than its stream), then
decides on rotation from the file's real size (``RotatingFileHandler`` seeks to the end) and
writes. So whichever process crosses the size rotates, once, and everyone writes to the new
file from their next line on.
"""

from __future__ import annotations

import fcntl
import logging
import logging.handlers
import os
from typing import IO, Any


class SharedRotatingFileHandler(logging.handlers.RotatingFileHandler):
    def __init__(self, filename: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(filename, *args, **kwargs)
        self._lock_file: IO[str] | None = None
        self._lock_pid = 0

    def _lock(self) -> IO[str]:
        # Opened per process: a forked child must not share the parent's open file (and its lock).
        if self._lock_file is None or self._lock_pid != os.getpid():
            self._lock_file = open(f"{self.baseFilename}.lock", "a")  # noqa: SIM115 — held for the handler's life
            self._lock_pid = os.getpid()
        return self._lock_file

    def _reopen_if_rotated(self) -> None:
        if self.stream is None:
            return
        try:
            on_disk = os.stat(self.baseFilename)
        except FileNotFoundError:
            on_disk = None
        mine = os.fstat(self.stream.fileno())
        if on_disk is None or (on_disk.st_dev, on_disk.st_ino) != (mine.st_dev, mine.st_ino):
            self.stream.close()
            self.stream = self._open()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            lock = self._lock()
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                self._reopen_if_rotated()
                super().emit(record)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        except Exception:  # noqa: BLE001 — logging must never raise into the caller (stdlib's rule)
            self.handleError(record)

    def close(self) -> None:
        super().close()
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None
