"""The G1 robot variant: it loads from example-robot-data, stands at its table with its hands
out of the way, its head camera sees the table, and torso_link is where the plans expect it."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from roborefer_ros.sim import (
    SEG_ROBOT,
    SEG_TABLE,
    SimError,
    SimScene,
    build_scene,
    robot_variant,
)
from roborefer_ros.sim.robots import ROBOT_PREFIX
from roborefer_ros.sim.robots import g1 as robot_g1
from roborefer_ros.sim.robots.g1 import (
    G1_TABLE,
    PLAN_FRAME,
    T_base_from_head_camera,
    T_base_from_torso,
    arm_joints,
    hand_joints,
)

SEED = 18


@pytest.fixture(scope="module")
def scene() -> Iterator[SimScene]:
    with build_scene(SEED, "g1", width=320, height=240, dynamic_objects=True) as built:
        yield built


def test_variant_is_registered_and_brings_its_table_and_head_camera(scene: SimScene) -> None:
    assert robot_variant("g1").name == "g1"
    assert scene.robot_name == "g1"
    assert scene.spec.table.x_range_m == G1_TABLE.x_range_m
    assert len(scene.spec.objects) <= 5
    for obj in scene.spec.objects:  # all within the arms' reach region
        x0, x1 = G1_TABLE.place_x_range_m
        assert x0 <= obj.position_m[0] <= x1
    rig = scene.spec.camera
    assert rig.motion.is_static and rig.width == 320


def test_model_has_servos_for_waist_arms_and_hands_and_no_free_joint(scene: SimScene) -> None:
    model = scene.model
    robot_joints = [
        str(model.joint(j).name)
        for j in range(int(model.njnt))
        if str(model.joint(j).name).startswith(ROBOT_PREFIX)
    ]
    expected = {"waist_yaw_joint", "waist_roll_joint", "waist_pitch_joint"}
    for side in ("left", "right"):
        expected |= set(arm_joints(side)) | set(hand_joints(side))
    assert {j.removeprefix(ROBOT_PREFIX) for j in robot_joints} == expected  # legs rigid
    assert all(int(model.jnt_type[model.joint(j).id]) == 3 for j in robot_joints)  # hinges
    actuated = {int(model.actuator_trnid[a, 0]) for a in range(int(model.nu))}
    assert {int(model.joint(j).id) for j in robot_joints} <= actuated
    pelvis = int(model.body(ROBOT_PREFIX + "pelvis").id)
    assert model.body_gravcomp[pelvis] == 1.0
    assert int(model.body_jntnum[pelvis]) == 0  # fixed pelvis: no free joint


def test_home_pose_holds_with_the_hands_above_the_table(scene: SimScene) -> None:
    mujoco = pytest.importorskip("mujoco")
    data = mujoco.MjData(scene.model)
    data.qpos[:] = scene.data.qpos
    data.ctrl[:] = scene.data.ctrl
    start = data.qpos.copy()
    for _ in range(250):  # 0.5 s with the servos at their home set-points
        mujoco.mj_step(scene.model, data)
    for side in ("left", "right"):
        q = [data.joint(ROBOT_PREFIX + j).qpos[0] for j in arm_joints(side)]
        q0 = [start[scene.model.joint(ROBOT_PREFIX + j).qposadr[0]] for j in arm_joints(side)]
        assert np.max(np.abs(np.subtract(q, q0))) < 0.02
        tcp = data.site(f"{ROBOT_PREFIX}{side}_hand_tcp").xpos
        assert tcp[2] > 0.15  # well above the table top (z = 0)
    robot_bodies = {
        b for b in range(int(scene.model.nbody)) if scene.model.body(b).name.startswith("robot/")
    }
    for i in range(int(data.ncon)):  # touching nothing but the floor
        c = data.contact[i]
        b1, b2 = int(scene.model.geom_bodyid[c.geom1]), int(scene.model.geom_bodyid[c.geom2])
        if (b1 in robot_bodies) != (b2 in robot_bodies):
            assert 0 in (b1, b2)


def test_torso_and_head_camera_poses_match_the_model(scene: SimScene) -> None:
    torso = scene.body_pose(ROBOT_PREFIX + PLAN_FRAME)
    np.testing.assert_allclose(torso.translation, T_base_from_torso().translation, atol=1e-6)
    head = scene.body_pose(ROBOT_PREFIX + "d435_link")
    expected = T_base_from_head_camera()
    np.testing.assert_allclose(head.translation, expected.translation, atol=1e-6)
    np.testing.assert_allclose(head.rotation_matrix(), expected.rotation_matrix(), atol=1e-6)
    # the optical frame looks along d435_link's x, pitched ~0.83 rad down, image x to the right
    optical = scene.camera_pose_at(0.0)
    np.testing.assert_allclose(optical.translation, head.translation, atol=1e-9)
    forward = optical.rotate([0.0, 0.0, 1.0])
    np.testing.assert_allclose(forward, head.rotate([1.0, 0.0, 0.0]), atol=1e-9)
    assert math.asin(-forward[2]) == pytest.approx(0.83, abs=0.01)
    with pytest.raises(SimError, match="no body"):
        scene.body_pose("robot/nonexistent")


def test_head_camera_sees_the_table_and_every_object(scene: SimScene) -> None:
    frame = scene.render(0.0)
    labels = frame.labels
    assert np.mean(labels == SEG_TABLE) > 0.3
    assert np.mean(labels == SEG_ROBOT) < 0.05  # the hands wait outside the view
    for obj in scene.spec.objects:
        assert np.count_nonzero(labels == obj.index) > 30, obj.name


def test_missing_urdf_is_a_clear_sim_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ROBOREFER_G1_URDF", str(tmp_path / "absent.urdf"))
    with pytest.raises(SimError, match=r"example-robot-data.*absent\.urdf"):
        robot_g1.g1_urdf_path()
