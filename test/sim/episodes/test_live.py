"""SimWorld (ROS-free): the camera keeps rendering between physics chunks while a plan runs,
key frames are written, cancel stops the arm; the bundled referring file of the sim launch is
what the generator gives for its seed."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from roborefer_ros.core.referring import load_referring
from roborefer_ros.core.transforms import Transform
from roborefer_ros.manipulation.steps import ExecutionStatus, Stage, Step, StepKind, StepPlan
from roborefer_ros.sim import SimError
from roborefer_ros.sim.episodes.live import (
    KeyFrameWriter,
    SimSnapshot,
    SimWorld,
    build_live_scene,
    referring_of,
    scene_queries,
)
from roborefer_ros.sim.episodes.strip import KEY_FRAME_FILES

ROOT = Path(__file__).resolve().parents[3]
DOWN = (1.0, 0.0, 0.0, 0.0)


def _move(label: str, xyz: tuple[float, float, float], stage: Stage = Stage.APPROACH) -> Step:
    return Step(StepKind.MOVE, stage, label, Transform(xyz, DOWN))


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[SimWorld, list[tuple[float, SimSnapshot]]]]:
    seen: list[tuple[float, SimSnapshot]] = []
    # Realtime: the plan's ~3.5 s of physics take as long on the wall clock, so the camera's
    # frames during it do not depend on how fast a loaded CPU runs the physics (as fast as
    # possible, a loaded run finished the plan in 0.66 s with one frame).
    sim = SimWorld(
        13, rate_hz=20.0, realtime=True, sink=lambda s: seen.append((time.monotonic(), s))
    )
    sim.start()
    yield sim, seen
    sim.close()


def test_the_camera_stays_live_while_the_arm_moves(
    world: tuple[SimWorld, list[tuple[float, SimSnapshot]]], tmp_path: Path
) -> None:
    sim, seen = world
    first = seen[0][1]
    assert first.rgb.shape == (480, 640, 3) and first.depth_m.dtype == np.float32
    assert np.isnan(first.depth_m).any() or np.nanmax(first.depth_m) < 9.9
    assert "obj4_box" in dict(first.object_poses)
    writer = KeyFrameWriter(tmp_path)
    plan = StepPlan(
        "base_link",
        (
            _move("a", (0.45, 0.2, 0.35)),
            _move("b", (0.45, -0.2, 0.35), Stage.LIFT),
            _move("c", (0.5, 0.0, 0.3), Stage.PLACE),
            Step(StepKind.OPEN, Stage.PLACE, "open"),
        ),
    )
    labels: list[str] = []
    t0 = time.monotonic()
    sim_t0 = seen[-1][1].sim_time_s
    result = sim.execute(plan, lambda i, s: labels.append(s.label), key_frames=writer)
    t1 = time.monotonic()
    assert result.status is ExecutionStatus.SUCCEEDED, result.message
    assert labels == ["a", "b", "c", "open"]
    during = [s for t, s in seen if t0 <= t <= t1]
    assert len(during) >= 2, f"{len(during)} frames in {t1 - t0:.2f} s"
    times = [s.sim_time_s for s in during]
    assert times == sorted(times) and times[0] >= sim_t0  # rendered between physics chunks
    assert writer.close() is not None
    assert sorted(p.name for p in tmp_path.iterdir()) == list(KEY_FRAME_FILES)


def test_cancel_stops_the_plan(world: tuple[SimWorld, list[tuple[float, SimSnapshot]]]) -> None:
    sim, _ = world
    cancel = threading.Event()
    cancel.set()
    result = sim.execute(StepPlan("base_link", (_move("a", (0.5, 0.1, 0.3)),)), None, cancel.is_set)
    assert result.status is ExecutionStatus.CANCELED


def test_a_robot_the_sim_lacks_fails_at_start() -> None:
    with pytest.raises(SimError, match="could not start"):
        SimWorld(1, "no_such_robot").start()


@pytest.mark.parametrize("robot", ["ur5e", "g1"])
def test_the_sim_launch_referring_file_is_the_generators(robot: str) -> None:
    bundled = load_referring(ROOT / "data" / "sim" / f"referring_seed3_{robot}.json")
    with build_live_scene(3, robot) as scene:
        fresh = referring_of(scene_queries(scene, 3))
    assert [q.prompt for q in bundled.queries] == [q.prompt for q in fresh.queries], (
        f"regenerate: python -m roborefer_ros.tools.sim_referring --seed 3 --robot {robot} "
        f"data/sim/referring_seed3_{robot}.json"
    )
    assert all(q.stamp_ns == 0 for q in bundled.queries)
    for a, b in zip(bundled.queries, fresh.queries, strict=True):
        assert a.point == pytest.approx(b.point, abs=1e-6)
