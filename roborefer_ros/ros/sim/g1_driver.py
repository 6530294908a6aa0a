"""The simulated G1's unitree_ros2 interfaces: what the robot's own processes serve, over the
motors of sim_node's physics (``sim.arms.g1_lowlevel.G1LowLevel``, streamed by ``SimWorld``).

- ``/lowstate`` (unitree_hg/LowState): one per physics step, 500 Hz of simulated time (at
  wall-clock speed: the world runs a streaming robot in real time), best effort; 35 motor
  states, ``mode_machine`` 5, the IMU, the tick in ms and the crc over the robot's C struct.
  Written into a serialized template and published raw (``ros.cdr_layout``): through the
  message classes one LowState costs ~1.4 ms of Python here, more than its 2 ms period;
- ``/lf/dex3/{left,right}/state`` (unitree_hg/HandState): every fifth step (100 Hz), same way;
- ``/arm_sdk`` (unitree_hg/LowCmd): the arm_sdk blend (slot 29's ``q`` the weight), applied in
  physics until the next command; a crc that does not match the content drops the command
  (counted, logged);
- ``/dex3/{left,right}/cmd`` (unitree_hg/HandCmd): the Dex3's 7 motors per hand.

With a key-frame folder (sim_node's ``frames_dir``) the driver writes the pick-and-place key
frames from what it is commanded, as the UR cell's driver does, from the head camera's latest
frame (the scene camera's render would pause the 500 Hz physics longer than the bridge's stale-state
limit): start (the arm_sdk weight first above 0), grasp (a hand commanded closed), lift
(``LIFT_SHOT_AFTER_S`` later), place (the hand commanded open again), end (the weight back at 0),
and the strip.

Every ``REPORT_PERIOD_S`` the driver logs what it measured on the wall clock: the LowState and
camera rates, the arm_sdk command rate, the applied weight, dropped commands. The parameter
``g1_publish_lowstate`` (sim_node's, changeable while it runs) stops the state stream: test
instrumentation for the arm bridge's stale-state abort.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

from roborefer_ros.manipulation.g1.arm_sdk import NUM_MOTORS
from roborefer_ros.manipulation.g1.crc import LOWSTATE_STRUCT, lowstate_crc
from roborefer_ros.manipulation.g1.hands import (
    HAND_JOINTS,
    HandCommand,
    HandConfig,
    HandLimits,
    closure,
)
from roborefer_ros.manipulation.g1.kinematics import ArmSide
from roborefer_ros.ros.cdr_layout import FixedLayoutWriter
from roborefer_ros.ros.pick_place.g1_backend import arm_command_of, hand_command_of
from roborefer_ros.sim import T_LINK_FROM_OPTICAL
from roborefer_ros.sim.arms.g1_lowlevel import G1LowLevel, HandReading, LowStateReading
from roborefer_ros.sim.episodes.live import SimSnapshot, SimWorld
from roborefer_ros.sim.episodes.strip import DriverKeyFrames, KeyFrameWriter
from roborefer_ros.sim.render import RenderedFrame

LOWSTATE_TOPIC = "/lowstate"
ARM_SDK_TOPIC = "/arm_sdk"
HAND_CMD_TOPIC = "/dex3/{side}/cmd"
HAND_STATE_TOPIC = "/lf/dex3/{side}/state"
HAND_STATE_EVERY = 5  # physics steps per HandState (100 Hz)
REPORT_PERIOD_S = 10.0
STATE_QOS = QoSProfile(
    depth=1, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.BEST_EFFORT
)
COMMAND_QOS = QoSProfile(
    depth=10, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE
)
_NUM_HAND = len(HAND_JOINTS)
LIFT_SHOT_AFTER_S = 2.0  # wall time from the grasp shot to the lift shot


def _paths(prefix: str, count: int, field: str) -> tuple[str, ...]:
    return tuple(f"{prefix}[{i}].{field}" for i in range(count))


class LowStateWriter:
    """LowState messages as raw bytes: a serialized template with the changing fields written
    in place."""

    def __init__(self, msgs: Any) -> None:
        self._writer = FixedLayoutWriter(msgs.LowState())
        self._struct = np.zeros((), LOWSTATE_STRUCT)
        self._struct["motor_state"]["mode"] = 1  # every motor enabled
        self._writer.set(_paths("motor_state", NUM_MOTORS, "mode"), np.ones(NUM_MOTORS))

    def write(self, reading: LowStateReading) -> bytes:
        w, s = self._writer, self._struct
        imu, motors = s["imu_state"], s["motor_state"]
        s["mode_machine"], s["tick"] = reading.mode_machine, reading.tick_ms
        imu["quaternion"], imu["gyroscope"] = reading.quaternion_wxyz, reading.gyroscope
        imu["accelerometer"], imu["rpy"] = reading.accelerometer, reading.rpy
        motors["q"], motors["dq"], motors["tau_est"] = reading.q, reading.dq, reading.tau_est
        w.set(("mode_machine",), [reading.mode_machine])
        w.set(("tick",), [reading.tick_ms])
        for name in ("quaternion", "gyroscope", "accelerometer", "rpy"):
            values = imu[name]
            w.set(tuple(f"imu_state.{name}[{i}]" for i in range(len(values))), values)
        for name in ("q", "dq", "tau_est"):
            w.set(_paths("motor_state", NUM_MOTORS, name), motors[name])
        w.set(("crc",), [lowstate_crc(s)])
        return w.data()


class HandStateWriter:
    """HandState messages (7 motor states, no pressure sensors) as raw bytes."""

    def __init__(self, msgs: Any) -> None:
        template = msgs.HandState()
        template.motor_state = [msgs.MotorState(mode=1) for _ in range(_NUM_HAND)]
        self._writer = FixedLayoutWriter(template)

    def write(self, reading: HandReading) -> bytes:
        for name, values in (("q", reading.q), ("dq", reading.dq), ("tau_est", reading.tau_est)):
            self._writer.set(_paths("motor_state", _NUM_HAND, name), values)
        return self._writer.data()


def closing_share(limits: HandLimits, command: HandCommand) -> float:
    """How far ``command`` closes the hand: the mean over its fingers (not thumb_0, which turns
    the thumb about the palm) of where each target lies from open (0) to fully closed (1)."""
    full_range = HandConfig(close_fraction=1.0, open_spread_fraction=0.0)
    return float(np.mean(closure(limits, full_range, [m.q for m in command.motors])))


class G1KeyFrames:
    """The G1's commands as the key-frame events of ``DriverKeyFrames`` (module docstring);
    each frame is the newest head-camera frame (``saw``). Nothing is recognised before the
    camera's first frame: a command then waits for the next one."""

    def __init__(self, writer: KeyFrameWriter, hand_limits: dict[ArmSide, HandLimits]) -> None:
        self.hand_limits = hand_limits
        self._keys = DriverKeyFrames(writer, self._latest_frame)
        self._latest: SimSnapshot | None = None
        self._lift_at_s = 0.0
        self._lock = threading.Lock()

    @property
    def stage(self) -> str:
        return self._keys.stage

    def saw(self, snapshot: SimSnapshot) -> None:
        self._latest = snapshot

    def _latest_frame(self) -> RenderedFrame:
        snapshot = self._latest
        assert snapshot is not None  # events wait for the first frame
        return RenderedFrame(
            snapshot.sim_time_s,
            snapshot.rgb,
            snapshot.depth_m,
            np.zeros(snapshot.depth_m.shape, np.int32),
            snapshot.camera,
            snapshot.T_base_from_link @ T_LINK_FROM_OPTICAL,
        )

    def on_weight(self, weight: float, now_s: float) -> None:
        """The arm_sdk weight: rising from 0 starts, held past the lift time lifts, back at 0
        after the release ends."""
        if self._latest is None:
            return
        with self._lock:
            if weight > 0.0:
                self._keys.before_trajectory()
            stage = self._keys.stage
            if (stage == "grasped" and now_s >= self._lift_at_s) or (
                stage == "released" and weight <= 0.0
            ):
                self._keys.after_trajectory()

    def on_hand(self, command: HandCommand, now_s: float) -> None:
        """A hand commanded closed grasps, commanded open again places."""
        limits = self.hand_limits.get(command.side)
        if limits is None or self._latest is None:
            return
        closed = closing_share(limits, command) > 0.5
        with self._lock:
            if closed and self._keys.stage == "moving":
                self._keys.after_close(stalled=True)
                self._lift_at_s = now_s + LIFT_SHOT_AFTER_S
            elif not closed:
                self._keys.before_open()

    def close(self) -> None:
        with self._lock:
            self._keys.close()


