"""The G1 arm's spheres against the simulated G1's collision meshes, and joint paths checked
against a height map."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np
import pytest

from roborefer_ros.manipulation.g1.arm_collision import (
    ArmBodyModel,
    arm_spheres,
    joint_path,
    path_penetration,
)
from roborefer_ros.manipulation.g1.kinematics import ArmSide, load_arm_chain
from roborefer_ros.manipulation.obstacles import height_map_from_depth
from roborefer_ros.sim import SimScene, build_scene
from roborefer_ros.sim.robots import ROBOT_PREFIX
from roborefer_ros.sim.robots.g1 import arm_joints
from test.manipulation.depth_scene import top_down_view

CHAINS = {side: load_arm_chain(side) for side in ArmSide}
MODEL = ArmBodyModel()
# a reach forward and down, as to a pre-grasp above the table (rad, shoulder first)
REACH = {
    ArmSide.LEFT: np.array([-0.9, 0.3, 0.0, 0.6, 0.0, 0.2, 0.0]),
    ArmSide.RIGHT: np.array([-0.9, -0.3, 0.0, 0.6, 0.0, 0.2, 0.0]),
}
_COVERED = ("elbow", "wrist", "hand")  # the links a place can bring near the table


@pytest.fixture(scope="module")
def scene() -> Iterator[SimScene]:
    with build_scene(1, "g1", width=160, height=120) as built:
        yield built


def _outside_m(scene: SimScene, side: ArmSide, q: np.ndarray) -> float:
    """How far the farthest collision-mesh vertex of the forearm, wrist and hand lies outside
    every sphere (negative: all inside)."""
    import mujoco

    model, data = scene.model, scene.data
    for name, angle in zip(arm_joints(side.value), q, strict=True):
        data.joint(ROBOT_PREFIX + name).qpos[0] = angle
    mujoco.mj_forward(model, data)
    T_torso_from_world = scene.body_pose(ROBOT_PREFIX + "torso_link").inverse()
    centres, radii = arm_spheres(CHAINS[side], q, MODEL)
    worst = -np.inf
    for g in range(model.ngeom):
        body = str(model.body(model.geom_bodyid[g]).name)
        mesh = int(model.geom_dataid[g])
        if not body.startswith(f"{ROBOT_PREFIX}{side.value}_") or not model.geom_contype[g]:
            continue
        if mesh < 0 or not any(part in body for part in _COVERED):
            continue
        start, count = model.mesh_vertadr[mesh], model.mesh_vertnum[mesh]
        world = model.mesh_vert[start : start + count] @ data.geom_xmat[g].reshape(3, 3).T
        points = T_torso_from_world.apply(world + data.geom_xpos[g])
        gaps = np.linalg.norm(points[:, None, :] - centres[None], axis=2) - radii[None]
        worst = max(worst, float(np.max(np.min(gaps, axis=1))))
    return worst


@pytest.mark.parametrize("side", list(ArmSide))
def test_the_spheres_cover_the_forearm_wrist_and_hand_meshes(
    scene: SimScene, side: ArmSide
) -> None:
    for q in (np.zeros(7), REACH[side]):
        assert _outside_m(scene, side, q) < 0.006


def test_joint_paths_are_straight_and_finely_sampled() -> None:
    a, b = np.zeros(7), np.array([0.3, -0.12, 0.0, 0.05, 0.0, 0.0, 0.0])
    states = joint_path(a, b, 0.05)
    assert np.array_equal(states[0], a) and np.allclose(states[-1], b)
    assert len(states) == 7  # 0.3 rad in 6 steps
    assert np.max(np.abs(np.diff(states, axis=0))) <= 0.05 + 1e-12
    direction = (b - a) / np.linalg.norm(b - a)
    for q in states:  # on the line
        assert np.allclose(q - a, direction * float(np.dot(q - a, direction)))


def test_a_column_under_the_wrist_intrudes_and_a_lower_one_does_not() -> None:
    side = ArmSide.LEFT
    centres, radii = arm_spheres(CHAINS[side], REACH[side], MODEL)
    lowest = int(np.argmin(centres[:, 2] - radii))
    x, y, z = centres[lowest]
    bottom = z - radii[lowest]
    table = bottom - 0.10
    column = ((x - 0.02, y - 0.02, table), (x + 0.02, y + 0.02, bottom + 0.015))
    hm = height_map_from_depth(top_down_view([column], table, eye=(x, y, z + 0.6)))
    depth = path_penetration(CHAINS[side], [REACH[side]], hm, MODEL)
    assert depth == pytest.approx(0.015, abs=0.004)
    short = ((x - 0.02, y - 0.02, table), (x + 0.02, y + 0.02, bottom - 0.01))
    clear = height_map_from_depth(top_down_view([short], table, eye=(x, y, z + 0.6)))
    assert path_penetration(CHAINS[side], [REACH[side]], clear, MODEL) == 0.0
    assert path_penetration(CHAINS[side], [], hm, MODEL) == 0.0


def test_a_held_object_hangs_below_the_hand() -> None:
    side = ArmSide.RIGHT
    empty, _ = arm_spheres(CHAINS[side], REACH[side], MODEL)
    holding, radii = arm_spheres(CHAINS[side], REACH[side], MODEL, held_half_height_m=0.05)
    assert len(holding) == len(empty) + 2
    assert holding[-1][2] == pytest.approx(holding[-2][2] - 0.05)
    assert radii[-1] == MODEL.held_m


@pytest.mark.parametrize("side", list(ArmSide))
def test_a_wide_grip_moves_the_held_object_towards_the_thumb_not_the_hand(side: ArmSide) -> None:
    centred, _ = arm_spheres(CHAINS[side], REACH[side], MODEL, held_half_height_m=0.05)
    wide = dataclasses.replace(MODEL, held_lateral_m=0.01)
    moved, _ = arm_spheres(CHAINS[side], REACH[side], wide, held_half_height_m=0.05)
    np.testing.assert_array_equal(moved[:-2], centred[:-2])  # the arm and hand stay put
    # the object 1 cm farther from the palm: towards the thumb, which lies on the body's side
    # (+y of torso_link for the right hand, -y for the left) in this forward reach
    shift = moved[-2:] - centred[-2:]
    np.testing.assert_allclose(np.linalg.norm(shift, axis=1), 0.01, atol=1e-12)
    inward = 1.0 if side is ArmSide.RIGHT else -1.0
    assert shift[0][1] * inward > 0.005
