"""A manipulation backend that records what it is asked to do (tests)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from roborefer_ros.manipulation.steps import (
    ExecutionResult,
    ExecutionStatus,
    StepCallback,
    StepPlan,
)


class RecordingBackend:
    """Runs nothing: records each plan, waits ``step_delay_s`` per step, can fail at a step."""

    name = "recording"

    def __init__(
        self,
        step_delay_s: float = 0.0,
        fail_at: int | None = None,
        fail_status: ExecutionStatus = ExecutionStatus.PLANNING_FAILED,
        available: tuple[bool, str] = (True, ""),
    ) -> None:
        self.step_delay_s = step_delay_s
        self.fail_at = fail_at
        self.fail_status = fail_status
        self._available = available
        self.plans: list[StepPlan] = []
        self.executed: list[str] = []
        self.started = threading.Event()

    def available(self) -> tuple[bool, str]:
        return self._available

    def execute(
        self,
        plan: StepPlan,
        on_step: StepCallback | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> ExecutionResult:
        self.plans.append(plan)
        durations: list[float] = []
        for index, step in enumerate(plan.steps):
            if cancelled is not None and cancelled():
                return ExecutionResult(
                    ExecutionStatus.CANCELED, "cancelled", index, tuple(durations)
                )
            if on_step is not None:
                on_step(index, step)
            self.started.set()
            t0 = time.monotonic()
            time.sleep(self.step_delay_s)
            durations.append(time.monotonic() - t0)
            if index == self.fail_at:
                return ExecutionResult(
                    self.fail_status, "simulated failure", index, tuple(durations)
                )
            self.executed.append(step.label)
        return ExecutionResult(ExecutionStatus.SUCCEEDED, "", None, tuple(durations))
