"""ModelLoader: a failing load is remembered with its cause and retried after 1, 2, 4 ... s (at
most ``max_delay_s`` apart); the first success ends the retries."""

from __future__ import annotations

import pytest

from roborefer_ros.backends.loading import ModelLoader
from roborefer_ros.core.status import RefPointError, Status


class FlakyModel:
    def __init__(self, failures: int) -> None:
        self.failures, self.calls = failures, 0

    def load(self) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise RefPointError(Status.BACKEND_ERROR, f"connection refused (try {self.calls})")


def test_retries_back_off_and_the_first_success_loads() -> None:
    now = [100.0]
    model = FlakyModel(failures=6)
    loader = ModelLoader(model.load, first_delay_s=1.0, max_delay_s=8.0, clock=lambda: now[0])
    assert loader.state().describe() == "not loaded yet"
    waits = []
    while not loader.try_load():
        state = loader.state()
        assert not state.loaded and state.error == f"connection refused (try {model.calls})"
        assert state.describe().startswith("model not loaded: connection refused")
        assert state.next_try_in_s is not None
        waits.append(state.next_try_in_s)
        assert not loader.due()
        now[0] += state.next_try_in_s
        assert loader.due()
    assert waits == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert loader.loaded and model.calls == 7
    assert loader.state().describe() == "loaded (load tried 7 time(s))"
    assert not loader.due() and loader.try_load() and model.calls == 7  # not loaded again


def test_stop_ends_the_retries() -> None:
    loader = ModelLoader(FlakyModel(failures=1).load, clock=lambda: 0.0)
    assert not loader.try_load()
    loader.stop()
    assert not loader.due() and loader.state().next_try_in_s is None


def test_delays_must_make_sense() -> None:
    with pytest.raises(ValueError, match="first_delay_s <= max_delay_s"):
        ModelLoader(lambda: None, first_delay_s=5.0, max_delay_s=1.0)
