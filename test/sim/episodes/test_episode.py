"""Which scene an episode seed runs in: the seed's own scene, redrawn while it offers no task."""

from __future__ import annotations

import pytest

from roborefer_ros.sim import build_scene
from roborefer_ros.sim.episodes.episode import (
    EpisodeError,
    build_episode_scene,
    draw_task,
    episode_queries,
    graspable,
)

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


def test_one_rest_rule_for_in_process_and_live_episodes() -> None:
    import math

    from roborefer_ros.core.transforms import Transform
    from roborefer_ros.sim import ObjectKind, ObjectSpec
    from roborefer_ros.sim.episodes.episode import FailureClass, judge_rest

    box = ObjectSpec(
        0, ObjectKind.BOX, "red", "small", (1, 0, 0, 1), (0.03, 0.02, 0.04), (0, 0, 0), 0
    )
    apple = ObjectSpec(
        1, ObjectKind.APPLE, "red", "small", (1, 0, 0, 1), (0.03, 0.03, 0.03), (0, 0, 0), 0
    )
    place = (0.5, 0.1, 0.0)
    tipped = (math.sin(math.pi / 4), 0.0, 0.0, math.cos(math.pi / 4))  # 90 deg about x

    placed = judge_rest(box, Transform((0.51, 0.1, 0.04)), place, 0.05, speed_m_s=0.0)
    assert placed.failure is None and placed.error_m == pytest.approx(0.01)
    assert placed.message == "obj0_box rests 10 mm from the place point"
    off = judge_rest(box, Transform((0.6, 0.1, 0.04)), place, 0.05)
    assert off.failure is FailureClass.PLACED_OFF_TARGET
    fell = judge_rest(box, Transform((0.5, 0.1, 0.04), tipped), place, 0.05, speed_m_s=0.0)
    assert fell.failure is FailureClass.OBJECT_FELL and fell.message.endswith("0.00 m/s")
    live = judge_rest(box, Transform((0.5, 0.1, 0.14)), place, 0.05)  # held 10 cm up
    assert live.failure is FailureClass.OBJECT_FELL and live.message.endswith("rest height")
    moving = judge_rest(box, Transform((0.5, 0.1, 0.04)), place, 0.05, speed_m_s=0.1)
    assert moving.failure is FailureClass.OBJECT_FELL
    rolled_over = judge_rest(apple, Transform((0.5, 0.1, 0.03), tipped), place, 0.05)
    assert rolled_over.failure is None  # an apple may lie any way round
