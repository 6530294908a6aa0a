"""The simulated G1's motors (ROS-free, in physics): the standing stand-in, the arm_sdk weight
blend applied as it ramps, the crc check, the Dex3 PD law, the URDF gravity model against
MuJoCo's; and the real arm bridge driving them on the simulated clock, with its safety rules
proven in physics: a stale LowState mid-motion aborts and releases, an arm blocked by an obstacle
trips the tracking-error abort, a cancel releases."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import partial

import numpy as np
import pytest

from roborefer_ros.core.transforms import Transform
from roborefer_ros.manipulation.g1.arm_sdk import (
    NUM_MOTORS,
    WEIGHT_SLOT,
    ArmCommand,
    MotorCommand,
)
from roborefer_ros.manipulation.g1.bridge import G1Bridge
from roborefer_ros.manipulation.g1.crc import lowcmd_crc
from roborefer_ros.manipulation.g1.gravity import MOTOR_SLOTS, gravity_torques, load_upper_body
from roborefer_ros.manipulation.g1.hands import HandCommand, load_hand_limits
from roborefer_ros.manipulation.g1.hands import hand_command as dex3_command
from roborefer_ros.manipulation.g1.kinematics import ArmSide, forward_kinematics, load_arm_chain
from roborefer_ros.manipulation.steps import (
    ExecutionResult,
    ExecutionStatus,
    Stage,
    Step,
    StepKind,
    StepPlan,
)
from roborefer_ros.sim import SimScene, build_scene
from roborefer_ros.sim._mj import import_mujoco
from roborefer_ros.sim.arms.g1_bridge import G1_BRIDGE_CONFIG
from roborefer_ros.sim.arms.g1_lowlevel import G1LowLevel, VirtualClockIo
from roborefer_ros.sim.robots import ROBOT_PREFIX, robot_variant
from roborefer_ros.sim.spec import ObjectKind, ObjectSpec

SEED = 27
FRONTAL = (0.7071067811865476, 0.0, 0.7071067811865475, 0.0)  # TCP z forward, x up
LEFT = list(ArmSide.LEFT.motor_slots)
BODY = load_upper_body()
CHAINS = {side: load_arm_chain(side) for side in ArmSide}
HANDS = {side: load_hand_limits(side) for side in ArmSide}
SHELF_TOP_M = 0.18  # the blocked-arm test's shelf, above the table


@pytest.fixture(scope="module")
def built() -> Iterator[tuple[SimScene, np.ndarray]]:
    with build_scene(SEED, "g1", width=160, height=120, dynamic_objects=True) as scene:
        yield scene, scene.data.qpos.copy()


@pytest.fixture
def scene(built: tuple[SimScene, np.ndarray]) -> SimScene:
    """The module's scene back at its first state (the G1 homed, objects where they started)."""
    scene, qpos = built
    mujoco = import_mujoco()
    mujoco.mj_resetData(scene.model, scene.data)
    scene.data.qpos[:] = qpos
    mujoco.mj_forward(scene.model, scene.data)
    return scene


def _bridge(robot: G1LowLevel, **faults: float) -> tuple[G1Bridge, VirtualClockIo]:
    io = VirtualClockIo(robot, **faults)
    gravity = partial(gravity_torques, BODY)
    return G1Bridge(G1_BRIDGE_CONFIG, io, CHAINS, HANDS, gravity), io


def _move(x: float, y: float, z: float) -> StepPlan:
    target = Transform((x, y, z), FRONTAL)
    return StepPlan("torso_link", (Step(StepKind.MOVE, Stage.APPROACH, "move", target),))


def _weights(io: VirtualClockIo) -> np.ndarray:
    return np.array([command.weight for _, command in io.arm_log])


