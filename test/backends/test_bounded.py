"""BoundedBackend: at most N model calls at once; waiting for a slot counts against the timeout."""

from __future__ import annotations

import itertools
import threading
import time

import numpy as np
import pytest

from roborefer_ros.backends.base import Answer, Backend, PointingQuery
from roborefer_ros.backends.bounded import BoundedBackend
from roborefer_ros.core.request import Mode
from roborefer_ros.core.status import RefPointError, Status

QUERY = PointingQuery(
    rgb=np.zeros((4, 4, 3), dtype=np.uint8), instruction="x", mode=Mode.AUTO, stamp_ns=1
)


class SlowBackend:
    """Takes ``duration_s`` per call and records how many calls overlapped and their timeouts."""

    name = "slow"

    def __init__(self, duration_s: float = 0.1, fail: bool = False) -> None:
        self.duration_s = duration_s
        self.fail = fail
        self._lock = threading.Lock()
        self.running = 0
        self.peak = 0
        self.timeouts: list[float] = []
        self.intervals: list[tuple[float, float]] = []
        self.loaded = self.closed = False

    def load(self) -> None:
        self.loaded = True

    def close(self) -> None:
        self.closed = True

    def point(self, query: PointingQuery, timeout_s: float) -> Answer:
        with self._lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
            self.timeouts.append(timeout_s)
        started = time.monotonic()
        try:
            time.sleep(self.duration_s)
            if self.fail:
                raise RefPointError(Status.BACKEND_ERROR, "model crashed")
            return Answer("[(0.5, 0.5)]", ((0.5, 0.5),), (4, 4), self.duration_s, "none")
        finally:
            with self._lock:
                self.running -= 1
                self.intervals.append((started, time.monotonic()))


def run_concurrently(bounded: Backend, n: int, timeout_s: float) -> list[Answer | RefPointError]:
    results: list[Answer | RefPointError] = []
    lock = threading.Lock()
    start = threading.Barrier(n)

    def call() -> None:
        start.wait()
        try:
            result: Answer | RefPointError = bounded.point(QUERY, timeout_s)
        except RefPointError as err:
            result = err
        with lock:
            results.append(result)

    threads = [threading.Thread(target=call) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10.0)
    assert len(results) == n
    return results


def test_max_concurrent_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_concurrent must be >= 1, got 0"):
        BoundedBackend(SlowBackend(), max_concurrent=0)


def test_forwards_name_load_and_close() -> None:
    inner = SlowBackend()
    bounded = BoundedBackend(inner)
    assert bounded.name == "slow"
    bounded.load()
    bounded.close()
    assert inner.loaded and inner.closed


def test_one_at_a_time_calls_never_overlap() -> None:
    inner = SlowBackend(duration_s=0.05)
    results = run_concurrently(BoundedBackend(inner, max_concurrent=1), n=4, timeout_s=5.0)
    assert all(isinstance(r, Answer) for r in results)
    assert inner.peak == 1
    intervals = sorted(inner.intervals)
    for (_, end), (next_start, _) in itertools.pairwise(intervals):
        assert next_start >= end


def test_two_slots_let_two_calls_overlap() -> None:
    inner = SlowBackend(duration_s=0.2)
    run_concurrently(BoundedBackend(inner, max_concurrent=2), n=4, timeout_s=5.0)
    assert inner.peak == 2


def test_waiting_for_a_slot_counts_against_the_timeout() -> None:
    inner = SlowBackend(duration_s=0.5)
    started = time.monotonic()
    results = run_concurrently(BoundedBackend(inner, max_concurrent=1), n=2, timeout_s=0.15)
    elapsed = time.monotonic() - started
    answers = [r for r in results if isinstance(r, Answer)]
    errors = [r for r in results if isinstance(r, RefPointError)]
    assert len(answers) == 1 and len(errors) == 1  # the inner model ignores its deadline here
    assert errors[0].status is Status.BACKEND_TIMEOUT
    assert "'slow'" in errors[0].message and "0.15 s" in errors[0].message
    assert len(inner.timeouts) == 1  # the waiter never reached the model
    assert elapsed < 2.0


def test_the_inner_call_gets_what_is_left_of_the_timeout() -> None:
    inner = SlowBackend(duration_s=0.2)
    run_concurrently(BoundedBackend(inner, max_concurrent=1), n=2, timeout_s=1.0)
    first, second = inner.timeouts
    assert first == pytest.approx(1.0, abs=0.05)
    assert 0.0 < second <= 1.0 - 0.15  # it waited ~0.2 s for the slot


def test_a_failing_call_releases_its_slot() -> None:
    inner = SlowBackend(duration_s=0.0, fail=True)
    bounded = BoundedBackend(inner, max_concurrent=1)
    for _ in range(3):
        with pytest.raises(RefPointError) as info:
            bounded.point(QUERY, 0.1)
        assert info.value.status is Status.BACKEND_ERROR  # not a timeout: the slot was free
