"""pick_place_node: the PickPlace action (``~/pick_place``) on top of the refer node.

Thin adapter over ``roborefer_ros.manipulation.pick_place``: the goal becomes a request; targets
come from the refer node's RefPoint service (LOCATE for the pick, PLACE for the place) or from the
goal's ready poses; the plan runs on the backend named by ``manipulation_backend``. One goal runs at
a time (a second one gets BUSY): a robot arm does one thing at a time.

Concurrency: the action server and every client live in one reentrant callback group on a
multi-threaded executor. The goal's thread waits on futures with deadlines (never spinning the
executor it runs on), so the RefPoint response and the backend's action results are delivered by
the other executor threads; cancellation is checked while waiting and between steps.

Shutdown (SIGINT / SIGTERM, ``main``): a goal in flight is stopped like a cancel (the arm stops
after its current step; the backend cancels what it waits on) and answered CANCELED "node
shutting down"; goals that arrive meanwhile get the same answer at once.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Any

from rclpy.action.server import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node

from roborefer_ros.action import PickPlace
from roborefer_ros.core.request import Mode
from roborefer_ros.core.status import Status
from roborefer_ros.manipulation.errors import PickPlaceError, PickPlaceStatus
from roborefer_ros.manipulation.pick_place import (
    PickPlaceOutcome,
    PickPlaceRequest,
    Target,
    run_pick_place,
)
from roborefer_ros.manipulation.steps import ManipulationBackend, Stage
from roborefer_ros.ros.goals import end_goal, log_outcome
from roborefer_ros.ros.pick_place.messages import (
    fill_result,
    request_from_goal,
    target_from_response,
)
from roborefer_ros.ros.pick_place.params import PickPlaceNodeConfig, declare_and_read
from roborefer_ros.ros.pick_place.registry import BackendContext, make_manipulation_backend
from roborefer_ros.ros.spin_thread import InFlight, Waited, wait_future
from roborefer_ros.srv import RefPoint

_POLL_S = 0.02  # how often a waiting goal looks at its cancel flag
SHUTTING_DOWN = "node shutting down"  # the message (status CANCELED) of goals it ends
DRAIN_S = 10.0  # on SIGINT/SIGTERM: how long a goal in flight gets to stop after its step


class PickPlaceNode(Node):
    """``backend`` overrides ``manipulation_backend`` (tests, embedding applications)."""

    def __init__(
        self,
        node_name: str = "pick_place_node",
        *,
        backend: ManipulationBackend | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(node_name, **kwargs)
        self.cfg: PickPlaceNodeConfig = declare_and_read(self)  # ValueError: refuse to start
        self._group = ReentrantCallbackGroup()
        self._refer: Any = self.create_client(
            RefPoint, self.cfg.refer_service, callback_group=self._group
        )
        self.backend = backend or make_manipulation_backend(
            self.cfg.manipulation_backend,
            BackendContext(self, self.cfg.plan_frame, self._group),
        )
        self._busy = threading.Lock()
        self._stopping = False  # begin_shutdown was called
        self._goals = InFlight()  # goal callbacks running
        self._server = ActionServer(
            self,
            PickPlace,
            "~/pick_place",
            execute_callback=self._execute,
            goal_callback=lambda _goal: GoalResponse.ACCEPT,
            cancel_callback=lambda _goal: CancelResponse.ACCEPT,
            callback_group=self._group,
        )
        self.get_logger().info(
            f"serving {self.resolve_topic_name('~/pick_place')}: backend "
            f"{getattr(self.backend, 'name', '?')}, plan frame {self.cfg.plan_frame}, "
            f"refer {self.cfg.refer_service}"
        )

    def destroy_node(self) -> None:
        server = getattr(self, "_server", None)  # absent when __init__ refused the configuration
        if server is not None:
            server.destroy()
        super().destroy_node()

    # ----- shutdown (SIGINT / SIGTERM, see main) ----------------------------------------------
    def begin_shutdown(self) -> None:
        """Stop serving while the executor still runs: the goal in flight stops after its
        current step and, like any new goal, ends CANCELED "node shutting down"."""
        self._stopping = True
        self.get_logger().info(f"shutting down: ending {self._goals.count} goal(s) in flight")

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait until no goal callback is running; False if one still is at the end."""
        return self._goals.wait_idle(timeout_s)

    # ----- the goal --------------------------------------------------------------------------
    def _execute(self, goal_handle: Any) -> Any:
        with self._goals:
            return self._execute_counted(goal_handle)

    def _execute_counted(self, goal_handle: Any) -> Any:
        started = time.monotonic()
        cancelled = lambda: self._stopping or bool(goal_handle.is_cancel_requested)  # noqa: E731

        def on_stage(stage: Stage, label: str) -> None:
            goal_handle.publish_feedback(
                PickPlace.Feedback(
                    stage=int(stage.value),
                    stage_name=stage.name,
                    step_label=label,
                    elapsed_s=time.monotonic() - started,
                )
            )

        if self._stopping:
            outcome = PickPlaceOutcome(PickPlaceStatus.CANCELED, SHUTTING_DOWN)
        elif not self._busy.acquire(blocking=False):
            outcome = PickPlaceOutcome(PickPlaceStatus.BUSY, "another PickPlace goal is running")
        else:
            try:
                outcome = self._run(goal_handle.request, on_stage, cancelled)
            except Exception as err:  # a bug: never let it reach the executor
                self.get_logger().error(f"PickPlace failed unexpectedly: {err!r}")
                outcome = PickPlaceOutcome(
                    PickPlaceStatus.INTERNAL_ERROR, f"{type(err).__name__}: {err}"
                )
            finally:
                self._busy.release()
            if self._stopping and not goal_handle.is_cancel_requested and not outcome.success:
                outcome = dataclasses.replace(
                    outcome,
                    status=PickPlaceStatus.CANCELED,
                    message=f"{SHUTTING_DOWN} ({outcome.status.name}: {outcome.message})",
                )
        try:
            result = fill_result(PickPlace.Result(), outcome)
        except Exception as err:  # a bug: a fresh result, nothing half-filled
            self.get_logger().error(f"PickPlace result failed unexpectedly: {err!r}")
            outcome = PickPlaceOutcome(
                PickPlaceStatus.INTERNAL_ERROR, f"{type(err).__name__}: {err}"
            )
            result = PickPlace.Result(
                success=False, status=int(outcome.status), message=outcome.message, failed_step=-1
            )
        line = f"{outcome.status.name}: {outcome.message} ({outcome.total_s:.2f} s)"
        log_outcome(self.get_logger(), outcome.success, line)
        end_goal(
            goal_handle,
            succeeded=outcome.success,
            cancelled=outcome.status is PickPlaceStatus.CANCELED,
        )
        return result

    def _run(self, goal: Any, on_stage: Any, cancelled: Any) -> PickPlaceOutcome:
        try:
            request: PickPlaceRequest = request_from_goal(goal, self.cfg.plan_frame)
        except PickPlaceError as err:
            return PickPlaceOutcome(err.status, err.message)

        def resolve(prompt: str, mode: Mode, frame: str) -> Target:
            return self._refer_point(prompt, mode, frame, cancelled)

        return run_pick_place(
            request,
            resolve=resolve,
            backend=self.backend,
            grasp=self.cfg.grasp,
            safety=self.cfg.safety,
            now_ns=lambda: self.get_clock().now().nanoseconds,
            on_stage=on_stage,
            cancelled=cancelled,
            retry=self.cfg.refer_retry,
        )

    def _refer_point(self, prompt: str, mode: Mode, frame: str, cancelled: Any) -> Target:
        """One RefPoint call, waited for on this thread with a deadline and the cancel flag."""
        name = self._refer.srv_name
        wait_until = time.monotonic() + self.cfg.refer_wait_s
        # in slices, so a cancel (or the node's shutdown) is honoured while the service is away
        while not self._refer.wait_for_service(
            timeout_sec=max(0.0, min(0.1, wait_until - time.monotonic()))
        ):
            if cancelled():
                raise PickPlaceError(
                    PickPlaceStatus.CANCELED, f"cancelled while waiting for {name}"
                )
            if time.monotonic() >= wait_until:
                raise PickPlaceError(
                    PickPlaceStatus.UNAVAILABLE,
                    f"refer service {name} is not available (waited {self.cfg.refer_wait_s:g} s)",
                )
        request = RefPoint.Request(prompt=prompt, target_frame=frame, mode=int(mode.value))
        request.max_points = 1
        future = self._refer.call_async(request)
        deadline = time.monotonic() + self.cfg.refer_timeout_s
        waited = wait_future(future, deadline, cancelled, _POLL_S)
        if waited is not Waited.DONE:
            self._refer.remove_pending_request(future)
            if waited is Waited.CANCELLED:
                raise PickPlaceError(PickPlaceStatus.CANCELED, f"cancelled while asking {name}")
            raise PickPlaceError(
                PickPlaceStatus.BACKEND_TIMEOUT,
                f"{name} did not answer within {self.cfg.refer_timeout_s:g} s",
            )
        response = future.result()
        if response is None:
            raise PickPlaceError(PickPlaceStatus.BACKEND_ERROR, f"{name} returned no response")
        if response.status != Status.OK:
            raise PickPlaceError(PickPlaceStatus.from_refer(response.status), response.message)
        return target_from_response(response)
