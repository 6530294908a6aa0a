"""Which scene an episode seed runs in: the seed's own scene, redrawn while it offers no task."""

from __future__ import annotations

import pytest

from roborefer_ros.manipulation.sim_episode import (
    EpisodeError,
    build_episode_scene,
    draw_task,
    episode_queries,
    graspable,
)
from roborefer_ros.sim import build_scene

NO_TASK_SEED = 35  # its first UR5e scene holds only plates, cakes and apples too wide to pinch
TASK_SEED = 13


def test_a_scene_with_a_task_is_kept() -> None:
    with (
        build_episode_scene(TASK_SEED, "ur5e", width=320, height=240) as built,
        build_scene(TASK_SEED, "ur5e", width=320, height=240) as own,
    ):
        assert built.scene.spec == own.spec


def test_a_scene_without_a_task_is_redrawn_until_one_offers_it() -> None:
    with build_scene(NO_TASK_SEED, "ur5e", dynamic_objects=True) as first:
        assert not any(graspable(o, "ur5e") for o in first.spec.objects)
        with pytest.raises(EpisodeError, match="offers no LOCATE query on a graspable object"):
            draw_task(first, episode_queries(first, first.render(0.0), NO_TASK_SEED))
        first_objects = first.spec.objects
    with build_episode_scene(NO_TASK_SEED, "ur5e") as built:
        scene = built.scene
        assert scene.spec.seed == NO_TASK_SEED and scene.spec.objects != first_objects
        task = draw_task(scene, episode_queries(scene, scene.render(0.0), NO_TASK_SEED))
        assert task.pick.target_index is not None
        assert graspable(scene.spec.objects[task.pick.target_index], "ur5e")
        redrawn = scene.spec.objects
    with build_episode_scene(NO_TASK_SEED, "ur5e") as again:
        assert again.scene.spec.objects == redrawn  # deterministic: CLI, sim node and batch agree
