"""AdmissionGate: refuse beyond capacity at once (BUSY), always release, safe across threads."""

from __future__ import annotations

import threading
import time

import pytest

from roborefer_ros.core.admission import AdmissionGate
from roborefer_ros.core.status import RefPointError, Status


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity must be >= 1, got 0"):
        AdmissionGate(0)


def test_busy_beyond_capacity_with_a_message_naming_the_limit() -> None:
    gate = AdmissionGate(2)
    with gate.enter(), gate.enter():
        assert gate.inside == 2
        started = time.monotonic()
        with pytest.raises(RefPointError) as info, gate.enter():
            pytest.fail("a third request was admitted")
        assert time.monotonic() - started < 0.1  # refused at once, not queued
        assert info.value.status is Status.BUSY
        assert "2 requests already in progress" in info.value.message
        assert "max_pending_requests=2" in info.value.message
        assert gate.inside == 2  # a refusal takes no slot
    assert gate.inside == 0


def test_a_slot_is_free_again_after_leaving() -> None:
    gate = AdmissionGate(1)
    for _ in range(3):
        with gate.enter():
            assert gate.inside == 1
        assert gate.inside == 0


def test_release_on_exception() -> None:
    gate = AdmissionGate(1)
    with pytest.raises(KeyError), gate.enter():
        raise KeyError("boom")
    assert gate.inside == 0
    with gate.enter():  # the slot really is free
        assert gate.inside == 1


def test_threads_never_exceed_capacity_and_the_rest_are_busy() -> None:
    capacity, n_threads = 3, 12
    gate = AdmissionGate(capacity)
    start = threading.Barrier(n_threads)
    hold = threading.Event()
    lock = threading.Lock()
    admitted: list[int] = []
    busy: list[int] = []
    peak = [0]

    def request(i: int) -> None:
        start.wait()
        try:
            with gate.enter():
                with lock:
                    admitted.append(i)
                    peak[0] = max(peak[0], gate.inside)
                hold.wait(5.0)
        except RefPointError as err:
            assert err.status is Status.BUSY
            with lock:
                busy.append(i)

    threads = [threading.Thread(target=request, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 5.0
    while len(admitted) + len(busy) < n_threads and time.monotonic() < deadline:
        time.sleep(0.005)
    assert len(admitted) == capacity
    assert len(busy) == n_threads - capacity
    assert gate.inside == capacity
    hold.set()
    for t in threads:
        t.join(5.0)
    assert peak[0] == capacity
    assert gate.inside == 0
