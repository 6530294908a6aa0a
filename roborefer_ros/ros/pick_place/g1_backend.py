"""The g1 manipulation backend: the ROS side of the G1 arm bridge (unitree_ros2 topics).

``make_g1_backend(context)`` declares the ``g1_*`` parameters on pick_place_node, loads the arm
chains and hand limits from the G1 URDF and returns a backend whose ``execute`` runs
``manipulation.g1_bridge.G1Bridge`` with this module's ``RosG1Io``:

- publishes ``unitree_hg/msg/LowCmd`` on ``g1_arm_sdk_topic`` (``/arm_sdk``, reliable, depth 10
  like unitree's examples) and ``unitree_hg/msg/HandCmd`` on ``/dex3/<side>/cmd``;
- subscribes ``unitree_hg/msg/LowState`` on ``/lowstate`` and ``HandState`` on
  ``/lf/dex3/<side>/state`` (best effort, depth 1: only the newest matters) on a private node
  with its own single-threaded executor (``SpinThread``), so the state keeps arriving while a
  goal blocks in ``execute`` and never waits behind the node's other callbacks. The robot sends
  LowState at 500 Hz: the callback keeps the serialized bytes and their arrival time, and only
  the newest is deserialized, at the 50 Hz tick (deserializing every LowState in Python, on the
  node's multi-threaded executor, starved the state to ~17 Hz in a test).

Without ``unitree_hg`` (or without the URDF) the backend is ``UnavailableBackend`` with the reason
("unavailable: unitree_hg not installed").
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message

from roborefer_ros.manipulation.backend_context import BackendContext
from roborefer_ros.manipulation.g1.arm_sdk import (
    NUM_MOTORS,
    ArmCommand,
    LowStateSample,
    MotorCommand,
)
from roborefer_ros.manipulation.g1.bridge import G1Bridge
from roborefer_ros.manipulation.g1.crc import lowcmd_crc
from roborefer_ros.manipulation.g1.gravity import gravity_torques, load_upper_body
from roborefer_ros.manipulation.g1.hands import (
    NUM_HAND_MOTORS,
    HandCommand,
    HandStateSample,
    load_hand_limits,
)
from roborefer_ros.manipulation.g1.kinematics import (
    ArmSide,
    G1KinematicsError,
    load_arm_chain,
    load_waist_chain,
)
from roborefer_ros.manipulation.steps import (
    ExecutionResult,
    ManipulationBackend,
    StepCallback,
    StepPlan,
)
from roborefer_ros.ros.params import declare_parameters
from roborefer_ros.ros.pick_place.g1_params import (
    G1_PARAMETERS,
    G1BackendConfig,
    G1Topics,
    read_g1_config,
)
from roborefer_ros.ros.pick_place.g1_scene import DepthScene
from roborefer_ros.ros.pick_place.registry import UnavailableBackend
from roborefer_ros.ros.spin_thread import SpinThread, private_node_kwargs
from roborefer_ros.ros.tf import make_transform_listener

STATE_QOS = QoSProfile(
    depth=1, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.BEST_EFFORT
)
COMMAND_QOS = QoSProfile(
    depth=10, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE
)
UNAVAILABLE_NO_MSGS = "unavailable: unitree_hg not installed"


def fill_motor_cmd(out: Any, motor: MotorCommand) -> Any:
    """Copy one ``MotorCommand`` into a ``unitree_hg/MotorCmd`` (arm slots and Dex3 alike)."""
    out.mode = motor.mode
    out.q = float(motor.q)
    out.dq = float(motor.dq)
    out.tau = float(motor.tau)
    out.kp = float(motor.kp)
    out.kd = float(motor.kd)
    return out


def fill_low_cmd(msg: Any, command: ArmCommand, fill_crc: bool) -> Any:
    """Copy an ``ArmCommand`` into a ``unitree_hg/LowCmd`` (35 motor slots)."""
    msg.mode_pr = command.mode_pr
    msg.mode_machine = command.mode_machine
    for slot, motor in enumerate(command.motors):
        fill_motor_cmd(msg.motor_cmd[slot], motor)
    msg.crc = lowcmd_crc(command) if fill_crc else 0
    return msg


def motor_command_of(msg: Any) -> MotorCommand:
    """One ``unitree_hg/MotorCmd`` as a ``MotorCommand`` (what a robot or simulator receives)."""
    return MotorCommand(
        int(msg.mode), float(msg.q), float(msg.dq), float(msg.tau), float(msg.kp), float(msg.kd)
    )


def arm_command_of(msg: Any) -> tuple[ArmCommand, int, tuple[int, int, int, int]]:
    """(the command, its crc field, its reserve words) of a ``unitree_hg/LowCmd``."""
    motors = tuple(motor_command_of(m) for m in msg.motor_cmd[:NUM_MOTORS])
    reserve = tuple(int(r) for r in msg.reserve)
    return (
        ArmCommand(motors, int(msg.mode_pr), int(msg.mode_machine)),
        int(msg.crc),
        (reserve[0], reserve[1], reserve[2], reserve[3]),
    )


def hand_command_of(side: ArmSide, msg: Any) -> HandCommand:
    """A ``unitree_hg/HandCmd`` for that hand as a ``HandCommand``."""
    return HandCommand(side, tuple(motor_command_of(m) for m in msg.motor_cmd))


def low_state_sample(msg: Any, received_s: float) -> LowStateSample:
    motors = msg.motor_state
    return LowStateSample(
        q=np.array([m.q for m in motors[:NUM_MOTORS]], dtype=np.float64),
        dq=np.array([m.dq for m in motors[:NUM_MOTORS]], dtype=np.float64),
        mode_machine=int(msg.mode_machine),
        received_s=received_s,
        tick_ms=int(msg.tick),
    )


class RosG1Io:
    """``G1Io`` over unitree_ros2 topics; the clock is ``time.monotonic``."""

    def __init__(self, node: Any, topics: G1Topics, fill_crc: bool, msgs: Any) -> None:
        self._msgs = msgs
        self._fill_crc = fill_crc
        self._lock = threading.Lock()
        self._state: tuple[bytes, float] | None = None
        self._hand_states: dict[ArmSide, tuple[bytes, float]] = {}
        self.arm_pub = node.create_publisher(msgs.LowCmd, topics.arm_sdk, COMMAND_QOS)
        self.hand_pubs = {
            side: node.create_publisher(msgs.HandCmd, topics.hand_cmd_for(side.value), COMMAND_QOS)
            for side in ArmSide
        }
        # Names resolved by the node, so its remaps apply to the private listener too.
        state_topics = [
            topics.lowstate,
            *(topics.hand_state_for(s.value) for s in ArmSide),
            topics.depth,
            topics.camera_info,
        ]
        self._listener = SpinThread(
            f"{node.get_name()}_g1_state",
            context=node.context,
            **private_node_kwargs(node, state_topics),
        )
        listener = self._listener.node
        self.subscriptions = [
            listener.create_subscription(
                msgs.LowState, topics.lowstate, self._on_state, STATE_QOS, raw=True
            )
        ]
        for side in ArmSide:
            self.subscriptions.append(
                listener.create_subscription(
                    msgs.HandState,
                    topics.hand_state_for(side.value),
                    self._hand_callback(side),
                    STATE_QOS,
                    raw=True,
                )
            )

    @property
    def listener_node(self) -> Any:
        """The private node the state subscriptions live on (the scene's go there too)."""
        return self._listener.node

    def close(self) -> None:
        """Stop the state listener (the node's own publishers go with the node)."""
        self._listener.close()

    def _on_state(self, data: bytes) -> None:
        with self._lock:
            self._state = (data, time.monotonic())

    def _hand_callback(self, side: ArmSide) -> Callable[[bytes], None]:
        def store(data: bytes) -> None:
            with self._lock:
                self._hand_states[side] = (data, time.monotonic())

        return store

    def hand_state(self, side: ArmSide) -> tuple[Any, float] | None:
        """The newest HandState of that side and its arrival time (monotonic s), if any."""
        with self._lock:
            stored = self._hand_states.get(side)
        if stored is None:
            return None
        return deserialize_message(stored[0], self._msgs.HandState), stored[1]

    # -- G1Io ---------------------------------------------------------------------------------

    def latest_state(self) -> LowStateSample | None:
        with self._lock:
            state = self._state
        if state is None:
            return None
        return low_state_sample(deserialize_message(state[0], self._msgs.LowState), state[1])

    def latest_hand(self, side: ArmSide) -> HandStateSample | None:
        stored = self.hand_state(side)
        if stored is None:
            return None
        msg, received_s = stored
        q = np.array([float(m.q) for m in msg.motor_state[:NUM_HAND_MOTORS]], dtype=np.float64)
        if q.shape != (NUM_HAND_MOTORS,):
            return None  # a HandState without the Dex3's seven motors says nothing of the grasp
        return HandStateSample(side, q, received_s)

    def send_arm(self, command: ArmCommand) -> None:
        self.arm_pub.publish(fill_low_cmd(self._msgs.LowCmd(), command, self._fill_crc))

    def send_hand(self, command: HandCommand) -> None:
        msg = self._msgs.HandCmd()
        msg.motor_cmd = [fill_motor_cmd(self._msgs.MotorCmd(), m) for m in command.motors]
        self.hand_pubs[command.side].publish(msg)

    def now_s(self) -> float:
        return time.monotonic()

    def sleep_until(self, deadline_s: float) -> None:
        remaining = deadline_s - time.monotonic()
        if remaining > 0:
            time.sleep(remaining)


class G1RosBackend:
    """The registry's ``g1`` backend: ``G1Bridge`` on ``RosG1Io``."""

    name = "g1"

    def __init__(
        self,
        bridge: G1Bridge,
        io: RosG1Io,
        config: G1BackendConfig,
        logger: Any = None,
        scene: DepthScene | None = None,
    ) -> None:
        """``scene``: the depth the plans are checked against (its ``view`` is the bridge's
        ``scene``); closed with the backend."""
        self.bridge = bridge
        self.io = io
        self.config = config
        self.scene = scene
        self.logger = logger
        self._running = threading.Lock()

    def available(self) -> tuple[bool, str]:
        return True, ""

    def close(self) -> None:
        """Stop the state listener and the scene's transform listener."""
        self.io.close()
        if self.scene is not None:
            self.scene.transforms.close()

    def execute(
        self,
        plan: StepPlan,
        on_step: StepCallback | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> ExecutionResult:
        with self._running:  # one arm stream at a time, whatever the caller does
            self.bridge.last_choice = None
            result = self.bridge.execute(plan, on_step=on_step, cancelled=cancelled)
            choice = self.bridge.last_choice
            if choice is not None and self.logger is not None:
                against = (
                    f"scene intrusion {choice.intrusion_m * 1000:.0f} mm"
                    if choice.checked
                    else "not checked against the scene"
                )
                route = (
                    "joint space"
                    if choice.carry_rise_m is None
                    else (f"straight, risen {choice.carry_rise_m:.2f} m")
                )
                transit = (
                    "joint space"
                    if choice.transit_rise_m is None
                    else f"risen {choice.transit_rise_m:.2f} m"
                )
                waist = (
                    "held"
                    if choice.waist_yaw_rad is None
                    else f"turned to {choice.waist_yaw_rad:+.2f} rad"
                )
                self.logger.info(
                    f"g1 plan: {choice.side.value} arm, waist {waist}, first move {transit}, "
                    f"place yaw {choice.place_yaw_rad:+.2f} rad, "
                    f"shift ({choice.place_shift_xy_m[0]:+.3f}, {choice.place_shift_xy_m[1]:+.3f})"
                    f" m, lift to pre-place {route}, {against}"
                )
            return result


def make_g1_backend(context: BackendContext) -> ManipulationBackend:
    node = context.node
    if node is None:
        return UnavailableBackend("g1", "unavailable: the g1 backend needs a ROS node")
    declare_parameters(node, G1_PARAMETERS)
    values = {spec.name: node.get_parameter(spec.name).value for spec in G1_PARAMETERS}
    config = read_g1_config(values, context.plan_frame)  # ValueError: refuse to start
    try:
        import unitree_hg.msg as msgs
    except ImportError:
        return UnavailableBackend("g1", UNAVAILABLE_NO_MSGS)
    try:
        chains = {side: load_arm_chain(side, config.urdf_path) for side in ArmSide}
        hands = {side: load_hand_limits(side, config.urdf_path) for side in ArmSide}
        body = load_upper_body(config.urdf_path) if config.gravity_feedforward else None
        waist = load_waist_chain(config.urdf_path) if config.turn_waist else None
    except G1KinematicsError as err:
        return UnavailableBackend("g1", f"unavailable: {err}")
    gravity = None if body is None else partial(gravity_torques, body)
    io = RosG1Io(node, config.topics, config.fill_crc, msgs)
    scene = None
    if config.check_scene:
        transforms = make_transform_listener(
            f"{node.get_name()}_g1", context=node.context, **private_node_kwargs(node)
        )
        scene = DepthScene(
            io.listener_node,
            config.topics.depth,
            config.topics.camera_info,
            context.plan_frame,
            transforms,
            config.scene_max_age_s,
            node.get_logger(),
            lambda: node.get_clock().now().nanoseconds,
        )
    bridge = G1Bridge(
        config.bridge,
        io,
        chains,
        hands,
        gravity,
        scene=None if scene is None else scene.view,
        waist=waist,
    )
    backend = G1RosBackend(bridge, io, config, node.get_logger(), scene)
    node.get_logger().info(
        f"g1 arm bridge: {config.topics.arm_sdk} <- commands at "
        f"{1.0 / config.bridge.streamer.dt_s:.0f} Hz, state from {config.topics.lowstate}, "
        f"v_max {config.bridge.streamer.v_max_rad_s} rad/s, TCP ({config.bridge.ik.tcp_offset_m}, "
        f"{config.bridge.ik.tcp_lateral_m}) m in the palm, gravity feed-forward "
        f"{'on' if gravity is not None else 'off'}"
    )
    return backend
