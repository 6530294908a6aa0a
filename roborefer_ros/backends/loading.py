"""Load a model with retries and back-off, remembering why it is not loaded yet (ROS-free).

A refer node whose model server is down at start-up stays up: it answers every request with
``BACKEND_ERROR "model not loaded: <cause>"``, reports the cause on /diagnostics, tries again
after 1, 2, 4, ... seconds (at most ``max_delay_s`` apart) and starts serving by itself once a
load succeeds. This class holds that state; the node only asks it when the next try is due.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from roborefer_ros.core.status import RefPointError

FIRST_DELAY_S = 1.0
MAX_DELAY_S = 30.0


@dataclass(frozen=True)
class LoadState:
    """``error``: why the last try failed ("" once loaded or before the first try);
    ``next_try_in_s``: None when loaded or no try is scheduled."""

    loaded: bool
    attempts: int
    error: str
    next_try_in_s: float | None

    def describe(self) -> str:
        if self.loaded:
            return f"loaded (load tried {self.attempts} time(s))"
        if not self.attempts:
            return "not loaded yet"
        wait = self.next_try_in_s
        retry = f"; next try in {wait:.0f} s" if wait is not None else ""
        return f"model not loaded: {self.error} (load tried {self.attempts} time(s){retry})"


class ModelLoader:
    """Runs ``load`` until it succeeds: ``try_load`` once per due time, the delay doubling from
    ``first_delay_s`` up to ``max_delay_s``. Thread-safe; ``try_load`` calls never overlap."""

    def __init__(
        self,
        load: Callable[[], None],
        first_delay_s: float = FIRST_DELAY_S,
        max_delay_s: float = MAX_DELAY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0.0 < first_delay_s <= max_delay_s:
            raise ValueError(
                f"need 0 < first_delay_s <= max_delay_s, got {first_delay_s}, {max_delay_s}"
            )
        self._load, self._clock = load, clock
        self.first_delay_s, self.max_delay_s = first_delay_s, max_delay_s
        self._lock = threading.Lock()  # guards the fields below
        self._trying = threading.Lock()  # one try at a time
        self._loaded = False
        self._attempts = 0
        self._error = ""
        self._next_at: float | None = None

    @property
    def loaded(self) -> bool:
        return self._loaded

    def state(self) -> LoadState:
        with self._lock:
            wait = None if self._next_at is None else max(0.0, self._next_at - self._clock())
            return LoadState(self._loaded, self._attempts, self._error, wait)

    def due(self) -> bool:
        """True when a retry is scheduled and its time has come."""
        with self._lock:
            return not self._loaded and self._next_at is not None and self._clock() >= self._next_at

    def try_load(self) -> bool:
        """One try (skipped, returning False, while another runs); True once loaded. A failure
        (``RefPointError``: unreachable server, missing files...) is remembered with the time of
        the next try."""
        if self._loaded:
            return True
        if not self._trying.acquire(blocking=False):
            return False
        try:
            try:
                self._load()
            except RefPointError as err:
                with self._lock:
                    self._attempts += 1
                    self._error = err.message
                    delay = min(self.first_delay_s * 2.0 ** (self._attempts - 1), self.max_delay_s)
                    self._next_at = self._clock() + delay
                return False
            with self._lock:
                self._attempts += 1
                self._loaded, self._error, self._next_at = True, "", None
            return True
        finally:
            self._trying.release()

    def stop(self) -> None:
        """No more tries (the node is going away)."""
        with self._lock:
            self._next_at = None
