"""Serialise model calls: one at a time per GPU backend by default, within the model deadline."""

from __future__ import annotations

import threading
import time

from roborefer_ros.backends.base import Answer, Backend, PointingQuery
from roborefer_ros.core.status import RefPointError, Status


class BoundedBackend:
    """Lets ``max_concurrent`` calls of ``inner`` run at once; waiting eats into the timeout."""

    def __init__(self, inner: Backend, max_concurrent: int = 1) -> None:
        if max_concurrent < 1:
            raise ValueError(f"max_concurrent must be >= 1, got {max_concurrent}")
        self.inner = inner
        self.name = inner.name
        self._slots = threading.Semaphore(max_concurrent)

    def load(self) -> None:
        self.inner.load()

    def close(self) -> None:
        self.inner.close()

    def point(self, query: PointingQuery, timeout_s: float) -> Answer:
        started = time.monotonic()
        if not self._slots.acquire(timeout=timeout_s):
            raise RefPointError(
                Status.BACKEND_TIMEOUT,
                f"backend {self.name!r} stayed busy with other requests for {timeout_s} s",
            )
        try:
            remaining = max(0.0, timeout_s - (time.monotonic() - started))
            return self.inner.point(query, remaining)
        finally:
            self._slots.release()