def test_the_urdf_gravity_model_holds_the_simulated_upper_body(scene: SimScene) -> None:
    """The bridge's feed-forward (URDF inertias) equals MuJoCo's gravity forces on the same
    robot, at random postures: the simulated arm_sdk command holds the arm as it should."""
    mujoco = import_mujoco()
    model, data = scene.model, scene.data
    saved = model.body_gravcomp.copy()
    model.body_gravcomp[:] = 0.0
    rng = np.random.default_rng(3)
    try:
        for _ in range(3):
            q = np.zeros(NUM_MOTORS)
            for name, slot in MOTOR_SLOTS.items():
                joint = model.joint(ROBOT_PREFIX + name)
                q[slot] = 0.5 * rng.uniform(*model.jnt_range[joint.id])
                data.qpos[joint.qposadr[0]] = q[slot]
            data.qvel[:] = 0.0
            mujoco.mj_forward(model, data)
            expected = [
                data.qfrc_bias[model.joint(ROBOT_PREFIX + n).dofadr[0]] for n in MOTOR_SLOTS
            ]
            mine = gravity_torques(BODY, q)[[MOTOR_SLOTS[n] for n in MOTOR_SLOTS]]
            assert mine == pytest.approx(expected, abs=1e-6)
            assert max(abs(t) for t in expected) > 1.0  # a posture that loads the motors
    finally:
        model.body_gravcomp[:] = saved


def test_the_standing_stand_in_holds_the_arms_and_the_state_reads_like_a_g1(
    scene: SimScene,
) -> None:
    robot = G1LowLevel(scene)
    standing = robot.standing_q()
    for _ in range(500):  # 1 s of simulated time, no command
        robot.step()
    state = robot.low_state()
    assert state.mode_machine == 5 and state.tick_ms == 1000
    assert state.q.shape == state.dq.shape == state.tau_est.shape == (35,)
    assert np.all(state.q[:12] == 0.0) and np.all(state.q[29:] == 0.0)  # rigid legs, no motors
    assert np.max(np.abs(state.q - standing)) < 0.005
    assert state.accelerometer == pytest.approx((0.0, 0.0, 9.81))
    assert robot.weight == 0.0
    assert abs(state.tau_est[MOTOR_SLOTS["left_shoulder_pitch_joint"]]) > 0.1  # it holds weight


def test_the_weight_ramp_is_applied_as_a_blend_of_the_two_controllers(scene: SimScene) -> None:
    """arm_sdk's weight in slot 29, ramped 0 -> 1 at 50 Hz: the applied weight follows each
    command, and the left shoulder moves from the standing posture to the command through the
    blend of the two PD laws' equilibria (kp 60 against the stand-in's 100)."""
    robot = G1LowLevel(scene)
    io = VirtualClockIo(robot)
    standing = robot.standing_q()
    q_cmd = standing.copy()
    slot = MOTOR_SLOTS["left_shoulder_pitch_joint"]
    q_cmd[slot] -= 0.5
    tau = gravity_torques(BODY, q_cmd)
    seen: list[tuple[float, float]] = []
    for k in range(1, 151):  # 3 s ramp, slow enough to stay near equilibrium
        weight = k / 150
        motors = [MotorCommand() for _ in range(NUM_MOTORS)]
        for s in MOTOR_SLOTS.values():
            motors[s] = MotorCommand(q=float(q_cmd[s]), tau=float(tau[s]), kp=60.0, kd=1.5)
        motors[WEIGHT_SLOT] = MotorCommand(q=weight)
        io.send_arm(ArmCommand(tuple(motors)))
        io.sleep_until(io.now_s() + 0.02)
        assert robot.weight == pytest.approx(weight)
        seen.append((weight, float(robot.low_state().q[slot])))
    io.sleep_until(io.now_s() + 1.0)
    applied = np.array([w for _, w in robot.weights])
    assert np.all(np.diff(applied) >= 0.0) and applied[-1] == 1.0
    for weight, measured in seen[24::25]:
        kp = weight * 60.0 + (1.0 - weight) * 100.0
        expected = (weight * 60.0 * q_cmd[slot] + (1.0 - weight) * 100.0 * standing[slot]) / kp
        assert measured == pytest.approx(expected, abs=0.03), weight
    assert robot.low_state().q[slot] == pytest.approx(q_cmd[slot], abs=0.01)


def test_a_lowcmd_with_a_wrong_crc_is_dropped_and_counted(scene: SimScene) -> None:
    robot = G1LowLevel(scene)
    motors = [MotorCommand() for _ in range(NUM_MOTORS)]
    motors[WEIGHT_SLOT] = MotorCommand(q=1.0)
    command = ArmCommand(tuple(motors))
    assert not robot.receive_arm_sdk(command, crc=lowcmd_crc(command) ^ 1)
    robot.step()
    assert robot.crc_errors == 1 and robot.weight == 0.0 and robot.arm_command is None
    assert robot.receive_arm_sdk(
        command, crc=lowcmd_crc(command, (7, 0, 0, 0)), reserve=(7, 0, 0, 0)
    )
    robot.step()
    assert robot.crc_errors == 1 and robot.weight == 1.0


