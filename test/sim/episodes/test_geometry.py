"""Simulated episodes plan with what a robot has: the object's extent perceived in the frame,
never the simulator's truth (that only judges the outcome, or feeds an explicit comparison run)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from roborefer_ros.sim.episodes import episode as ep
from roborefer_ros.sim.episodes.episode import (
    PickPlaceTargets,
    UncertainExtentError,
    build_episode_scene,
    draw_task,
    grasp_plan,
    perceive_object,
    plan_frame_of,
)
from roborefer_ros.tools.sim_live_episode import PreparedEpisode, pick_place_goal

SEED = 13  # a UR5e scene whose task is a box


def test_the_episode_perceives_the_pick_object_in_its_first_frame() -> None:
    with build_episode_scene(SEED) as built:
        task = draw_task(built.scene, built.queries)
        obj = built.scene.spec.objects[task.pick.target_index or 0]
        _, T_plan_from_base = plan_frame_of(built.scene)
        perceived = perceive_object(built.first_frame, task.pick, T_plan_from_base)
    assert perceived is not None and perceived.confidence > 0.5
    truth = ep.object_extents_m(obj, 0.0)
    assert sorted(perceived.size_m[:2]) == pytest.approx(sorted(truth[:2]), abs=0.01)
    assert perceived.size_m[2] == pytest.approx(truth[2], abs=0.01)


def test_a_perceived_run_plans_with_the_perception_and_reports_both(monkeypatch) -> None:
    """The plan builder gets the perceived extent and is told to use it; the report holds the
    perceived and the true geometry side by side."""
    seen: list[PickPlaceTargets] = []

    def spy(targets: PickPlaceTargets):  # type: ignore[no-untyped-def]
        seen.append(targets)
        return grasp_plan(targets)

    result = ep.run_episode(SEED, plan_builder=spy)
    assert seen and seen[0].geometry == "perceived" and seen[0].perceived is not None
    report = result.as_dict()
    assert report["object_geometry"] == "perceived"
    sizes = report["object_size_m"]
    assert isinstance(sizes, dict) and sizes["perceived"] is not None
    perceived, truth = sorted(sizes["perceived"][:2]), sorted(sizes["truth"][:2])
    assert perceived == pytest.approx(truth, abs=0.01)
    assert result.success, result.message


def test_without_an_estimate_the_plan_refuses_instead_of_falling_back_to_truth() -> None:
    with build_episode_scene(SEED) as built:
        task = draw_task(built.scene, built.queries)
        obj = built.scene.spec.objects[task.pick.target_index or 0]
        pose = built.scene.body_pose(obj.name)
    targets = PickPlaceTargets(
        "base_link", task.pick.point_base, task.place.point_base, obj, pose, perceived=None
    )
    with pytest.raises(UncertainExtentError, match="no estimate"):
        grasp_plan(targets)
    truth_run = PickPlaceTargets(
        "base_link", task.pick.point_base, task.place.point_base, obj, pose, geometry="truth"
    )
    assert len(grasp_plan(truth_run).steps) == 8


def test_the_live_goal_carries_only_the_instructions_unless_truth_is_asked(tmp_path: Path) -> None:
    with build_episode_scene(SEED) as built:
        task = draw_task(built.scene, built.queries)
        obj = built.scene.spec.objects[task.pick.target_index or 0]
    prepared = PreparedEpisode(task, obj, (0.1, 0.05, 0.06), 0.3, tmp_path / "r.json")
    goal = pick_place_goal(prepared, "perceived")
    assert (goal.pick_prompt, goal.place_prompt) == (task.pick.prompt, task.place.prompt)
    size = goal.object_size_m
    assert (size.x, size.y, size.z) == (0.0, 0.0, 0.0) and not goal.object_yaw_known
    truth = pick_place_goal(prepared, "truth")
    assert (truth.object_size_m.x, truth.object_yaw_known) == (0.1, True)
    assert math.isclose(truth.object_yaw_rad, 0.3)
