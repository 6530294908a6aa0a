"""refer_node: the RefPoint service and Refer action on the live aligned RGB-D stream.

Thin adapter: subscriptions only feed FrameSync; a request freezes one frame and hands it to the
ROS-free ``Referrer``; the outcome becomes a response, a latched last result, markers and an
annotated image. Lifecycle: configure reads parameters and wires topics, activate loads the model;
with ``autostart`` (default) the node does both itself. With ``autostart``, a configuration it
refuses is ``config_error`` (the executable exits non-zero), and a model that cannot be loaded
(server down) is retried with back-off (``backends.loading.ModelLoader``) while every request is
answered ``BACKEND_ERROR "model not loaded: <cause>"`` and /diagnostics says why; the first
successful load activates the node.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import SetParametersResult
from rclpy.action.server import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from roborefer_ros.action import Refer
from roborefer_ros.backends.bounded import BoundedBackend
from roborefer_ros.backends.loading import ModelLoader
from roborefer_ros.backends.model_depth import make_model_depth_for_options
from roborefer_ros.backends.registry import make_backend
from roborefer_ros.core.admission import AdmissionGate
from roborefer_ros.core.annotate import annotate_outcome
from roborefer_ros.core.frame import Frame
from roborefer_ros.core.frame_sync import FrameSync, FrameSyncStats
from roborefer_ros.core.request import ReferRequest
from roborefer_ros.core.result import ReferOutcome, Stage
from roborefer_ros.core.self_check import run_self_check
from roborefer_ros.core.status import RefPointError, Status
from roborefer_ros.msg import ReferResult
from roborefer_ros.pipeline import Referrer
from roborefer_ros.ros.conversions import (
    frame_from_serialized,
    rgb_to_image,
    time_msg,
)
from roborefer_ros.ros.goals import end_goal, log_outcome
from roborefer_ros.ros.params import declare_parameters
from roborefer_ros.ros.refer.frame_source import (
    CameraTopics,
    MiddlewareFrameSource,
    history_depth,
    with_depth,
)
from roborefer_ros.ros.refer.messages import fill_result, request_from_msg
from roborefer_ros.ros.refer.output_worker import OutputWorker
from roborefer_ros.ros.refer.params import (
    REFER_NODE_PARAMETERS,
    ReferNodeConfig,
    read_config,
    read_node_config,
)
from roborefer_ros.ros.refer.visualization import outcome_markers
from roborefer_ros.ros.spin_thread import InFlight, private_node_kwargs
from roborefer_ros.ros.tf import make_transform_listener
from roborefer_ros.srv import RefPoint

LATCHED = QoSProfile(
    depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)
# Requests queue here until a thread takes them (beyond max_pending_requests they get BUSY at
# once). The default service depth of 10 silently drops the rest of a burst: callers then wait
# forever (test/ros/refer/test_node_load.py).
REQUESTS = QoSProfile(
    depth=1000, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE
)
SHUTTING_DOWN = "node shutting down"  # the message (status CANCELED) of requests it ends
SELF_CHECK_REFRESH_S = 10.0  # the self-check takes new frames from the middleware this often
LOAD_POLL_S = 0.2  # how often the retry timer looks whether the next model load is due


def _counts(stats: FrameSyncStats) -> str:
    counts = (
        f"received colour={stats.color_received}, depth={stats.depth_received}, "
        f"camera_info={stats.info_received}, paired={stats.pairs_emitted}, "
        f"dropped colour={stats.dropped_color}, depth={stats.dropped_depth}"
    )
    if stats.without_info:
        newest = (stats.last_info_stamp_ns or 0) * 1e-9
        counts += (
            f"; {stats.without_info} frame(s) have no camera_info within sync_slop_s of their "
            f"stamp (newest camera_info stamped {newest:.3f} s)"
        )
    return counts


class ReferNode(LifecycleNode):
    def __init__(self, node_name: str = "refer_node", **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self.cfg: ReferNodeConfig | None = None
        self.referrer: Referrer | None = None
        self._active = False
        self._stopping = False  # begin_shutdown was called: answer CANCELED, publish nothing
        self._calls = InFlight()  # request callbacks running (service and action)
        self._sync: FrameSync[bytes, bytes, bytes] | None = None
        self._gate: AdmissionGate | None = None
        self._tf: Any = None
        self._camera: MiddlewareFrameSource | None = None
        self._outputs: OutputWorker[tuple[ReferOutcome, Frame | None]] | None = None
        self._handles: list[Any] = []
        self._last_check: tuple[Any, ...] = ()
        # The self-check's frame, converted once: (which serialized set, its Frame or error).
        self._checked: tuple[tuple[int, int, int, int], Frame | RefPointError] | None = None
        self.config_error: str | None = None  # why the last configure was refused
        self._loader: ModelLoader | None = None
        self._retry_timer: Any = None
        # After the fields above: a refused value raises here, and the context's clean-up then
        # destroys a node whose fields all exist.
        declare_parameters(self, REFER_NODE_PARAMETERS)
        self._autostart = bool(self.get_parameter("autostart").value)
        if self._autostart:
            self.trigger_configure()
            if self.cfg is not None:
                self.trigger_activate()

    # ----- lifecycle -------------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            cfg = read_node_config(self)
            backend = make_backend(cfg.backend, cfg.backend_options)
            model_depth = make_model_depth_for_options(cfg.backend_options)
        except (RefPointError, ValueError) as err:
            self.config_error = err.message if isinstance(err, RefPointError) else str(err)
            self.get_logger().error(f"configuration rejected: {self.config_error}")
            return TransitionCallbackReturn.FAILURE
        self.config_error = None
        self.cfg = cfg
        self._sync = FrameSync(
            slop_s=cfg.sync_slop_s, ring_size=cfg.frame_ring_size, queue_size=cfg.sync_queue_size
        )
        self._gate = AdmissionGate(cfg.max_pending_requests)
        self._tf = make_transform_listener(
            self.get_name(),
            prefer=cfg.tf_implementation,
            context=self.context,
            **private_node_kwargs(self, ("/tf", "/tf_static")),
        )
        self.referrer = Referrer(
            BoundedBackend(backend, cfg.max_concurrent_model_calls),
            self._tf,
            cfg.refer,
            clock_ns=lambda: self.get_clock().now().nanoseconds,
            model_depth=model_depth,
        )
        self._loader = ModelLoader(self._load_models)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        sensors = MutuallyExclusiveCallbackGroup()
        requests = ReentrantCallbackGroup()
        # The camera streams stay in the middleware's reader histories (a private node that no
        # executor spins): no Python runs per frame; a request takes what has arrived, still
        # serialized, into the sync ring, and only the frame it freezes is deserialized
        # (ros/refer/frame_source.py). Topic names are resolved here, so every remap of this
        # node (node-specific ones too) applies.
        self._camera = MiddlewareFrameSource(
            f"{self.get_name()}_camera",
            CameraTopics(
                self.resolve_topic_name("color/image_raw"),
                self.resolve_topic_name("aligned_depth_to_color/image_raw"),
                self.resolve_topic_name("color/camera_info"),
            ),
            with_depth(cfg.camera_qos, history_depth(cfg.camera_qos.depth, cfg.frame_ring_size)),
            self._sync,
            context=self.context,
            **private_node_kwargs(self),
        )
        self._handles = [
            self.create_service(
                RefPoint,
                "~/refer",
                self._on_refpoint,
                qos_profile=REQUESTS,
                callback_group=requests,
            ),
            ActionServer(
                self,
                Refer,
                "~/refer_action",
                execute_callback=self._on_refer_goal,
                goal_callback=lambda _goal: GoalResponse.ACCEPT,
                cancel_callback=lambda _goal: CancelResponse.ACCEPT,
                callback_group=requests,
                goal_service_qos_profile=REQUESTS,
                result_service_qos_profile=REQUESTS,
                cancel_service_qos_profile=REQUESTS,
            ),
        ]
        self._pub_result = self.create_publisher(ReferResult, "~/last_result", LATCHED)
        self._pub_markers = self.create_publisher(MarkerArray, "~/markers", 10)
        self._pub_image = self.create_publisher(Image, "~/annotated_image", 2)
        self._pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._outputs = OutputWorker(
            self._publish_visuals,
            on_error=self._on_output_error,
        )
        if cfg.diagnostics_period_s > 0:
            self._handles.append(
                self.create_timer(
                    cfg.diagnostics_period_s, self._publish_diagnostics, callback_group=sensors
                )
            )
        self.get_logger().info(
            f"configured: backend={cfg.backend}, target_frame={cfg.refer.target_frame}, "
            f"tf={self._tf.backend_name}, topics {self.resolve_topic_name('color/image_raw')}, "
            f"{self.resolve_topic_name('aligned_depth_to_color/image_raw')}, "
            f"{self.resolve_topic_name('color/camera_info')}"
        )
        return TransitionCallbackReturn.SUCCESS

    def _on_set_parameters(self, params: list[Parameter[Any]]) -> SetParametersResult:
        """Apply live changes of the request settings (the non-read-only parameters) at once."""
        values = {spec.name: self.get_parameter(spec.name).value for spec in REFER_NODE_PARAMETERS}
        values.update({p.name: p.value for p in params})
        try:
            cfg = read_config(values)
        except (RefPointError, ValueError) as err:
            return SetParametersResult(successful=False, reason=str(err))
        if self.referrer is not None:
            self.referrer.config = cfg.refer  # one attribute swap: a request sees old or new
        self.cfg = cfg
        return SetParametersResult(successful=True)

    def _load_models(self) -> None:
        assert self.referrer is not None
        self.referrer.backend.load()
        if self.referrer.model_depth is not None:
            self.referrer.model_depth.load()

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        assert self._loader is not None
        if not self._loader.try_load():
            self.get_logger().error(self._loader.state().describe())
            if self._autostart and self._retry_timer is None and not self._stopping:
                # keep trying; the first load that succeeds activates the node
                self._retry_timer = self.create_timer(
                    LOAD_POLL_S, self._retry_load, callback_group=MutuallyExclusiveCallbackGroup()
                )
            return TransitionCallbackReturn.FAILURE
        self._active = True
        self.get_logger().info(f"active: serving {self.resolve_service_name('~/refer')}")
        return super().on_activate(state)

    def _retry_load(self) -> None:
        """Retry timer: load when due; on success activate (the timer then goes)."""
        loader = self._loader
        if self._stopping or loader is None or loader.loaded:
            self._stop_retrying()
            return
        if not loader.due():
            return
        if loader.try_load():
            self._stop_retrying()
            self.get_logger().info(f"model {loader.state().describe()}: activating")
            self.trigger_activate()
        else:
            self.get_logger().warning(loader.state().describe())

    def _stop_retrying(self) -> None:
        if self._retry_timer is not None:
            self._retry_timer.cancel()
            self.destroy_timer(self._retry_timer)
            self._retry_timer = None

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._active = False
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._teardown()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._active = False
        self._teardown()
        return TransitionCallbackReturn.SUCCESS

    def _teardown(self) -> None:
        self._stop_retrying()
        self._loader = None
        for handle in self._handles:
            if isinstance(handle, ActionServer):
                handle.destroy()
        self._handles = []
        if self._outputs is not None:
            self._outputs.close()
            self._outputs = None
        if self.referrer is not None:
            self.referrer.backend.close()
        if self._tf is not None:
            self._tf.close()
            self._tf = None
        if self._camera is not None:
            self._camera.close()
            self._camera = None

    def destroy_node(self) -> None:
        self._active = False
        self._teardown()
        super().destroy_node()

    # ----- shutdown (SIGINT / SIGTERM, see tools/refer_node.py) ---------------------------------
    def begin_shutdown(self) -> None:
        """Stop serving while the executor still runs: new requests and those in flight end
        with CANCELED "node shutting down" (closing the backend wakes a model call at once)."""
        self._stopping = True
        if self._loader is not None:
            self._loader.stop()
        self.get_logger().info(f"shutting down: ending {self._calls.count} request(s) in flight")
        if self.referrer is not None:
            self.referrer.backend.close()

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait until no request callback is running; False if some still are at the end."""
        return self._calls.wait_idle(timeout_s)

    # ----- requests --------------------------------------------------------------------------
    def _on_refpoint(self, request: Any, response: Any) -> Any:
        with self._calls:
            try:
                outcome = self._serve(request, on_stage=None)
                return fill_result(response, outcome)
            except Exception as err:  # never let anything reach the executor
                self.get_logger().error(f"RefPoint failed unexpectedly: {err!r}")
                response = RefPoint.Response()  # fresh: nothing half-filled goes with a failure
                response.success, response.status = False, int(Status.INTERNAL_ERROR)
                response.message = f"{type(err).__name__}: {err}"
                return response

    def _on_refer_goal(self, goal_handle: Any) -> Any:
        with self._calls:
            return self._run_goal(goal_handle)

    def _run_goal(self, goal_handle: Any) -> Any:
        result = Refer.Result()
        started = self.get_clock().now()

        def on_stage(stage: Stage) -> None:
            if goal_handle.is_cancel_requested:
                raise RefPointError(Status.CANCELED, f"cancelled before stage {stage.name}")
            feedback = Refer.Feedback(stage=int(stage), stage_name=stage.name)
            feedback.elapsed_s = (self.get_clock().now() - started).nanoseconds * 1e-9
            goal_handle.publish_feedback(feedback)

        try:
            outcome = self._serve(goal_handle.request, on_stage=on_stage)
            fill_result(result, outcome)
        except Exception as err:
            self.get_logger().error(f"Refer failed unexpectedly: {err!r}")
            result = Refer.Result()  # fresh: nothing half-filled goes with a failure
            result.success, result.status = False, int(Status.INTERNAL_ERROR)
            result.message = f"{type(err).__name__}: {err}"
        end_goal(
            goal_handle, succeeded=bool(result.success), cancelled=result.status == Status.CANCELED
        )
        return result

    def _serve(self, msg: Any, on_stage: Any) -> ReferOutcome:
        frozen: list[Frame] = []
        timelines: list[int] = []  # the camera timeline each frozen frame was taken in

        def freeze(min_stamp_ns: int, timeout_s: float) -> Frame:
            frame = self._freeze(min_stamp_ns, timeout_s, frozen)
            timelines.append(self._camera.sync.timeline if self._camera is not None else 0)
            return frame

        try:
            request = request_from_msg(msg)
        except RefPointError as err:
            request = ReferRequest(prompt=str(msg.prompt))
            return ReferOutcome(request=request, status=err.status, message=err.message)
        if self._stopping:
            return ReferOutcome(request=request, status=Status.CANCELED, message=SHUTTING_DOWN)
        if not self._active or self.referrer is None or self._gate is None:
            loading = self._loader.state() if self._loader is not None else None
            message = (
                loading.describe()
                if loading is not None and loading.attempts and not loading.loaded
                else "node is inactive: the model is not loaded (activate the lifecycle node)"
            )
            return ReferOutcome(request=request, status=Status.BACKEND_ERROR, message=message)
        try:
            with self._gate.enter():
                outcome = self.referrer.refer(request, freeze, on_stage)
                if self._frame_outlived(outcome, request, timelines):
                    # Time jumped back while this request was served (a looping bag, a reset
                    # simulation) and the TF listener forgot its frame's transforms: the latest
                    # frame is now one of the new timeline; serve the request once more on it.
                    outcome = self.referrer.refer(request, freeze, on_stage)
        except RefPointError as err:  # BUSY from the gate
            return ReferOutcome(request=request, status=err.status, message=err.message)
        if self._stopping:  # whatever failed, it failed because the node is going away
            if not outcome.success:
                message = f"{SHUTTING_DOWN} ({outcome.status.name}: {outcome.message})"
                outcome = dataclasses.replace(outcome, status=Status.CANCELED, message=message)
            return outcome
        self._publish(outcome, frozen[-1] if frozen else None)
        line = (
            f"{outcome.status.name} '{request.prompt[:60]}': {outcome.message} "
            f"({outcome.timings.total_s * 1e3:.1f} ms)"
        )
        log_outcome(self.get_logger(), outcome.success, line)
        return outcome

    def _frame_outlived(
        self, outcome: ReferOutcome, request: ReferRequest, timelines: list[int]
    ) -> bool:
        """A TF_ERROR on the latest frame (no min_stamp) whose camera timeline has ended since
        it was frozen: the camera's time jumped back meanwhile (FrameSync restarts)."""
        if (
            outcome.status is not Status.TF_ERROR
            or request.min_stamp_ns > 0
            or not timelines
            or self._camera is None
            or self._stopping
        ):
            return False
        self._camera.drain()  # what has arrived meanwhile: the new timeline's camera messages
        return self._camera.sync.timeline != timelines[-1]

    def _freeze(self, min_stamp_ns: int, timeout_s: float, frozen: list[Frame]) -> Frame:
        assert self._camera is not None
        synced = self._camera.wait_select(min_stamp_ns, timeout_s)
        if synced is None:
            stats = self._camera.stats()
            if min_stamp_ns:
                raise RefPointError(
                    Status.NO_FRAME,
                    f"no frame stamped at or after {min_stamp_ns * 1e-9:.3f} s "
                    f"within {timeout_s} s "
                    f"(latest: {(stats.last_pair_stamp_ns or 0) * 1e-9:.3f} s; {_counts(stats)})",
                )
            raise RefPointError(
                Status.NO_FRAME,
                f"no synchronised frame within {timeout_s} s ({_counts(stats)}; check topics "
                f"{self.resolve_topic_name('color/image_raw')} and "
                f"{self.resolve_topic_name('aligned_depth_to_color/image_raw')} and sync_slop_s)",
            )
        frame = frame_from_serialized(synced.color, synced.depth, synced.info)
        frozen.append(frame)
        return frame

    # ----- outputs ---------------------------------------------------------------------------
    def _publish(self, outcome: ReferOutcome, frame: Frame | None) -> None:
        assert self.cfg is not None
        result = fill_result(ReferResult(), outcome)
        result.request_time = self.get_clock().now().to_msg()
        result.prompt, result.mode = outcome.request.prompt, int(outcome.mode.value)
        result.target_frame, result.backend = outcome.target_frame, outcome.backend
        self._pub_result.publish(result)
        if outcome.success and self._outputs is not None:
            self._outputs.submit((outcome, frame))

    def _on_output_error(self, err: Exception) -> None:
        self.get_logger().warning(f"visual output failed: {err!r}")

    def _publish_visuals(self, item: tuple[ReferOutcome, Frame | None]) -> None:
        """On the output worker: markers and the annotated image of a successful request."""
        assert self.cfg is not None
        outcome, frame = item
        if self.cfg.publish_markers:
            self._pub_markers.publish(outcome_markers(outcome))
        if self.cfg.publish_annotated_image and frame is not None:
            header = Header(frame_id=frame.frame_id, stamp=time_msg(frame.stamp_ns))
            self._pub_image.publish(rgb_to_image(annotate_outcome(frame.rgb, outcome), header))

    def _publish_diagnostics(self) -> None:
        assert self._camera is not None and self.cfg is not None
        # A drain copies every frame the middleware holds: the check refreshes its frame rarely
        # unless requests (which drain anyway) keep the ring fresh.
        synced = self._camera.latest(refresh_after_s=SELF_CHECK_REFRESH_S)
        frame_or_error: Frame | RefPointError | None = None
        if synced is not None:
            key = (synced.stamp_ns, id(synced.color), id(synced.depth), id(synced.info))
            if self._checked is None or self._checked[0] != key:  # deserialize a new set only
                try:
                    converted: Frame | RefPointError = frame_from_serialized(
                        synced.color, synced.depth, synced.info
                    )
                except RefPointError as err:
                    converted = err
                self._checked = (key, converted)
            frame_or_error = self._checked[1]
        tf = self._tf

        def can_transform(target: str, source: str, stamp: int) -> bool:
            try:
                tf.lookup(target, source, stamp, 0.0)
            except RefPointError:
                return False
            return True

        checks = run_self_check(frame_or_error, self.cfg.refer.target_frame, can_transform)
        if checks != self._last_check:
            for check in checks:
                line = f"self-check {check.name}: {check.message}"
                if check.level == 0:  # one call site per severity (rclpy insists)
                    self.get_logger().info(line)
                else:
                    self.get_logger().warning(line)
            self._last_check = checks
        array = DiagnosticArray()
        array.header.stamp = self.get_clock().now().to_msg()
        status = DiagnosticStatus(
            level=bytes([max(int(c.level) for c in checks)]),
            name=f"{self.get_fully_qualified_name()}: camera input",
            message="; ".join(f"{c.name}: {c.message}" for c in checks),
            hardware_id=frame_or_error.frame_id if isinstance(frame_or_error, Frame) else "",
            values=[KeyValue(key=c.name, value=c.level.name) for c in checks],
        )
        array.status = [status, self._model_diagnostic()]
        self._pub_diag.publish(array)

    def _model_diagnostic(self) -> DiagnosticStatus:
        """The model's state on /diagnostics: OK once loaded, ERROR with the cause while not."""
        assert self.cfg is not None
        loading = self._loader.state() if self._loader is not None else None
        loaded = loading is not None and loading.loaded
        return DiagnosticStatus(
            level=bytes([0 if loaded else 2]),
            name=f"{self.get_fully_qualified_name()}: model",
            message=loading.describe() if loading is not None else "not configured",
            hardware_id=self.cfg.backend,
            values=[
                KeyValue(key="backend", value=self.cfg.backend),
                KeyValue(key="loaded", value=str(loaded).lower()),
                KeyValue(key="attempts", value=str(loading.attempts if loading else 0)),
            ],
        )