def test_a_dex3_command_closes_and_opens_the_hand(scene: SimScene) -> None:
    from roborefer_ros.manipulation.g1.hands import HandConfig

    robot = G1LowLevel(scene)
    io = VirtualClockIo(robot)
    closed = dex3_command(HANDS[ArmSide.RIGHT], True, HandConfig())
    robot.receive_hand(closed)
    io.sleep_until(1.0)
    reading = robot.hand_state(ArmSide.RIGHT)
    targets = np.array([m.q for m in closed.motors])
    assert np.max(np.abs(reading.q - targets)) < 0.1  # nothing between the fingers
    assert robot.hand_state(ArmSide.LEFT).q == pytest.approx(np.zeros(7), abs=0.02)
    robot.receive_hand(
        HandCommand(ArmSide.RIGHT, tuple(MotorCommand(kp=1.5, kd=0.1) for _ in range(7)))
    )
    io.sleep_until(2.0)
    assert np.max(np.abs(robot.hand_state(ArmSide.RIGHT).q)) < 0.1


def test_the_bridge_reaches_a_pose_in_physics_and_hands_the_arm_back(scene: SimScene) -> None:
    robot = G1LowLevel(scene)
    bridge, io = _bridge(robot)
    standing = robot.standing_q()
    plan = _move(0.22, 0.15, 0.17)
    plan = StepPlan(plan.frame, (*plan.steps, Step(StepKind.OPEN, Stage.PLACE, "open")))
    settled: list[np.ndarray] = []

    def on_step(index: int, _step: Step) -> None:
        if index == 1:  # the move has settled
            settled.append(robot.low_state().q[LEFT])

    result = bridge.execute(plan, on_step)
    assert result.status is ExecutionStatus.SUCCEEDED, result.message
    tcp = forward_kinematics(CHAINS[ArmSide.LEFT], settled[0], 0.06, 0.045)[:3, 3]
    assert math.dist(tcp, (0.22, 0.15, 0.17)) < 0.01
    weights = _weights(io)
    assert weights.max() == 1.0 and weights[-1] == 0.0 and robot.weight == 0.0
    io.sleep_until(io.now_s() + 2.0)  # released: the stand-in takes the arm back
    assert np.max(np.abs(robot.low_state().q[LEFT] - standing[LEFT])) < 0.02


def test_a_hand_closed_in_the_air_fails_the_grasp_on_the_lift(scene: SimScene) -> None:
    """The Dex3's joints in physics, read back through VirtualClockIo.latest_hand: nothing
    between the fingers lets them reach their close target, and the bridge says so."""
    robot = G1LowLevel(scene)
    bridge, io = _bridge(robot)
    grasp, lift = _move(0.22, 0.15, 0.17).steps[0], _move(0.22, 0.15, 0.21).steps[0]
    plan = StepPlan(
        "torso_link",
        (
            grasp,
            Step(StepKind.CLOSE, Stage.GRASP, "close"),
            replace(lift, stage=Stage.LIFT, label="lift"),
        ),
    )
    result = bridge.execute(plan)
    assert result.status is ExecutionStatus.GRASP_FAILED, result.message
    assert "left hand holds nothing after the lift" in result.message
    assert result.failed_step == 2
    _released(robot, io)
    assert np.max(np.abs(robot.hand_state(ArmSide.LEFT).q)) < 0.15  # opened again, in physics


def _released(robot: G1LowLevel, io: VirtualClockIo) -> None:
    """The bridge ramped the weight down to 0 without a jump, and physics applied it."""
    weights = _weights(io)
    peak = int(np.argmax(weights))
    assert weights[-1] == 0.0 and robot.weight == 0.0
    assert np.all(np.diff(weights[peak:]) <= 1e-9)


def test_a_stale_lowstate_mid_motion_aborts_and_releases(scene: SimScene) -> None:
    robot = G1LowLevel(scene)
    bridge, io = _bridge(robot, stale_from_s=2.0)  # after the ramp-in (1.5 s), while moving
    result = bridge.execute(_move(0.22, 0.15, 0.17))
    assert result.status is ExecutionStatus.EXECUTION_FAILED
    assert "aborted: LowState is" in result.message and "(limit 100 ms)" in result.message
    _released(robot, io)
    assert 2.0 < io.arm_log[-1][0] < 2.0 + 0.1 + 0.3 + 1.5 + 0.1  # timeout, hold, ramp out