class SimG1Driver:
    """The G1's unitree_ros2 interfaces on ``node`` (sim_node) over ``world``'s streaming
    ``G1LowLevel``; ``on_period`` is the world's per-step callback (the sim thread)."""

    def __init__(self, node: Node, world: SimWorld, key_frames: G1KeyFrames | None = None) -> None:
        import unitree_hg.msg as msgs

        self.node, self.world, self._msgs = node, world, msgs
        self.key_frames = key_frames
        self._low_state = LowStateWriter(msgs)
        self._hand_states = {side: HandStateWriter(msgs) for side in ArmSide}
        self._pub_state = node.create_publisher(msgs.LowState, LOWSTATE_TOPIC, STATE_QOS)
        self._pub_hands = {
            side: node.create_publisher(
                msgs.HandState, HAND_STATE_TOPIC.format(side=side.value), STATE_QOS
            )
            for side in ArmSide
        }
        self._subscriptions = [
            node.create_subscription(msgs.LowCmd, ARM_SDK_TOPIC, self._on_arm_sdk, COMMAND_QOS)
        ]
        for side in ArmSide:
            self._subscriptions.append(
                node.create_subscription(
                    msgs.HandCmd,
                    HAND_CMD_TOPIC.format(side=side.value),
                    self._hand_callback(side),
                    COMMAND_QOS,
                )
            )
        self.publish_state = True
        self.states_published = 0
        self.max_gap_s = 0.0  # longest wall time between two LowStates since the last report
        self._last_state_s: float | None = None
        self._steps = 0
        self._lock = threading.Lock()
        self._report = (time.monotonic(), 0, 0, 0, 0)  # wall, states, frames, commands, crc
        self._timer = node.create_timer(REPORT_PERIOD_S, self._log_rates)

    def destroy(self) -> None:
        self._timer.cancel()
        if self.key_frames is not None:
            self.key_frames.close()

    @property
    def robot(self) -> G1LowLevel | None:
        robot: G1LowLevel | None = self.world.streaming
        return robot

    # ----- commands (executor threads) -----------------------------------------------------
    def _on_arm_sdk(self, msg: Any) -> None:
        robot = self.robot
        if robot is None:
            return
        command, crc, reserve = arm_command_of(msg)
        if robot.receive_arm_sdk(command, crc, reserve) and self.key_frames is not None:
            self.key_frames.on_weight(command.weight, time.monotonic())

    def _hand_callback(self, side: ArmSide) -> Any:
        def receive(msg: Any) -> None:
            robot = self.robot
            if robot is not None and len(msg.motor_cmd) == _NUM_HAND:
                command = hand_command_of(side, msg)
                robot.receive_hand(command)
                if self.key_frames is not None:
                    self.key_frames.on_hand(command, time.monotonic())

        return receive

    # ----- state (the sim thread, every physics step) --------------------------------------
    def on_period(self, robot: G1LowLevel) -> None:
        self._steps += 1
        if not self.publish_state or not self.node.context.ok():
            return
        try:
            self._publish_state(robot)
        except Exception:
            if self.node.context.ok():
                raise
            # shutting down (Ctrl-C): the context went between the check and the publish

    def _publish_state(self, robot: G1LowLevel) -> None:
        self._pub_state.publish(self._low_state.write(robot.low_state()))
        now = time.monotonic()
        if self._last_state_s is not None:
            self.max_gap_s = max(self.max_gap_s, now - self._last_state_s)
        self._last_state_s = now
        self.states_published += 1
        if self._steps % HAND_STATE_EVERY == 0:
            for side, writer in self._hand_states.items():
                self._pub_hands[side].publish(writer.write(robot.hand_state(side)))

    def _log_rates(self) -> None:
        robot = self.robot
        if robot is None:
            return
        now = time.monotonic()
        states, frames = self.states_published, self.world.frames_published
        commands, crc = robot.arm_commands, robot.crc_errors
        t0, states0, frames0, commands0, crc0 = self._report
        self._report = (now, states, frames, commands, crc)
        span = max(now - t0, 1e-6)
        gap, self.max_gap_s = self.max_gap_s, 0.0
        line = (
            f"g1 over {span:.0f} s (wall): /lowstate {(states - states0) / span:.0f} Hz (longest "
            f"gap {gap * 1e3:.0f} ms), camera "
            f"{(frames - frames0) / span:.1f} Hz, /arm_sdk {(commands - commands0) / span:.0f} "
            f"Hz, weight {robot.weight:.2f}, physics behind the wall clock "
            f"{self.world.lag_resets} times"
        )
        if crc != crc0:
            line += f"; {crc - crc0} LowCmd dropped (crc mismatch), {crc} in all"
        self.node.get_logger().info(line)
