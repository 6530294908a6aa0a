"""The simulated G1 backend: arm IK in torso_link, a Dex3 pick lifted by real contacts, refusals,
and the episode's use of the real grasp planner (for both robots)."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pytest

from roborefer_ros.core.transforms import Transform
from roborefer_ros.manipulation.grasp_planner import GraspConfig, GraspStyle, grasp_frame
from roborefer_ros.manipulation.steps import ExecutionStatus, Stage, Step, StepKind, StepPlan
from roborefer_ros.sim import SimScene, build_scene
from roborefer_ros.sim.arms.executor import SimArmBackend, SimFault
from roborefer_ros.sim.arms.factory import make_sim_backend
from roborefer_ros.sim.arms.g1 import G1Rig
from roborefer_ros.sim.episodes import episode as sim_episode
from roborefer_ros.sim.robots import ROBOT_PREFIX
from roborefer_ros.sim.robots.g1 import PLAN_FRAME

SEED = 27  # a G1 scene whose task (a small cup) succeeds quickly


@pytest.fixture(scope="module")
def scene() -> Iterator[SimScene]:
    with build_scene(SEED, "g1", width=160, height=120, dynamic_objects=True) as built:
        yield built


def frontal(x: float, y: float, z: float) -> Transform:
    _, quat = grasp_frame(GraspConfig(style=GraspStyle.FRONTAL), (0.0, 0.0, 0.0))
    return Transform((x, y, z), quat)


def test_make_sim_backend_picks_the_g1(scene: SimScene) -> None:
    backend = make_sim_backend(scene)
    assert isinstance(backend.rig, G1Rig)
    assert backend.name == "sim_g1"
    assert backend.available() == (True, "")


def test_arm_ik_in_torso_link_within_millimetres(scene: SimScene) -> None:
    backend = make_sim_backend(scene)
    T_base_from_torso = scene.body_pose(ROBOT_PREFIX + PLAN_FRAME)
    for side, y in (("right", -0.15), ("left", 0.15), ("right", -0.05)):
        backend.rig.select_arm(side)  # what a plan with this y selects
        for x, z in ((0.28, -0.02), (0.36, 0.0), (0.24, 0.05)):
            target = T_base_from_torso @ frontal(x, y, z)
            solution = backend.solve_ik(target)
            assert solution.within(0.003, 0.03), (side, x, y, z, solution)
            reached = backend.kinematics.fk(solution.q)
            assert math.dist(reached.translation, target.translation) < 0.003


def test_wrong_frame_is_rejected(scene: SimScene) -> None:
    backend = make_sim_backend(scene)
    plan = StepPlan("tool0", (Step(StepKind.MOVE, Stage.APPROACH, "x", frontal(0.3, 0, 0)),))
    result = backend.execute(plan)
    assert result.status is ExecutionStatus.REJECTED
    assert backend.last_fault is SimFault.REJECTED
    assert "torso_link" in result.message


def test_dex3_lifts_the_object_by_contacts_only() -> None:
    with build_scene(SEED, "g1", width=160, height=120, dynamic_objects=True) as scene:
        backend = make_sim_backend(scene)
        backend.hold(0.3)
        queries = sim_episode.generate_referring(
            scene.spec, scene.render(0.0), 40, np.random.default_rng(SEED), place_share=0.4
        )
        task = sim_episode.draw_task(scene, queries)
        assert task.pick.target_index is not None
        obj = scene.spec.objects[task.pick.target_index]
        T_torso_from_base = scene.body_pose(ROBOT_PREFIX + PLAN_FRAME).inverse()
        eye = np.asarray(scene.camera_pose_at(0.0).translation)
        ray = np.asarray(task.pick.point_base) - eye
        targets = sim_episode.PickPlaceTargets(
            PLAN_FRAME,
            tuple(T_torso_from_base.apply(task.pick.point_base).tolist()),
            tuple(T_torso_from_base.apply(task.place.point_base).tolist()),
            obj,
            T_torso_from_base @ backend.object_pose(obj.name),
            robot="g1",
            pick_ray=tuple(T_torso_from_base.rotate(ray / np.linalg.norm(ray)).tolist()),
            geometry="truth",  # contacts are tested here, not perception
        )
        plan = sim_episode.grasp_plan(targets)
        lift = [s.label for s in plan.steps].index("lift")
        pick_only = StepPlan(plan.frame, plan.steps[: lift + 1], plan.object_half_height_m)
        labels = ["above pre-grasp", "pre-grasp", "approach", "close", "lift"]
        assert [s.label for s in pick_only.steps] == labels
        bodies = {int(scene.model.body(o.name).id) for o in scene.spec.objects}
        welded = set(scene.model.eq_obj1id.tolist()) | set(scene.model.eq_obj2id.tolist())
        assert not bodies & welded  # nothing but the hand can carry the object
        z0 = backend.object_pose(obj.name).translation[2]
        result = backend.execute(pick_only)
        assert result.status is ExecutionStatus.SUCCEEDED, result.message
        assert backend.held_object == obj.name
        backend.hold(0.3)
        rise = backend.object_pose(obj.name).translation[2] - z0
        assert rise == pytest.approx(0.06, abs=0.015)  # the G1's lift distance
        hand = {
            i
            for i in range(int(scene.model.nbody))
            if str(scene.model.body(i).name).startswith(ROBOT_PREFIX + backend.rig.side + "_hand_")
        }
        body = int(scene.model.body(obj.name).id)
        touching = set()
        for i in range(int(scene.data.ncon)):
            c = scene.data.contact[i]
            pair = {int(scene.model.geom_bodyid[c.geom1]), int(scene.model.geom_bodyid[c.geom2])}
            if body in pair:
                touching |= pair - {body}
        assert touching and touching <= hand  # held up by the fingers alone


def test_episode_plans_with_the_real_grasp_planner(monkeypatch: pytest.MonkeyPatch) -> None:
    planned: list[StepPlan] = []
    executed: list[StepPlan] = []
    real_plan = sim_episode.plan_pick_place

    def spy_plan(request, cfg):  # type: ignore[no-untyped-def]
        assert cfg is sim_episode.GRASP_CONFIGS["ur5e"]
        assert cfg.style is GraspStyle.TOP_DOWN
        planned.append(real_plan(request, cfg))
        return planned[-1]

    real_execute = SimArmBackend.execute

    def spy_execute(self, plan, on_step=None, cancelled=None):  # type: ignore[no-untyped-def]
        executed.append(plan)
        return real_execute(self, plan, on_step, cancelled)

    monkeypatch.setattr(sim_episode, "plan_pick_place", spy_plan)
    monkeypatch.setattr(SimArmBackend, "execute", spy_execute)
    result = sim_episode.run_episode(6)
    assert result.success, result.message
    assert len(planned) == 1 and executed == planned
    assert sim_episode.GRASP_CONFIGS["g1"].style is GraspStyle.FRONTAL
    assert not hasattr(sim_episode, "top_down_plan")


def test_the_cli_in_process_runs_the_g1_with_its_own_options(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The CLI's --in-process path once gave the G1 the UR5e's options (2 cm slip tolerance
    instead of the G1's 3.5 cm): seed 27 succeeded in the batch and failed in the CLI."""
    import json

    from roborefer_ros.tools.sim_pickplace import main

    assert main(["--robot", "g1", "--seed", str(SEED), "--in-process", "--json"]) == 0
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["success"] is True, last["message"]


