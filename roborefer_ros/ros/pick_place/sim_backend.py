"""The ``sim`` manipulation backend of pick_place_node: an ExecuteSteps action client.

The plan runs in sim_node (``~/execute_steps``, by default ``/sim_node/execute_steps``; the
pick_place parameter ``sim_action``). The goal's thread waits on futures with deadlines and the
cancel flag, never spinning the executor it runs on (the node's other executor threads deliver
the responses). No server within ``sim_server_wait_s``: UNAVAILABLE ("sim node not running");
no result within ``sim_timeout_s``: the goal is cancelled and the plan EXECUTION_FAILED; a cancel
is forwarded to sim_node, which stops the arm within a control period.

The in-process simulated arm for batch tools is ``sim.arms.factory.make_sim_backend``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rclpy.action.client import ActionClient

from roborefer_ros.action import ExecuteSteps
from roborefer_ros.manipulation.backend_context import BackendContext
from roborefer_ros.manipulation.steps import (
    ExecutionResult,
    ExecutionStatus,
    ManipulationBackend,
    StepCallback,
    StepPlan,
)
from roborefer_ros.ros.params import ParameterSpec, declare_parameters
from roborefer_ros.ros.sim.messages import goal_from_plan, result_from_msg
from roborefer_ros.ros.spin_thread import Waited, wait_future

DEFAULT_ACTION = "/sim_node/execute_steps"
_POLL_S = 0.02
_CANCEL_WAIT_S = 5.0  # after a cancel: how long to wait for the server's final result


class ExecuteStepsBackend:
    """A ManipulationBackend that sends the plan to an ExecuteSteps server."""

    name = "sim"

    def __init__(
        self,
        node: Any,
        action_name: str = DEFAULT_ACTION,
        *,
        server_wait_s: float = 5.0,
        timeout_s: float = 300.0,
        callback_group: Any = None,
    ) -> None:
        self.action_name = action_name
        self.server_wait_s = server_wait_s
        self.timeout_s = timeout_s
        self._client: Any = ActionClient(
            node, ExecuteSteps, action_name, callback_group=callback_group
        )

    def _unavailable(self) -> str:
        return (
            f"unavailable: sim node not running (no ExecuteSteps server on {self.action_name} "
            f"after {self.server_wait_s:g} s)"
        )

    def available(self) -> tuple[bool, str]:
        if self._client.server_is_ready():
            return True, ""
        return False, self._unavailable()

    def execute(
        self,
        plan: StepPlan,
        on_step: StepCallback | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> ExecutionResult:
        is_cancelled = cancelled or (lambda: False)
        if not self._wait_for_server(is_cancelled):
            if is_cancelled():
                return ExecutionResult(ExecutionStatus.CANCELED, "canceled before the plan started")
            return ExecutionResult(ExecutionStatus.UNAVAILABLE, self._unavailable())

        def feedback(msg: Any) -> None:
            index = int(msg.feedback.step_index)
            if on_step is not None and 0 <= index < len(plan.steps):
                on_step(index, plan.steps[index])

        deadline = time.monotonic() + self.timeout_s
        sent = self._client.send_goal_async(goal_from_plan(plan), feedback_callback=feedback)
        if wait_future(sent, deadline, is_cancelled, _POLL_S) is not Waited.DONE:
            if sent.done() and sent.result() is not None:
                return self._cancel(sent.result(), is_cancelled())
            return self._stopped_before_acceptance(is_cancelled())
        handle = sent.result()
        if handle is None or not handle.accepted:
            return ExecutionResult(
                ExecutionStatus.REJECTED, f"{self.action_name} rejected the plan"
            )
        result_future = handle.get_result_async()
        if wait_future(result_future, deadline, is_cancelled, _POLL_S) is not Waited.DONE:
            return self._cancel(handle, is_cancelled(), result_future)
        response = result_future.result()
        if response is None:
            return ExecutionResult(
                ExecutionStatus.EXECUTION_FAILED, f"{self.action_name} returned no result"
            )
        return result_from_msg(response.result)

    def _wait_for_server(self, cancelled: Callable[[], bool]) -> bool:
        deadline = time.monotonic() + self.server_wait_s
        while not self._client.server_is_ready():
            if cancelled() or time.monotonic() > deadline:
                return False
            time.sleep(_POLL_S)
        return True

    def _stopped_before_acceptance(self, was_cancelled: bool) -> ExecutionResult:
        if was_cancelled:
            return ExecutionResult(ExecutionStatus.CANCELED, "canceled while sending the plan")
        return ExecutionResult(
            ExecutionStatus.EXECUTION_FAILED,
            f"{self.action_name} did not accept the plan within {self.timeout_s:g} s",
        )

    def _cancel(
        self, handle: Any, was_cancelled: bool, result_future: Any = None
    ) -> ExecutionResult:
        """Cancel a running goal; wait a little for the server's own last word."""
        handle.cancel_goal_async()
        if result_future is None:
            result_future = handle.get_result_async()
        wait_future(result_future, time.monotonic() + _CANCEL_WAIT_S, poll_s=_POLL_S)
        response = result_future.result() if result_future.done() else None
        last = None if response is None else result_from_msg(response.result)
        if was_cancelled:
            message = "canceled" if last is None else last.message
            return ExecutionResult(
                ExecutionStatus.CANCELED,
                message,
                None if last is None else last.failed_step,
                () if last is None else last.step_durations_s,
            )
        return ExecutionResult(
            ExecutionStatus.EXECUTION_FAILED,
            f"{self.action_name} did not finish the plan within {self.timeout_s:g} s (cancelled)",
            None if last is None else last.failed_step,
            () if last is None else last.step_durations_s,
        )


P = ParameterSpec
#: Declared on pick_place_node when ``manipulation_backend`` is ``sim``.
SIM_CLIENT_PARAMETERS: tuple[ParameterSpec, ...] = (
    P("sim_action", "/sim_node/execute_steps", "sim: ExecuteSteps action of the sim node."),
    P("sim_server_wait_s", 5.0, "sim: wait for the sim node before a plan.", range=(0.0, 600.0)),
    P("sim_timeout_s", 300.0, "sim: deadline of a whole plan.", range=(0.1, 3600.0)),
)


def make_execute_steps_backend(context: BackendContext) -> ManipulationBackend:
    """The ``sim`` backend of pick_place_node, configured by its own ``sim_*`` parameters."""
    node = context.node
    if node is None:
        from roborefer_ros.ros.pick_place.registry import UnavailableBackend

        return UnavailableBackend("sim", "unavailable: the sim backend needs a ROS node")
    declare_parameters(node, SIM_CLIENT_PARAMETERS)
    return ExecuteStepsBackend(
        node,
        str(node.get_parameter("sim_action").value),
        server_wait_s=float(node.get_parameter("sim_server_wait_s").value),
        timeout_s=float(node.get_parameter("sim_timeout_s").value),
        callback_group=context.callback_group,
    )
