"""SimSource: MuJoCo frames with their TF, and queries whose truth belongs to their own frame."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from roborefer_ros.bags.sim_source import DEFAULT_T0_NS, SimSource
from roborefer_ros.sim import (
    BASE_FRAME,
    LINK_FRAME,
    OPTICAL_FRAME,
    CameraMotion,
    D435Noise,
    SimScene,
    build_scene,
)

TIMES_S = (0.0, 0.5, 1.0, 1.5)  # a quarter period: every frame has its own pose
MOTION = CameraMotion(azimuth_amplitude_rad=0.25, height_amplitude_m=0.05, period_s=8.0)


@pytest.fixture(scope="module")
def scene() -> Iterator[SimScene]:
    with build_scene(3, width=320, height=240, camera_motion=MOTION) as built:
        yield built


def test_frames_carry_their_stamp_and_camera_pose(scene: SimScene) -> None:
    source = SimSource(scene, TIMES_S)
    (static,) = source.static_transforms()
    assert (static.parent_frame, static.child_frame) == (LINK_FRAME, OPTICAL_FRAME)
    frames = list(source.frames())
    assert [f.stamp_ns for f in frames] == [DEFAULT_T0_NS + round(t * 1e9) for t in TIMES_S]
    for frame, t_s in zip(frames, TIMES_S, strict=True):
        frame.validate()
        (moving,) = frame.transforms
        assert (moving.parent_frame, moving.child_frame) == (BASE_FRAME, LINK_FRAME)
        assert moving.stamp_ns == frame.stamp_ns
        optical = moving.transform @ static.transform
        expected = scene.camera_pose_at(t_s)
        assert np.allclose(optical.translation, expected.translation, atol=1e-9)
        assert np.allclose(optical.rotation_matrix(), expected.rotation_matrix(), atol=1e-9)
    assert not np.allclose(
        frames[0].transforms[0].transform.translation, moving.transform.translation
    )


def test_queries_are_answered_in_their_own_frame(scene: SimScene) -> None:
    source = SimSource(scene, TIMES_S)
    referring = source.referring(12, seed=3)
    assert len(referring.queries) == 12
    stamps = {source.stamp_ns(t): t for t in TIMES_S}
    assert sorted({q.stamp_ns for q in referring.queries}) == sorted(stamps)
    camera = scene.camera_model
    own_px, other_px = [], []
    for query in referring.queries:
        t_s = stamps[query.stamp_ns]
        other_t = TIMES_S[(TIMES_S.index(t_s) + 2) % len(TIMES_S)]
        for when, errors in ((t_s, own_px), (other_t, other_px)):
            point = scene.camera_pose_at(when).inverse().apply(np.asarray(query.point))
            errors.append(np.hypot(*np.subtract(camera.project(point), query.pixel)))
    # LOCATE truth is the point seen at the rounded pixel; PLACE pixels are exact projections.
    assert max(own_px) < 0.75
    assert np.median(other_px) > max(4 * max(own_px), 2.0)  # the camera moves: poses differ


def test_noise_is_seeded_per_frame_and_truth_stays_clean(scene: SimScene) -> None:
    noisy = SimSource(scene, TIMES_S[:2], depth_noise=D435Noise(), noise_seed=5)
    first = [f.depth_m for f in noisy.frames()]
    again = [f.depth_m for f in noisy.frames()]
    clean = [f.depth_m for f in SimSource(scene, TIMES_S[:2]).frames()]
    for a, b, c in zip(first, again, clean, strict=True):
        assert np.array_equal(a, b, equal_nan=True)
        assert np.isnan(a).sum() > np.isnan(c).sum()  # holes and edge dropouts
        assert not np.array_equal(a, c, equal_nan=True)
    assert noisy.referring(4, seed=1) == SimSource(scene, TIMES_S[:2]).referring(4, seed=1)
