"""Bounded admission: requests beyond capacity are refused at once (BUSY), never queued forever.

Keeping the number of blocked request handlers bounded is also what keeps executor threads free
for the camera and TF callbacks.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from roborefer_ros.core.status import RefPointError, Status


class AdmissionGate:
    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._lock = threading.Lock()
        self._inside = 0

    @property
    def inside(self) -> int:
        with self._lock:
            return self._inside

    @contextmanager
    def enter(self) -> Iterator[None]:
        with self._lock:
            if self._inside >= self.capacity:
                raise RefPointError(
                    Status.BUSY,
                    f"{self._inside} requests already in progress (max_pending_requests="
                    f"{self.capacity}); retry later",
                )
            self._inside += 1
        try:
            yield
        finally:
            with self._lock:
                self._inside -= 1
