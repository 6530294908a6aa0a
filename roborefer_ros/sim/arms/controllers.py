"""The simulated arm's controllers, as a real cell's drivers offer them (ROS-free).

``follow_trajectory`` is what ros2_control's joint trajectory controller does with a
``control_msgs/FollowJointTrajectory`` goal (ur_robot_driver's
``scaled_joint_trajectory_controller``): it samples the trajectory every control period (cubic
Hermite between points that carry velocities, linear otherwise), drives the arm's position
servos along it in physics, aborts when a joint strays from its reference by more than the path
tolerance (the arm blocked, or pushed: a contact does the rest, as on a real arm), and at the end
waits up to the goal time tolerance for every joint to settle within the goal tolerance. Its
result codes are the action's. ``command_gripper`` is a Robotiq driver's ``GripperCommand``:
move the fingers towards a position with a force limit and report where they stopped, the
effort, whether they stalled (an object between them) and whether they reached the goal.

Both run on the simulation's thread, inside its lock; ``hook()`` is called after every control
period (the live simulation renders its camera there) and returns True to cancel.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from roborefer_ros.sim.arms.executor import SimArmBackend

FloatArray = npt.NDArray[np.float64]
Hook = Callable[[], bool]

# ur_robot_driver's controller defaults (ur_controllers.yaml): per joint, 0.2 rad from the
# reference along the path and 0.1 rad at the goal; a goal settles within a second.
DEFAULT_PATH_TOLERANCE_RAD = 0.2
DEFAULT_GOAL_TOLERANCE_RAD = 0.1
DEFAULT_GOAL_TIME_S = 1.0
_SETTLED_SPEED = 0.02  # rad/s: the arm has stopped
_GRIPPER_TIMEOUT_S = 2.0
_GRIPPER_STILL_S = 0.1  # fingers that moved less than this long ago are still moving
_GRIPPER_SPEED = 0.05  # rad/s
_GRIPPER_REACHED = 0.025  # within this of the goal: reached (the 2F-85 closes to 0.78)
_ARM_SETTLE_S = 0.5  # after the fingers, the arm may take this long to stop swaying


class TrajectoryError(IntEnum):
    """``control_msgs/action/FollowJointTrajectory`` result error codes."""

    SUCCESSFUL = 0
    INVALID_GOAL = -1
    INVALID_JOINTS = -2
    OLD_HEADER_TIMESTAMP = -3
    PATH_TOLERANCE_VIOLATED = -4
    GOAL_TOLERANCE_VIOLATED = -5


@dataclass(frozen=True)
class JointTrajectory:
    """``trajectory_msgs/JointTrajectory`` as plain data: per point its time from start (s),
    positions (rad) and, when given, velocities (rad/s), in ``joint_names`` order."""

    joint_names: tuple[str, ...]
    times_s: tuple[float, ...]
    positions: tuple[tuple[float, ...], ...]
    velocities: tuple[tuple[float, ...], ...] | None = None


@dataclass(frozen=True)
class Tolerances:
    """Per joint name: path and goal tolerances (rad; absent or <= 0: the controller's own,
    ``default_*``), and the time after the last point the goal may take to settle (<= 0:
    default)."""

    path_rad: Mapping[str, float] | None = None
    goal_rad: Mapping[str, float] | None = None
    goal_time_s: float = 0.0
    default_path_rad: float = DEFAULT_PATH_TOLERANCE_RAD  # the controller's constraints
    default_goal_rad: float = DEFAULT_GOAL_TOLERANCE_RAD


@dataclass(frozen=True)
class TrajectoryOutcome:
    error: TrajectoryError
    message: str
    canceled: bool = False
    duration_s: float = 0.0  # simulated seconds from the start to the end (or the stop)

    @property
    def success(self) -> bool:
        return self.error is TrajectoryError.SUCCESSFUL and not self.canceled


@dataclass(frozen=True)
class GripperOutcome:
    """``control_msgs/action/GripperCommand`` result: where the fingers stopped (driver
    units), the actuator effort, whether they stalled before the goal, whether they reached it."""

    position: float
    effort: float
    stalled: bool
    reached_goal: bool
    canceled: bool = False


def _ordered(
    trajectory: JointTrajectory, arm_joints: Sequence[str]
) -> tuple[FloatArray, FloatArray, FloatArray | None] | TrajectoryOutcome:
    """(times (K,), positions (K, n), velocities (K, n) or None) in the arm's joint order, or the
    outcome of an invalid goal."""
    names = list(trajectory.joint_names)
    if sorted(names) != sorted(arm_joints) or len(set(names)) != len(names):
        return TrajectoryOutcome(
            TrajectoryError.INVALID_JOINTS,
            f"joints {names} are not the controller's {list(arm_joints)}",
        )
    if not trajectory.times_s:
        return TrajectoryOutcome(TrajectoryError.INVALID_GOAL, "the trajectory has no point")
    order = [names.index(j) for j in arm_joints]
    times = np.asarray(trajectory.times_s, dtype=np.float64)
    positions = np.asarray(trajectory.positions, dtype=np.float64)
    if positions.shape != (len(times), len(names)) or not np.isfinite(positions).all():
        return TrajectoryOutcome(
            TrajectoryError.INVALID_GOAL,
            f"positions must be {len(times)} x {len(names)} finite numbers",
        )
    if not np.isfinite(times).all() or times[0] < 0 or np.any(np.diff(times) <= 0):
        return TrajectoryOutcome(
            TrajectoryError.INVALID_GOAL, "time_from_start must be >= 0 and strictly increasing"
        )
    velocities = None
    if trajectory.velocities is not None:
        v = np.asarray(trajectory.velocities, dtype=np.float64)
        if v.shape != positions.shape or not np.isfinite(v).all():
            return TrajectoryOutcome(
                TrajectoryError.INVALID_GOAL, "velocities must match the positions"
            )
        velocities = v[:, order]
    return times, positions[:, order], velocities


def _sample(
    t: float, times: FloatArray, q: FloatArray, qd: FloatArray | None
) -> tuple[FloatArray, FloatArray]:
    """Reference (position, velocity) at time ``t``: cubic Hermite between points with
    velocities, linear without; held at the ends."""
    if t <= times[0]:
        return q[0].copy(), np.zeros(q.shape[1])
    if t >= times[-1]:
        return q[-1].copy(), np.zeros(q.shape[1])
    i = int(np.searchsorted(times, t, side="right")) - 1
    h = float(times[i + 1] - times[i])
    s = (t - float(times[i])) / h
    if qd is None:
        slope = (q[i + 1] - q[i]) / h
        return q[i] + slope * (t - times[i]), slope
    h00, h10, h01, h11 = (
        2 * s**3 - 3 * s**2 + 1,
        s**3 - 2 * s**2 + s,
        -2 * s**3 + 3 * s**2,
        s**3 - s**2,
    )
    pos = h00 * q[i] + h10 * h * qd[i] + h01 * q[i + 1] + h11 * h * qd[i + 1]
    d00, d10, d01, d11 = 6 * s**2 - 6 * s, 3 * s**2 - 4 * s + 1, -6 * s**2 + 6 * s, 3 * s**2 - 2 * s
    vel = (d00 * q[i] + d01 * q[i + 1]) / h + d10 * qd[i] + d11 * qd[i + 1]
    return pos, vel


def _per_joint(
    values: Mapping[str, float] | None, joints: Sequence[str], default: float
) -> FloatArray:
    given = values or {}
    return np.array([given[j] if given.get(j, 0.0) > 0 else default for j in joints])


def follow_trajectory(
    arm: SimArmBackend,
    arm_joints: Sequence[str],
    trajectory: JointTrajectory,
    tolerances: Tolerances | None = None,
    hook: Hook | None = None,
) -> TrajectoryOutcome:
    """Execute a joint trajectory on the simulated arm (see the module docstring).
    ``arm_joints``: the controller's joint names, in the arm's own order. A first point later
    than t = 0 is reached from where the arm stands."""
    ordered = _ordered(trajectory, arm_joints)
    if isinstance(ordered, TrajectoryOutcome):
        return ordered
    times, q, qd = ordered
    if times[0] > 0:  # start from the measured state, as a controller does
        times = np.concatenate([[0.0], times])
        q = np.vstack([arm.arm_q(), q])
        qd = None if qd is None else np.vstack([np.zeros(q.shape[1]), qd])
    tol = tolerances or Tolerances()
    path_tol = _per_joint(tol.path_rad, arm_joints, tol.default_path_rad)
    goal_tol = _per_joint(tol.goal_rad, arm_joints, tol.default_goal_rad)
    goal_time = tol.goal_time_s if tol.goal_time_s > 0 else DEFAULT_GOAL_TIME_S
    dt = arm.options.control_period_s
    hook = hook or (lambda: False)
    start = arm.sim_time_s
    with arm.paced():
        for k in range(1, math.ceil(float(times[-1]) / dt) + 1):
            q_ref, qd_ref = _sample(k * dt, times, q, qd)
            arm.servo_period(q_ref, qd_ref)
            if hook():
                return _stopped(arm, start, TrajectoryError.SUCCESSFUL, "canceled", True)
            lag = np.abs(arm.arm_q() - q_ref)
            if np.any(lag > path_tol):
                j = int(np.argmax(lag - path_tol))
                return _stopped(
                    arm,
                    start,
                    TrajectoryError.PATH_TOLERANCE_VIOLATED,
                    f"{arm_joints[j]} is {lag[j]:.3f} rad from its reference at "
                    f"t = {k * dt:.2f} s (path tolerance {path_tol[j]:g} rad)",
                )
        goal = q[-1]
        for _ in range(max(1, math.ceil(goal_time / dt))):
            error = np.abs(arm.arm_q() - goal)
            if np.all(error <= goal_tol) and np.all(np.abs(arm.arm_qd()) < _SETTLED_SPEED):
                break
            arm.servo_period(goal, np.zeros_like(goal))
            if hook():
                return _stopped(arm, start, TrajectoryError.SUCCESSFUL, "canceled", True)
        error = np.abs(arm.arm_q() - goal)
        if np.any(error > goal_tol):
            j = int(np.argmax(error - goal_tol))
            return _stopped(
                arm,
                start,
                TrajectoryError.GOAL_TOLERANCE_VIOLATED,
                f"{arm_joints[j]} ended {error[j]:.3f} rad from its goal "
                f"(goal tolerance {goal_tol[j]:g} rad)",
            )
    return TrajectoryOutcome(
        TrajectoryError.SUCCESSFUL, "goal reached", duration_s=arm.sim_time_s - start
    )


def _stopped(
    arm: SimArmBackend, start: float, error: TrajectoryError, message: str, canceled: bool = False
) -> TrajectoryOutcome:
    """Hold the arm where it is (a controller that aborts or is cancelled stops the arm)."""
    here = arm.arm_q()
    arm.servo_period(here, np.zeros_like(here))
    return TrajectoryOutcome(error, message, canceled, arm.sim_time_s - start)


def command_gripper(
    arm: SimArmBackend, position: float, max_effort: float = 0.0, hook: Hook | None = None
) -> GripperOutcome:
    """Move the hand towards ``position`` (driver units) and report where it stopped.
    ``max_effort`` is accepted as the driver does; the simulated fingers push with their own
    actuator's force limit."""
    del max_effort
    rig = arm.rig
    rig.set_hand_position(position)
    hook = hook or (lambda: False)
    dt = arm.options.control_period_s
    # The arm is held at its set-point meanwhile (the gripper driver does not touch the arm's
    # controller); re-taking the measured angles as the set-point would let a loaded arm sag.
    here = arm.reference_q
    still_since = None
    with arm.paced():
        for k in range(1, math.ceil(_GRIPPER_TIMEOUT_S / dt) + 1):
            arm.servo_period(here, np.zeros_like(here))
            if hook():
                return _gripper_outcome(arm, position, canceled=True)
            moving = rig.hand_speed() > _GRIPPER_SPEED
            if moving:
                still_since = None
            elif still_since is None:
                still_since = k * dt
            if (
                k * dt > 0.3
                and still_since is not None
                and k * dt - still_since >= _GRIPPER_STILL_S
            ):
                break
        # A real UR does not sway when its fingers close on (or let go of) an object; the
        # simulated arm's servos are softer: the fingers report done once the arm has settled,
        # so the next motion starts from where the arm is (MoveIt checks the start).
        for _ in range(math.ceil(_ARM_SETTLE_S / dt)):
            if float(np.max(np.abs(arm.arm_qd()))) < _SETTLED_SPEED:
                break
            arm.servo_period(here, np.zeros_like(here))
            if hook():
                return _gripper_outcome(arm, position, canceled=True)
    return _gripper_outcome(arm, position)


def _gripper_outcome(arm: SimArmBackend, goal: float, canceled: bool = False) -> GripperOutcome:
    position = arm.rig.hand_angle()
    reached = abs(position - goal) <= _GRIPPER_REACHED
    return GripperOutcome(
        position=position,
        effort=arm.hand_effort(),
        stalled=not reached and not canceled,
        reached_goal=reached,
        canceled=canceled,
    )
