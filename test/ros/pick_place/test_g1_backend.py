"""The g1 backend's ROS side: parameters, message filling, unavailability, and a live graph with
a fake G1 process that follows the arm_sdk commands."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter

from roborefer_ros.core.transforms import Transform
from roborefer_ros.manipulation.backend_context import BackendContext
from roborefer_ros.manipulation.g1.arm_sdk import ARM_SLOTS, WEIGHT_SLOT, ArmCommand, MotorCommand
from roborefer_ros.manipulation.g1.crc import lowcmd_crc
from roborefer_ros.manipulation.g1.kinematics import ArmSide, forward_kinematics, load_arm_chain
from roborefer_ros.manipulation.steps import ExecutionStatus, Stage, Step, StepKind, StepPlan
from roborefer_ros.ros.graph import GraphClient, NodeProcess, refer_node_args
from roborefer_ros.ros.pick_place.g1_backend import (
    UNAVAILABLE_NO_MSGS,
    G1RosBackend,
    fill_low_cmd,
    low_state_sample,
    make_g1_backend,
)
from roborefer_ros.ros.pick_place.g1_params import G1_PARAMETERS, g1_default_values, read_g1_config
from roborefer_ros.tools.config_check import param_file_problems

FRONTAL = (0.7071067811865476, 0.0, 0.7071067811865475, 0.0)  # TCP z forward, x up
TARGET = Transform((0.25, 0.18, -0.03), FRONTAL)
PLAN = StepPlan(
    "torso_link",
    (
        Step(StepKind.MOVE, Stage.APPROACH, "pre-grasp", TARGET),
        Step(StepKind.CLOSE, Stage.GRASP, "close"),
    ),
)
FAST = [  # keep the live tests short: ramps at their minimum
    Parameter("g1_ramp_in_s", value=0.5),
    Parameter("g1_ramp_out_s", value=0.5),
    Parameter("g1_max_joint_velocity_rad_s", value=0.8),
    Parameter("g1_hand_duration_s", value=0.2),
    Parameter("g1_goal_tolerance_rad", value=0.01),  # settle close, so the FK check is tight
]
# The fake robot is a Python process on a shared test machine: its 100 Hz /lowstate now and then
# pauses for over 100 ms (550 ms seen in a full suite run), and while it pauses its joints fall
# behind the commands. The success tests allow that; the 100 ms abort and the tracking abort are
# unit-tested, and the stale test below runs with the default.
LOADED_MACHINE = [
    Parameter("g1_state_timeout_s", value=1.0),
    Parameter("g1_tracking_error_rad", value=0.8),
]


# -- without a graph ------------------------------------------------------------------------------


def test_defaults_read_into_the_documented_limits() -> None:
    config = read_g1_config(g1_default_values(), "torso_link")
    streamer = config.bridge.streamer
    assert streamer.dt_s == pytest.approx(0.02)
    assert (streamer.kp, streamer.kd, streamer.v_max_rad_s) == (60.0, 1.5, 0.6)
    assert streamer.state_timeout_s == 0.1 and streamer.expected_mode_machine == 5
    assert config.topics.arm_sdk == "/arm_sdk" and config.topics.lowstate == "/lowstate"
    assert config.topics.hand_cmd_for("left") == "/dex3/left/cmd"
    assert config.topics.hand_state_for("right") == "/lf/dex3/right/state"
    assert config.fill_crc and config.urdf_path is None


def test_bad_values_are_refused() -> None:
    values = g1_default_values()
    with pytest.raises(ValueError, match="must contain \\{side\\}"):
        read_g1_config({**values, "g1_hand_cmd_topic": "/dex3/cmd"}, "torso_link")
    with pytest.raises(ValueError, match="plans in torso_link"):
        read_g1_config(values, "pelvis")
    with pytest.raises(ValueError, match="v_max_rad_s"):
        read_g1_config({**values, "g1_max_joint_velocity_rad_s": 3.0}, "torso_link")


def test_config_check_knows_the_g1_parameters(tmp_path: Path) -> None:
    good = tmp_path / "pick_place_node.g1.yaml"
    good.write_text(
        "pick_place_node:\n  ros__parameters:\n    manipulation_backend: g1\n"
        "    g1_max_joint_velocity_rad_s: 0.5\n    g1_arm_sdk_topic: /arm_sdk\n"
    )
    assert param_file_problems(good) == []
    bad = tmp_path / "pick_place_node.bad.yaml"
    bad.write_text("pick_place_node:\n  ros__parameters:\n    g1_max_joint_velocity: 0.5\n")
    assert "unknown parameter 'g1_max_joint_velocity'" in param_file_problems(bad)[0]
    assert {spec.name for spec in G1_PARAMETERS} >= {"g1_arm_sdk_topic", "g1_lowstate_topic"}


def test_fill_low_cmd_copies_all_35_slots_and_the_crc() -> None:
    from unitree_hg.msg import LowCmd, LowState

    motors = [MotorCommand() for _ in range(35)]
    motors[16] = MotorCommand(q=0.4, kp=60.0, kd=1.5)
    motors[WEIGHT_SLOT] = MotorCommand(q=0.5)
    command = ArmCommand(tuple(motors))
    msg = fill_low_cmd(LowCmd(), command, fill_crc=True)
    assert msg.motor_cmd[16].q == pytest.approx(0.4) and msg.motor_cmd[16].kp == 60.0
    assert msg.motor_cmd[29].q == 0.5 and msg.crc == lowcmd_crc(command) != 0
    assert fill_low_cmd(LowCmd(), command, fill_crc=False).crc == 0
    state = LowState()
    state.mode_machine = 5
    state.motor_state[20].q = 0.3
    sample = low_state_sample(state, 12.5)
    assert sample.q.shape == (35,) and sample.q[20] == pytest.approx(0.3)
    assert (sample.mode_machine, sample.received_s) == (5, 12.5)


@pytest.fixture
def ros_node() -> Iterator[Node]:
    context = Context()
    rclpy.init(context=context)
    node = Node("pick_place_node", context=context)
    yield node
    node.destroy_node()
    rclpy.try_shutdown(context=context)


def test_without_unitree_hg_the_backend_says_so(
    ros_node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "unitree_hg.msg", None)  # import raises ImportError
    backend = make_g1_backend(BackendContext(ros_node, "torso_link"))
    assert backend.available() == (False, UNAVAILABLE_NO_MSGS)
    assert backend.execute(PLAN).status is ExecutionStatus.UNAVAILABLE
    assert UNAVAILABLE_NO_MSGS == "unavailable: unitree_hg not installed"


def test_without_the_urdf_the_backend_names_it(
    ros_node: Node, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROBOREFER_G1_URDF", str(tmp_path / "missing.urdf"))
    backend = make_g1_backend(BackendContext(ros_node, "torso_link"))
    ok, why = backend.available()
    assert not ok and "missing.urdf" in why


# -- live graph -----------------------------------------------------------------------------------


@dataclass
class Recorder:
    """/arm_sdk as it went out, and /lowstate as it came in (wall times)."""

    commands: list[tuple[float, np.ndarray, float]] = field(default_factory=list)  # t, arm q, w

    def on_command(self, msg: Any) -> None:
        q = np.array([msg.motor_cmd[s].q for s in ARM_SLOTS])
        self.commands.append((time.monotonic(), q, msg.motor_cmd[WEIGHT_SLOT].q))


@dataclass
class G1Rig:
    backend: G1RosBackend
    recorder: Recorder
    fake: NodeProcess


@pytest.fixture(autouse=True)
def _udp_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    """The G1 streams are small and frequent (LowState 100 Hz here, 500 Hz on the robot, LowCmd
    50 Hz). The suite's FastDDS setting for camera frames (shared memory only, 8 MB messages in
    32 MB segments, test/conftest.py) stalls such a stream for up to 1.5 s once both directions
    run (measured: 6 gaps > 100 ms in 5 s; none over UDP or FastDDS's default transports), which
    is a test-transport artefact, not the bridge: these tests use UDP on loopback."""
    monkeypatch.setenv("FASTDDS_BUILTIN_TRANSPORTS", "UDPv4")


@contextlib.contextmanager
def _rig(tmp_path: Path, *fake_args: str, overrides: tuple[Parameter, ...] = ()) -> Iterator[G1Rig]:
    from unitree_hg.msg import LowCmd

    domain_id = int(os.environ["ROS_DOMAIN_ID"])
    fake = NodeProcess(
        "roborefer_ros.testing.fake_g1_node", list(fake_args), domain_id, tmp_path / "fake_g1.log"
    )
    with contextlib.ExitStack() as stack:
        stack.callback(fake.stop)
        context = Context()
        rclpy.init(context=context)
        stack.callback(lambda: rclpy.try_shutdown(context=context))
        node = Node("pick_place_node", context=context, parameter_overrides=[*FAST, *overrides])
        stack.callback(node.destroy_node)
        backend = make_g1_backend(BackendContext(node, "torso_link"))
        assert isinstance(backend, G1RosBackend), backend.available()
        stack.callback(backend.close)
        recorder = Recorder()
        node.create_subscription(LowCmd, "/arm_sdk", recorder.on_command, 100)
        executor = SingleThreadedExecutor(context=context)  # the MT one busy-loops (GIL)
        executor.add_node(node)
        spin = threading.Thread(target=executor.spin, daemon=True)
        spin.start()
        stack.callback(lambda: spin.join(timeout=5.0))
        stack.callback(lambda: executor.shutdown(timeout_sec=2.0))
        deadline = time.monotonic() + 20.0
        while backend.io.latest_state() is None:  # discovery of the fake robot
            assert fake.alive(), fake.log()
            assert time.monotonic() < deadline, f"no /lowstate from the fake G1\n{fake.log()}"
            time.sleep(0.05)
        yield G1Rig(backend, recorder, fake)


def _weights(recorder: Recorder) -> np.ndarray:
    return np.array([w for _, _, w in recorder.commands])


@pytest.mark.graph
def test_live_plan_streams_a_safe_arm_sdk_and_reaches_the_pose(tmp_path: Path) -> None:
    measured: list[np.ndarray] = []

    def on_step(index: int, _step: Step) -> None:
        if index == 1:  # the move has settled: the LowState the bridge sees now
            state = rig.backend.io.latest_state()
            assert state is not None
            measured.append(state.q.copy())

    with _rig(tmp_path, overrides=tuple(LOADED_MACHINE)) as rig:
        started = time.monotonic()
        result = rig.backend.execute(PLAN, on_step=on_step)
        elapsed = time.monotonic() - started
        time.sleep(0.2)  # the last commands in flight
    assert result.status is ExecutionStatus.SUCCEEDED, result.message
    config = rig.backend.config.bridge.streamer
    commands = rig.recorder.commands
    weights = _weights(rig.recorder)
    # weight ramp: up to 1 in ramp_in_s / dt ticks, then down to 0, never a jump
    peak = int(np.argmax(weights >= 1.0))
    assert weights[0] == pytest.approx(config.dt_s / config.ramp_in_s, rel=1e-5)
    assert peak == pytest.approx(config.ramp_in_s / config.dt_s - 1, abs=1)
    assert np.all(np.diff(weights[: peak + 1]) > 0)
    assert weights[-1] == 0.0 and np.all(np.diff(weights[peak:]) <= 1e-6)
    steps = np.abs(np.diff(weights))
    assert steps.max() <= config.dt_s / min(config.ramp_in_s, config.ramp_out_s) + 1e-5
    # velocity per tick (float32 on the wire)
    q = np.array([c[1] for c in commands])
    assert np.max(np.abs(np.diff(q, axis=0))) <= config.v_max_rad_s * config.dt_s + 1e-5
    # the rate: never above 50 Hz on average (the per-second bound); a loaded machine may lag
    rate_hz = (len(commands) - 1) / (commands[-1][0] - commands[0][0])
    assert 0.6 / config.dt_s < rate_hz < 1.1 / config.dt_s, f"{rate_hz:.1f} Hz"
    # the measured arm (/lowstate) once the move ended: FK within 1 cm of the target
    chain = load_arm_chain(ArmSide.LEFT)
    tcp = forward_kinematics(chain, measured[0][15:22], rig.backend.config.bridge.ik.tcp_offset_m)
    error = float(np.linalg.norm(tcp[:3, 3] - np.array(TARGET.translation)))
    assert error < 0.01, f"final TCP {error * 1000:.1f} mm from the target"
    print(f"live plan: {elapsed:.2f} s, {len(commands)} commands, TCP error {error * 1e3:.1f} mm")


@pytest.mark.graph
def test_live_stale_state_aborts_and_releases(tmp_path: Path) -> None:
    with _rig(tmp_path, "--stale-after-s", "0.3") as rig:
        result = rig.backend.execute(PLAN)
        time.sleep(0.2)
    assert result.status is ExecutionStatus.EXECUTION_FAILED
    assert "aborted: LowState is" in result.message and "(limit 100 ms)" in result.message
    weights = _weights(rig.recorder)
    assert weights[-1] == 0.0
    assert weights.max() < 1.0  # stopped during the ramp-in (0.3 s < 0.5 s)
    peak = int(np.argmax(weights))
    assert np.all(np.diff(weights[peak:]) <= 1e-6)  # then only down
    q = np.array([c[1] for c in rig.recorder.commands])
    config = rig.backend.config.bridge.streamer
    assert np.max(np.abs(np.diff(q, axis=0))) <= config.v_max_rad_s * config.dt_s + 1e-5


PICK_AND_LIFT = StepPlan(
    "torso_link",
    (
        *PLAN.steps,
        Step(StepKind.MOVE, Stage.LIFT, "lift", Transform((0.25, 0.18, 0.0), FRONTAL)),
    ),
)


@pytest.mark.graph
@pytest.mark.parametrize(
    ("hands", "status", "said"),
    [
        ("empty", ExecutionStatus.GRASP_FAILED, "left hand holds nothing after the lift"),
        ("holding", ExecutionStatus.SUCCEEDED, "done: 3 steps"),
        ("none", ExecutionStatus.SUCCEEDED, "grasp not verified: no fresh left HandState"),
    ],
)
def test_live_the_grasp_is_read_from_the_dex3_hand_state(
    tmp_path: Path, hands: str, status: ExecutionStatus, said: str
) -> None:
    """/lf/dex3/<side>/state after the lift: fingers that closed all the way held nothing."""
    with _rig(tmp_path, "--hands", hands, overrides=tuple(LOADED_MACHINE)) as rig:
        result = rig.backend.execute(PICK_AND_LIFT)
        time.sleep(0.2)
    assert result.status is status, result.message
    assert said in result.message
    assert _weights(rig.recorder)[-1] == 0.0  # the arm handed back either way


@pytest.mark.graph
def test_live_pick_place_goal_moves_the_g1_arm(tmp_path: Path) -> None:
    """The whole path through pick_place_node, each node in its own process as on the robot: a
    PickPlace goal with a ready pick pose, the g1 backend chosen by the manipulation_backend
    parameter, the fake G1 following /arm_sdk."""
    from geometry_msgs.msg import PoseStamped
    from rclpy.action.client import ActionClient
    from roborefer_ros.action import PickPlace

    from roborefer_ros.manipulation.errors import PickPlaceStatus

    domain_id = int(os.environ["ROS_DOMAIN_ID"])
    params: dict[str, Any] = {
        "manipulation_backend": "g1",
        "plan_frame": "torso_link",
        "grasp_style": "frontal",
        "approach_distance_m": 0.06,
        "lift_distance_m": 0.04,
        "linear_speed_scale": 0.5,
        "workspace_min_xyz": "[0.15, -0.45, -0.35]",
        "workspace_max_xyz": "[0.5, 0.45, 0.2]",
    }
    params.update({p.name: p.value for p in (*FAST, *LOADED_MACHINE)})
    with contextlib.ExitStack() as stack:
        fake = NodeProcess(
            "roborefer_ros.testing.fake_g1_node", [], domain_id, tmp_path / "fake_g1.log"
        )
        stack.callback(fake.stop)
        node = NodeProcess(
            "roborefer_ros.tools.pick_place_node",
            refer_node_args("pick_place_node", params),
            domain_id,
            tmp_path / "pick_place_node.log",
        )
        stack.callback(node.stop)
        graph = GraphClient(f"g1_pick_place_client_{os.getpid()}")
        stack.callback(graph.close)
        client = ActionClient(graph.node, PickPlace, "/pick_place_node/pick_place")
        assert client.wait_for_server(timeout_sec=30), node.log()
        pick = PoseStamped()
        pick.header.frame_id = "torso_link"
        pick.pose.position.x, pick.pose.position.y, pick.pose.position.z = 0.30, 0.18, -0.05
        pick.pose.orientation.w = 1.0
        feedback: list[Any] = []
        future = client.send_goal_async(
            PickPlace.Goal(pick_pose=pick), feedback_callback=lambda m: feedback.append(m.feedback)
        )
        deadline = time.monotonic() + 60.0
        while not future.done():
            assert time.monotonic() < deadline, "no goal acceptance"
            time.sleep(0.01)
        result_future = future.result().get_result_async()
        while not result_future.done():
            assert time.monotonic() < deadline, f"no result\n{node.log()[-3000:]}"
            time.sleep(0.02)
        result = result_future.result().result
        assert node.alive() and fake.alive()
        assert "g1 arm bridge: /arm_sdk" in node.log()
    assert result.status == PickPlaceStatus.OK, result.message
    assert len(feedback) >= 4  # one per step: pre-grasp, approach, close, lift