def _with_shelf(built: SimScene, top_m: float | None) -> SimScene:
    """``built``'s scene without its objects; with ``top_m``, one fixed shelf (a box without a
    joint: welded to the world, immovable) standing on the table under the left hand, its top
    ``top_m`` above the table, covering x 0.16..0.40, y 0.00..0.24 in torso_link."""
    shelves: tuple[ObjectSpec, ...] = ()
    if top_m is not None:
        x, y, _z = built.body_pose(ROBOT_PREFIX + "torso_link").apply((0.28, 0.12, 0.0))
        template = built.spec.objects[0]
        shelf = replace(template, kind=ObjectKind.BOX, dims_m=(0.12, 0.12, top_m / 2))
        shelves = (replace(shelf, position_m=(x, y, top_m / 2), yaw_rad=0.0, support=None),)
    return SimScene(replace(built.spec, objects=shelves), robot_variant("g1"))  # static objects


@dataclass
class _Watched:
    """A move on the bridge, and what physics did meanwhile: the lowest the left hand's TCP went
    (the scene's TCP site, z above the table) and the robot links that touched an object."""

    result: ExecutionResult
    io: VirtualClockIo
    robot: G1LowLevel
    lowest_tcp_m: float
    touching: set[str]


def _watched_move(scene: SimScene, target: tuple[float, float, float]) -> _Watched:
    robot = G1LowLevel(scene)
    bridge, io = _bridge(robot)
    model, data = scene.model, scene.data
    tcp = data.site(ROBOT_PREFIX + "left_hand_tcp")
    objects = {int(model.body(o.name).id) for o in scene.spec.objects}
    lowest, touching = [math.inf], set()
    step = io.sleep_until

    def sleep_until(deadline_s: float) -> None:
        step(deadline_s)
        lowest[0] = min(lowest[0], float(tcp.xpos[2]))
        for contact in data.contact[: int(data.ncon)]:
            b1, b2 = (int(model.geom_bodyid[g]) for g in (contact.geom1, contact.geom2))
            for link, other in ((b1, b2), (b2, b1)):
                if other in objects:
                    touching.add(str(model.body(link).name).removeprefix(ROBOT_PREFIX))

    io.sleep_until = sleep_until  # type: ignore[method-assign]
    result = bridge.execute(_move(*target))
    return _Watched(result, io, robot, lowest[0], touching)


def test_an_arm_blocked_by_an_obstacle_trips_the_tracking_abort(
    built: tuple[SimScene, np.ndarray],
) -> None:
    """The left hand goes 0.26 m down and 0.20 m inwards (~1.1 rad of joint travel) to a point
    0.04 m above the table. Without an obstacle the move succeeds; with a fixed shelf (welded to
    the world) 0.18 m tall under its way, the hand lands on the shelf and stays above it, the
    desired joints go on, and the bridge aborts at its tracking error bound (0.25 rad; the
    measured joints end ~0.55 rad short, so the bound is passed with room), then releases."""
    target = (0.30, 0.0, 0.08)  # torso_link, 0.044 m above the table
    with _with_shelf(built[0], None) as free:
        moved = _watched_move(free, target)
    assert moved.result.status is ExecutionStatus.SUCCEEDED, moved.result.message
    assert moved.lowest_tcp_m < 0.06 and not moved.touching  # all the way down, nothing hit

    with _with_shelf(built[0], SHELF_TOP_M) as blocked:
        moved = _watched_move(blocked, target)
    assert moved.result.status is ExecutionStatus.EXECUTION_FAILED
    assert "aborted: tracking error" in moved.result.message, moved.result.message
    assert moved.lowest_tcp_m > SHELF_TOP_M  # the shelf held the hand up
    assert any("hand" in link for link in moved.touching), moved.touching
    _released(moved.robot, moved.io)


def test_a_cancel_mid_motion_releases(scene: SimScene) -> None:
    robot = G1LowLevel(scene)
    bridge, io = _bridge(robot)
    result = bridge.execute(_move(0.22, 0.15, 0.17), cancelled=lambda: io.now_s() > 2.2)
    assert result.status is ExecutionStatus.CANCELED
    _released(robot, io)
    assert io.arm_log[-1][0] < 2.2 + 1.5 + 0.1  # straight into the ramp-out
