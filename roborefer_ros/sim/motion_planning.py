"""The planning core of the simulated ``move_group`` (ROS-free; MuJoCo, OMPL, TOPP-RA).

SIMULATION INSTRUMENTATION: on a real UR5 cell ``move_group`` (MoveIt 2) plans; this stands in
for it against the simulated cell, with the same inputs and failure modes. What it knows is what
a real cell's ``move_group`` knows: the robot's model (its own MuJoCo model of the UR5e and the
2F-85, from the same description the simulation uses) and the planning scene (the table; no
object, since nobody added one as a collision object). Never the simulator's live state.

- ``goal_joints``: inverse kinematics of ``tool0`` for a pose goal (damped least squares from the
  start state, a ready pose turned towards the goal and random seeds), solutions within the
  goal's tolerances; NO_IK_SOLUTION when none is, GOAL_IN_COLLISION when every one collides;
- ``plan``: OMPL's RRTConnect (MoveIt's default planner) in joint space between start and goal,
  states checked for contacts of the robot with the planning scene, the path shortened by OMPL's
  simplifier, then timed by TOPP-RA under the joints' velocity and acceleration limits times the
  request's scaling factors;
- ``cartesian_path``: ``tool0`` moved along straight lines through the waypoints in steps of
  ``max_step``, each step solved from the previous one; the path stops at the first step without
  an IK solution, with a joint jump beyond the thresholds or (``avoid_collisions``) in contact,
  and ``fraction`` says how much of it was achieved, as ``compute_cartesian_path`` does.

Errors carry MoveIt's error codes (``manipulation.moveit.goals.MoveItErrorCode``).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from roborefer_ros.core.transforms import Transform, interpolate
from roborefer_ros.manipulation.moveit.goals import MoveItErrorCode
from roborefer_ros.sim._mj import import_mujoco
from roborefer_ros.sim.arms.kinematics import ARM_JOINTS, ArmKinematics, robot_contacts
from roborefer_ros.sim.errors import SimError
from roborefer_ros.sim.robots import robot_variant
from roborefer_ros.sim.robots.base import ROBOT_PREFIX
from roborefer_ros.sim.spec import sample_scene_spec

FloatArray = npt.NDArray[np.float64]

# ur_description's UR5e limits: every joint 3.14 rad/s; ur_moveit_config's accelerations.
UR5E_MAX_VELOCITY_RAD_S = (3.14, 3.14, 3.14, 3.14, 3.14, 3.14)
UR5E_MAX_ACCELERATION_RAD_S2 = (5.0, 5.0, 5.0, 5.0, 5.0, 5.0)
TOOL0_SITE = ROBOT_PREFIX + "attachment_site"  # the flange frame: z out of the flange
_COLLISION_STEP_RAD = 0.02  # joint-space resolution of edge checks (OMPL's motion validator)
_SAMPLE_DT_S = 0.05  # trajectory points every 50 ms


class PlanningError(Exception):
    """A request the planner cannot satisfy; ``code`` is MoveIt's error code for it."""

    def __init__(self, code: MoveItErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Trajectory:
    """A timed joint trajectory: per point its time from start (s), positions and velocities
    (rad, rad/s) in ``joint_names`` order."""

    joint_names: tuple[str, ...]
    times_s: tuple[float, ...]
    positions: tuple[tuple[float, ...], ...]
    velocities: tuple[tuple[float, ...], ...]

    @property
    def duration_s(self) -> float:
        return self.times_s[-1] if self.times_s else 0.0


@dataclass(frozen=True)
class PoseGoal:
    """A pose goal for ``tool0`` in the planning frame: a position within ``position_tol_m``
    (the constraint sphere's radius) and an orientation within ``axis_tol_rad`` per axis."""

    pose: Transform
    position_tol_m: float
    axis_tol_rad: tuple[float, float, float]


@dataclass(frozen=True)
class JointGoal:
    """A joint-space goal: positions (rad) in the planner's joint order, each within
    ``tolerance_rad`` (the constraint's tolerance above/below, the smaller)."""

    positions: tuple[float, ...]
    tolerance_rad: tuple[float, ...]


Goal = PoseGoal | JointGoal


@dataclass(frozen=True)
class Workspace:
    """An axis-aligned box in the planning frame that pose goals must lie in."""

    min_corner: tuple[float, float, float]
    max_corner: tuple[float, float, float]

    def contains(self, point: Sequence[float]) -> bool:
        return all(
            lo <= float(p) <= hi
            for p, lo, hi in zip(point, self.min_corner, self.max_corner, strict=True)
        )


@dataclass(frozen=True)
class Scaling:
    velocity: float = 1.0  # max_velocity_scaling_factor in (0, 1]
    acceleration: float = 1.0

    def clamped(self) -> Scaling:
        """MoveIt's rule: a factor outside (0, 1] means 1."""

        def ok(f: float) -> float:
            return f if 0.0 < f <= 1.0 else 1.0

        return Scaling(ok(self.velocity), ok(self.acceleration))


@dataclass(frozen=True)
class MotionRequest:
    """One planning request (a MotionPlanRequest as plain data). ``goals`` are alternatives, as
    MoveIt's ``goal_constraints``: the first that can be planned wins."""

    goals: tuple[Goal, ...]
    planning_time_s: float = 5.0
    attempts: int = 1
    scaling: Scaling = Scaling()
    workspace: Workspace | None = None


@dataclass(frozen=True)
class CartesianResult:
    trajectory: Trajectory
    fraction: float  # share of the requested path achieved, 0..1
    stopped_because: str  # why it stopped short ("" when complete)


class CellPlanner:
    """Plans for one simulated arm against its planning scene (see the module docstring)."""

    def __init__(
        self,
        robot: str = "ur5e",
        joint_names: Sequence[str] = ARM_JOINTS,
        max_velocity: Sequence[float] = UR5E_MAX_VELOCITY_RAD_S,
        max_acceleration: Sequence[float] = UR5E_MAX_ACCELERATION_RAD_S2,
        seed: int = 0,
    ) -> None:
        if robot != "ur5e":
            raise SimError(f"the simulated move_group plans for the ur5e only, not {robot!r}")
        mujoco = import_mujoco()
        # the planning scene: the robot and the table (the sampled objects are dropped)
        spec = dataclasses.replace(sample_scene_spec(0, width=64, height=48), objects=())
        from roborefer_ros.sim.scene import build_mjspec

        self._model: Any = build_mjspec(spec, robot_variant(robot)).compile()
        self._mj = mujoco
        self._data: Any = mujoco.MjData(self._model)
        self.joint_names = tuple(joint_names)
        self.kinematics = ArmKinematics(self._model, ARM_JOINTS, TOOL0_SITE)
        self._qpos0 = np.array(self._data.qpos, dtype=np.float64)
        self.max_velocity = np.asarray(max_velocity, dtype=np.float64)
        self.max_acceleration = np.asarray(max_acceleration, dtype=np.float64)
        self._rng = np.random.default_rng(seed)

    def warm_up(self) -> None:
        """Import OMPL and TOPP-RA now (seconds: TOPP-RA brings SciPy and matplotlib) rather
        than in the first request's planning time."""
        import ompl.geometric  # noqa: F401

        q = np.asarray(self._qpos0[self.kinematics.qpos_index], dtype=np.float64)
        self.time_parameterize(np.stack([q, q + 0.01]))

    # ---- queries ----

    def tool0(self, q: npt.ArrayLike) -> Transform:
        """``T_base_from_tool0`` at joint angles ``q``."""
        return self.kinematics.fk(q)

    def contacts(self, q: npt.ArrayLike) -> list[str]:
        """What the robot touches at ``q`` in the planning scene, as "link into thing"."""
        pairs = self.kinematics.contacts_at(q, self._qpos0)
        model = self._model
        return [f"{model.body(a).name} into {model.body(b).name}" for a, b in pairs]

    def in_collision(self, q: npt.ArrayLike) -> bool:
        self._data.qpos[:] = self._qpos0
        self._data.qpos[self.kinematics.qpos_index] = np.asarray(q, dtype=np.float64)
        self._mj.mj_fwdPosition(self._model, self._data)
        return bool(
            robot_contacts(self._model, self._data, self.kinematics.robot_bodies, frozenset())
        )

    def check_start(self, q: npt.ArrayLike) -> None:
        arr = np.asarray(q, dtype=np.float64)
        if arr.shape != (len(self.joint_names),) or not np.isfinite(arr).all():
            raise PlanningError(
                MoveItErrorCode.INVALID_ROBOT_STATE,
                f"the start state needs {len(self.joint_names)} finite joint positions",
            )
        hits = self.contacts(arr)
        if hits:
            raise PlanningError(
                MoveItErrorCode.START_STATE_IN_COLLISION, f"start state in collision: {hits[0]}"
            )

    # ---- goals ----

    def goal_joints(self, goal: PoseGoal, start: FloatArray, attempts: int = 12) -> FloatArray:
        """A collision-free IK solution of ``tool0`` for the goal, closest to ``start``."""
        seeds = [start, self._ready_towards(goal.pose, start)]
        seeds += [
            self._rng.uniform(self.kinematics.lower / 2, self.kinematics.upper / 2)
            for _ in range(attempts)
        ]
        within: list[FloatArray] = []
        best_residual = math.inf
        for seed in seeds:
            solution = self.kinematics.solve(goal.pose, seed, max_iterations=200)
            best_residual = min(best_residual, solution.position_error_m)
            if _within(self.kinematics.fk(solution.q), goal):
                within.append(solution.q)
        if not within:
            raise PlanningError(
                MoveItErrorCode.NO_IK_SOLUTION,
                f"no IK solution for tool0 at {_xyz(goal.pose)} "
                f"(best position residual {best_residual * 1e3:.1f} mm)",
            )
        free = [q for q in within if not self.in_collision(q)]
        if not free:
            hits = self.contacts(within[0])
            raise PlanningError(
                MoveItErrorCode.GOAL_IN_COLLISION,
                f"every IK solution for tool0 at {_xyz(goal.pose)} is in collision "
                f"({hits[0] if hits else 'contact'})",
            )
        return min(free, key=lambda q: float(np.max(np.abs(q - start))))

    def check_joint_goal(self, q: npt.ArrayLike) -> FloatArray:
        arr = np.asarray(q, dtype=np.float64)
        if np.any(arr < self.kinematics.lower) or np.any(arr > self.kinematics.upper):
            raise PlanningError(
                MoveItErrorCode.INVALID_GOAL_CONSTRAINTS, "joint goal outside the joint limits"
            )
        hits = self.contacts(arr)
        if hits:
            raise PlanningError(
                MoveItErrorCode.GOAL_IN_COLLISION, f"joint goal in collision: {hits[0]}"
            )
        return arr

    # ---- planning ----

    def plan(
        self,
        start: FloatArray,
        goal: FloatArray,
        planning_time_s: float,
        attempts: int = 1,
        scaling: Scaling = Scaling(),
    ) -> Trajectory:
        """RRTConnect from ``start`` to ``goal`` within ``planning_time_s`` (the best of
        ``attempts`` solutions), simplified, timed by TOPP-RA."""
        self.check_start(start)
        if self._edge_free(start, goal):
            path = np.stack([start, goal])  # RRTConnect's first connection, without the search
        else:
            path = self._rrt_connect(start, goal, planning_time_s, max(1, attempts))
        return self.time_parameterize(path, scaling)

    def plan_request(self, start: FloatArray, request: MotionRequest) -> Trajectory:
        """Plan ``request`` from ``start``: the first goal that yields a plan, or the first
        goal's error."""
        if not request.goals:
            raise PlanningError(MoveItErrorCode.INVALID_GOAL_CONSTRAINTS, "the request has no goal")
        self.check_start(start)
        deadline = time.monotonic() + request.planning_time_s
        first: PlanningError | None = None
        for goal in request.goals:
            try:
                if isinstance(goal, JointGoal):
                    q_goal = self.check_joint_goal(goal.positions)
                else:
                    if request.workspace is not None and not request.workspace.contains(
                        goal.pose.translation
                    ):
                        raise PlanningError(
                            MoveItErrorCode.INVALID_GOAL_CONSTRAINTS,
                            f"the goal {_xyz(goal.pose)} is outside the workspace bounds",
                        )
                    q_goal = self.goal_joints(goal, start)
                remaining = max(0.05, deadline - time.monotonic())
                return self.plan(start, q_goal, remaining, request.attempts, request.scaling)
            except PlanningError as err:
                first = first or err
        assert first is not None
        raise first

    def _rrt_connect(
        self, start: FloatArray, goal: FloatArray, planning_time_s: float, attempts: int
    ) -> FloatArray:
        from ompl import base as ob
        from ompl import geometric as og

        n = len(start)
        space = ob.RealVectorStateSpace(n)
        bounds = ob.RealVectorBounds(n)
        for i in range(n):
            bounds.setLow(i, float(self.kinematics.lower[i]))
            bounds.setHigh(i, float(self.kinematics.upper[i]))
        space.setBounds(bounds)
        space.setLongestValidSegmentFraction(
            _COLLISION_STEP_RAD / max(space.getMaximumExtent(), 1e-9)
        )
        setup = og.SimpleSetup(space)
        setup.setStateValidityChecker(
            ob.StateValidityCheckerFn(lambda s: not self.in_collision([s[i] for i in range(n)]))
        )
        a, b = ob.State(space), ob.State(space)
        for i in range(n):
            a[i], b[i] = float(start[i]), float(goal[i])
        setup.setStartAndGoalStates(a, b)
        setup.setPlanner(og.RRTConnect(setup.getSpaceInformation()))
        best: FloatArray | None = None
        deadline = time.monotonic() + planning_time_s
        for attempt in range(attempts):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            setup.clear()
            solved = setup.solve(remaining / (attempts - attempt))
            if not solved or not setup.haveExactSolutionPath():
                continue
            setup.simplifySolution(min(0.5, max(0.05, deadline - time.monotonic())))
            path = setup.getSolutionPath()
            states = np.array(
                [[path.getState(k)[i] for i in range(n)] for k in range(path.getStateCount())]
            )
            if best is None or _length(states) < _length(best):
                best = states
        if best is None:
            raise PlanningError(
                MoveItErrorCode.PLANNING_FAILED,
                f"RRTConnect found no collision-free path within {planning_time_s:g} s",
            )
        return best

    def time_parameterize(self, path: FloatArray, scaling: Scaling = Scaling()) -> Trajectory:
        """TOPP-RA along the piecewise-linear joint path (K, n), sampled every 50 ms."""
        import toppra as ta
        import toppra.algorithm as algo
        import toppra.constraint as constraint

        path = _dedupe(np.asarray(path, dtype=np.float64))
        scale = scaling.clamped()
        if path.shape[0] < 2:
            still = tuple(float(v) for v in path[0])
            return Trajectory(self.joint_names, (0.0,), (still,), (tuple(0.0 for _ in still),))
        # knots at the joint-space arc length: a straight segment stays straight
        knots = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(path, axis=0), axis=1))])
        knots /= knots[-1]
        spline = ta.SplineInterpolator(knots, path, bc_type="clamped")
        vmax = self.max_velocity * scale.velocity
        amax = self.max_acceleration * scale.acceleration
        constraints = [
            constraint.JointVelocityConstraint(np.column_stack([-vmax, vmax])),
            constraint.JointAccelerationConstraint(np.column_stack([-amax, amax])),
        ]
        instance = algo.TOPPRA(constraints, spline, parametrizer="ParametrizeConstAccel")
        timed = instance.compute_trajectory()
        if timed is None:
            raise PlanningError(MoveItErrorCode.PLANNING_FAILED, "time parameterisation failed")
        duration = float(timed.duration)
        times = np.append(np.arange(0.0, duration, _SAMPLE_DT_S), duration)
        q = np.asarray(timed(times), dtype=np.float64)
        qd = np.asarray(timed(times, 1), dtype=np.float64)
        q[0], q[-1] = path[0], path[-1]
        qd[0], qd[-1] = 0.0, 0.0
        return Trajectory(
            self.joint_names,
            tuple(float(t) for t in times),
            tuple(tuple(float(v) for v in row) for row in q),
            tuple(tuple(float(v) for v in row) for row in qd),
        )

    def cartesian_path(
        self,
        start: FloatArray,
        waypoints: Sequence[Transform],
        max_step_m: float,
        jump_threshold: float = 0.0,
        revolute_jump_threshold_rad: float = 0.0,
        avoid_collisions: bool = True,
        scaling: Scaling = Scaling(),
    ) -> CartesianResult:
        """``tool0`` along straight lines through ``waypoints`` (see the module docstring)."""
        if not (math.isfinite(max_step_m) and max_step_m > 0):
            raise PlanningError(
                MoveItErrorCode.FAILURE, f"max_step must be positive, got {max_step_m!r}"
            )
        self.check_start(start)
        poses = [self.tool0(start), *waypoints]
        steps: list[Transform] = []
        for a, b in itertools.pairwise(poses):
            n = max(1, math.ceil(math.dist(a.translation, b.translation) / max_step_m))
            steps += [interpolate(a, b, i / n) for i in range(1, n + 1)]
        if not steps:
            return CartesianResult(self.time_parameterize(start[None, :], scaling), 1.0, "")
        q = start.copy()
        path = [q]
        why = ""
        for pose in steps:
            solution = self.kinematics.solve(pose, q, max_iterations=100)
            if not (solution.position_error_m <= 1e-3 and solution.rotation_error_rad <= 1e-2):
                why = f"no IK solution at {_xyz(pose)}"
                break
            jump = np.abs(solution.q - q)
            if (
                revolute_jump_threshold_rad > 0
                and float(np.max(jump)) > revolute_jump_threshold_rad
            ):
                why = f"a joint jump of {float(np.max(jump)):.2f} rad at {_xyz(pose)}"
                break
            if avoid_collisions and self.in_collision(solution.q):
                why = f"a collision at {_xyz(pose)}: {self.contacts(solution.q)[0]}"
                break
            q = solution.q
            path.append(q)
        joints = np.stack(path)
        if jump_threshold > 0 and len(joints) > 2:
            # MoveIt's relative test: a step longer than jump_threshold x the mean step is a jump
            lengths = np.linalg.norm(np.diff(joints, axis=0), axis=1)
            limit = jump_threshold * float(np.mean(lengths))
            over = np.nonzero(lengths > limit)[0]
            if over.size:
                joints = joints[: int(over[0]) + 1]
                why = why or "a joint-space jump (jump_threshold)"
        fraction = (len(joints) - 1) / len(steps)
        return CartesianResult(self.time_parameterize(joints, scaling), fraction, why)

    # ---- helpers ----

    def _edge_free(self, a: FloatArray, b: FloatArray) -> bool:
        n = max(2, math.ceil(float(np.max(np.abs(b - a))) / _COLLISION_STEP_RAD))
        return not any(self.in_collision(a + s * (b - a)) for s in np.linspace(0, 1, n + 1))

    def _ready_towards(self, target: Transform, q0: FloatArray) -> FloatArray:
        """An elbow-up ready pose with the shoulder turned towards the target."""
        x, y, _ = target.translation
        pan = math.atan2(y, x) + math.pi  # pan 0 points the UR arm along -x of base_link
        pan += 2 * math.pi * round((float(q0[0]) - pan) / (2 * math.pi))
        return np.array([pan, -1.57, 1.57, -1.57, -1.57, float(q0[5])])


def _within(reached: Transform, goal: PoseGoal) -> bool:
    if math.dist(reached.translation, goal.pose.translation) > goal.position_tol_m + 1e-6:
        return False
    # orientation error about each axis of the goal frame (MoveIt: XYZ Euler of the difference)
    R = goal.pose.rotation_matrix().T @ reached.rotation_matrix()
    rx = math.atan2(R[2, 1], R[2, 2])
    ry = math.asin(max(-1.0, min(1.0, -R[2, 0])))
    rz = math.atan2(R[1, 0], R[0, 0])
    return all(abs(e) <= t + 1e-6 for e, t in zip((rx, ry, rz), goal.axis_tol_rad, strict=True))


def _dedupe(path: FloatArray) -> FloatArray:
    keep = [0] + [i for i in range(1, len(path)) if np.max(np.abs(path[i] - path[i - 1])) > 1e-6]
    return path[keep]


def _length(path: FloatArray) -> float:
    return float(np.sum(np.linalg.norm(np.diff(path, axis=0), axis=1)))


def _xyz(pose: Transform) -> str:
    x, y, z = pose.translation
    return f"({x:.3f}, {y:.3f}, {z:.3f})"


Clock = Callable[[], float]
