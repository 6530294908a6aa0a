"""The simulated scene: determinism, layout, render outputs and their geometric consistency."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from roborefer_ros.core.camera import CameraModel
from roborefer_ros.sim import (
    SEG_NONE,
    SEG_ROBOT,
    SEG_TABLE,
    CameraMotion,
    RenderedFrame,
    SimError,
    SimScene,
    build_scene,
    free_spots,
    object_truths,
    point_at_pixel,
    robot_variant,
    sample_scene_spec,
)
from test.sim._geometry import backproject, surface_distance

ROOT = Path(__file__).resolve().parents[2]
SEED = 7
MOTION = CameraMotion(azimuth_amplitude_rad=0.2, height_amplitude_m=0.05, period_s=4.0)


@pytest.fixture(scope="module")
def scene() -> Iterator[SimScene]:
    with build_scene(SEED, camera_motion=MOTION) as built:
        yield built


@pytest.fixture(scope="module")
def frame(scene: SimScene) -> RenderedFrame:
    return scene.render(0.0)


@pytest.fixture(scope="module")
def moved_frame(scene: SimScene) -> RenderedFrame:
    return scene.render(1.0)  # a quarter period: the sweep's extreme


def test_same_seed_same_scene_and_images(frame: RenderedFrame) -> None:
    assert sample_scene_spec(SEED, camera_motion=MOTION) == sample_scene_spec(
        SEED, camera_motion=MOTION
    )
    assert sample_scene_spec(SEED) != sample_scene_spec(SEED + 1)
    with build_scene(SEED, camera_motion=MOTION) as again:
        other = again.render(0.0)
    np.testing.assert_array_equal(other.labels, frame.labels)
    np.testing.assert_array_equal(other.depth_m, frame.depth_m)
    assert np.mean(other.rgb != frame.rgb) < 1e-3  # GL may differ in a handful of pixels


def test_draws_of_a_seed_are_other_reproducible_scenes() -> None:
    first = sample_scene_spec(SEED)
    assert sample_scene_spec(SEED, draw=0) == first  # draw 0 is the seed's scene
    second = sample_scene_spec(SEED, draw=1)
    assert second == sample_scene_spec(SEED, draw=1)
    assert second.seed == SEED and second != first
    assert second != sample_scene_spec(SEED, draw=2)
    with pytest.raises(SimError, match="draw must be >= 0"):
        sample_scene_spec(SEED, draw=-1)


@pytest.mark.parametrize("seed", range(40))
def test_objects_stand_on_the_table_without_overlap(seed: int) -> None:
    spec = sample_scene_spec(seed)
    table = spec.table
    assert 4 <= len(spec.objects) <= 9
    assert len({o.kind for o in spec.objects}) < len(spec.objects)  # some kind repeats
    for obj in spec.objects:
        x, y, _ = obj.position_m
        if obj.support is None:
            assert obj.bottom_z_m == pytest.approx(0.0, abs=1e-12)
            (x0, x1), (y0, y1) = table.place_x_range_m, table.place_y_range_m
            r = obj.footprint_radius_m
            assert x0 <= x - r and x + r <= x1 and y0 <= y - r and y + r <= y1
        else:
            base = spec.objects[obj.support]
            assert obj.bottom_z_m == pytest.approx(base.top_z_m, abs=1e-12)
            assert math.dist(obj.position_m[:2], base.position_m[:2]) < 1e-12
            assert obj.footprint_radius_m < base.footprint_radius_m
    on_table = [o for o in spec.objects if o.support is None]
    for i, a in enumerate(on_table):
        for b in on_table[i + 1 :]:
            gap = math.dist(a.position_m[:2], b.position_m[:2])
            assert gap >= a.footprint_radius_m + b.footprint_radius_m, (a.name, b.name)


def test_render_shapes_dtypes_and_labels(scene: SimScene, frame: RenderedFrame) -> None:
    h, w = 480, 640
    assert frame.rgb.shape == (h, w, 3) and frame.rgb.dtype == np.uint8
    assert frame.depth_m.shape == (h, w) and frame.depth_m.dtype == np.float32
    assert frame.labels.shape == (h, w) and frame.labels.dtype == np.int32
    assert (frame.camera.width, frame.camera.height) == (w, h)
    labels = set(np.unique(frame.labels).tolist())
    assert {SEG_TABLE, SEG_ROBOT} <= labels
    assert labels - {SEG_NONE, SEG_TABLE, SEG_ROBOT} <= set(range(len(scene.spec.objects)))
    hit = frame.labels != SEG_NONE
    assert np.isfinite(frame.depth_m[hit]).all() and (frame.depth_m[hit] > 0.1).all()
    # The lit scene is not black and objects differ in colour from the table.
    assert frame.rgb.mean() > 60
    assert frame.stamp_ns == 0


@pytest.mark.parametrize("which", ["still", "moved"])
def test_mask_pixels_backproject_onto_their_object(
    scene: SimScene, frame: RenderedFrame, moved_frame: RenderedFrame, which: str
) -> None:
    shot = frame if which == "still" else moved_frame
    checked = 0
    for obj in scene.spec.objects:
        rows, cols = np.nonzero(shot.labels == obj.index)
        if len(cols) == 0:
            continue
        distance = surface_distance(obj, backproject(shot, cols, rows))
        assert np.abs(distance).max() < 0.002, (obj.name, float(np.abs(distance).max()))
        checked += 1
    assert checked >= 3


@pytest.mark.parametrize("which", ["still", "moved"])
def test_intrinsics_and_pose_agree_with_the_render(
    scene: SimScene, frame: RenderedFrame, moved_frame: RenderedFrame, which: str
) -> None:
    """Project table points with the CameraModel; the rendered depth there (bilinear, as the
    table is a plane) must equal their optical z. Half a pixel of error in cx or cy costs ~1 mm."""
    shot = frame if which == "still" else moved_frame
    cam = shot.camera
    fovy = math.radians(scene.spec.camera.fovy_deg)
    assert cam.fx == cam.fy == pytest.approx(240.0 / math.tan(fovy / 2))
    assert (cam.cx, cam.cy) == (319.5, 239.5)
    T_optical_from_base = shot.T_base_from_optical.inverse()
    rng = np.random.default_rng(0)
    errors = []
    for _ in range(300):
        p = np.array([rng.uniform(-0.1, 0.95), rng.uniform(-0.6, 0.6), 0.0])
        q = T_optical_from_base.apply(p)
        u, v = cam.project(q)
        iu, iv = math.floor(u), math.floor(v)
        if not (0 <= iu < 639 and 0 <= iv < 479):
            continue
        if not (shot.labels[iv : iv + 2, iu : iu + 2] == SEG_TABLE).all():
            continue
        a, b = u - iu, v - iv
        d = shot.depth_m[iv : iv + 2, iu : iu + 2].astype(np.float64)
        z = (1 - a) * (1 - b) * d[0, 0] + a * (1 - b) * d[0, 1] + (1 - a) * b * d[1, 0]
        errors.append(abs(z + a * b * d[1, 1] - q[2]))
    assert len(errors) > 100
    assert max(errors) < 1e-4


def test_camera_moves_along_its_path(scene: SimScene, moved_frame: RenderedFrame) -> None:
    still, moved = scene.camera_pose_at(0.0), scene.camera_pose_at(1.0)
    assert moved_frame.T_base_from_optical == moved
    assert math.dist(still.translation, moved.translation) > 0.1
    assert scene.camera_pose_at(4.0).translation == pytest.approx(still.translation, abs=1e-9)
    # The optical axis keeps pointing at the rig's target.
    target = np.asarray(scene.spec.camera.target_m)
    for pose in (still, moved):
        ray = target - np.asarray(pose.translation)
        axis = pose.rotation_matrix()[:, 2]
        assert float(axis @ ray) / float(np.linalg.norm(ray)) == pytest.approx(1.0, abs=1e-9)
    # camera_link is the optical frame turned to REP-103 axes (x forward = optical z).
    link = moved_frame.T_base_from_link.rotation_matrix()
    np.testing.assert_allclose(link[:, 0], moved.rotation_matrix()[:, 2], atol=1e-9)


def test_ground_truth_of_objects(scene: SimScene, frame: RenderedFrame) -> None:
    truths = object_truths(scene.spec, frame)
    assert [t.index for t in truths] == list(range(len(scene.spec.objects)))
    for truth in truths:
        assert truth.visible_px == int((frame.labels == truth.index).sum())
        centre = frame.T_base_from_optical.apply(np.asarray(truth.centre_optical))
        np.testing.assert_allclose(centre, scene.spec.objects[truth.index].position_m, atol=1e-9)
    rows, cols = np.nonzero(frame.labels == SEG_TABLE)
    point = point_at_pixel(frame, float(cols[0]), float(rows[0]))
    assert abs(point[2]) < 1e-3
    with pytest.raises(SimError, match="outside"):
        point_at_pixel(frame, 640.0, 0.0)


def test_free_spots_are_free_visible_table_points(scene: SimScene, frame: RenderedFrame) -> None:
    spots = free_spots(scene.spec, frame, np.random.default_rng(1), 20, clear_m=0.06)
    assert len(spots) >= 10
    for spot in spots:
        x, y, z = spot.point_base
        assert z == 0.0 and scene.spec.table.contains_xy(x, y, 0.06)
        for obj in scene.spec.objects:
            assert math.dist((x, y), obj.position_m[:2]) >= obj.footprint_radius_m + 0.06
        u, v = spot.pixel
        assert frame.labels[round(v), round(u)] == SEG_TABLE
        seen = backproject(frame, [round(u)], [round(v)])[0]
        assert math.dist(seen, spot.point_base) < 0.01


def test_robot_variants_are_pluggable() -> None:
    assert robot_variant("none").home_qpos() == {}
    assert robot_variant("ur5e").name == "ur5e"
    assert robot_variant("g1").name == "g1"  # test/sim/robots/test_g1.py builds it
    with pytest.raises(SimError, match="unknown robot 'pr2'"):
        robot_variant("pr2")
    with build_scene(SEED, robot="none", width=160, height=120) as small:
        shot = small.render(0.0)
    assert shot.rgb.shape == (120, 160, 3)
    assert SEG_ROBOT not in shot.labels
    assert CameraModel is type(shot.camera)


def test_sim_package_is_ros_free_and_lazy() -> None:
    """Importing roborefer_ros.sim loads neither ROS, nor upper layers, nor mujoco."""
    code = (
        "import json, sys, roborefer_ros.sim, roborefer_ros.sim.referring, "
        "roborefer_ros.sim.preview; print(json.dumps(sorted(sys.modules)))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    loaded = json.loads(proc.stdout)
    upper = ("roborefer_ros.ros", "roborefer_ros.tools", "roborefer_ros.testing")
    bad = [
        m
        for m in loaded
        if m.split(".")[0] in ("rclpy", "mujoco", "tf2_ros")
        or m.split(".")[0].endswith("_msgs")
        or m.startswith(upper)
    ]
    assert not bad