def test_in_process_g1_episodes_execute_through_the_arm_bridge(
    scene: SimScene, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The in-process G1 runs the robot's path (``G1Bridge`` over the simulated motors), as the
    live graph does; the simulator's own IK executor is not what an episode executes on."""
    from roborefer_ros.manipulation.g1.bridge import G1Bridge
    from roborefer_ros.sim.arms.factory import make_episode_backend
    from roborefer_ros.sim.arms.g1_bridge import SimG1BridgeBackend
    from roborefer_ros.sim.errors import SimError

    backend = make_episode_backend(scene)
    assert isinstance(backend, SimG1BridgeBackend)
    with pytest.raises(SimError, match="realtime"):
        make_episode_backend(scene, realtime=True)
    executed: list[StepPlan] = []
    real_execute = G1Bridge.execute

    def spy(self, plan, on_step=None, cancelled=None):  # type: ignore[no-untyped-def]
        executed.append(plan)
        return real_execute(self, plan, on_step, cancelled)

    monkeypatch.setattr(G1Bridge, "execute", spy)
    result = sim_episode.run_episode(SEED, robot="g1")
    assert result.success, result.message
    assert len(executed) == 1
    assert [s.label for s in executed[0].steps][:2] == ["above pre-grasp", "pre-grasp"]


def test_an_episode_whose_approach_pushes_the_object_away_ends_in_a_missed_grasp() -> None:
    """Seed 103: the hand comes down onto the cake beside the cup, and the palm pushes the cup
    out of the closing hand. The bridge reads the empty hand after the lift and stops
    (GRASP_FAILED): the episode is a missed grasp, not a "successful" plan that carried nothing
    to the place. (Seed 39, whose approach pushed its box, grasps since the lead-in is lowered.)"""
    result = sim_episode.run_episode(103, robot="g1")
    assert not result.success
    assert result.status is ExecutionStatus.GRASP_FAILED, result.message
    assert result.failure_class is sim_episode.FailureClass.GRASP_MISSED
    assert "holds nothing after the lift" in result.message
