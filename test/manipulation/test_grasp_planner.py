"""Grasp/place step planning: poses, orientations and step order from RefPoint-like targets."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from roborefer_ros.core.transforms import Transform
from roborefer_ros.manipulation.errors import PickPlaceError, PickPlaceStatus
from roborefer_ros.manipulation.grasp_planner import (
    GraspConfig,
    GraspStyle,
    PlaceSurface,
    PlanRequest,
    choose_yaw,
    fold_yaw,
    plan_pick_place,
    top_down_quat,
)
from roborefer_ros.manipulation.steps import Stage, StepKind

PICK = (0.55, 0.10, 0.10)  # top of a box
TABLE = PlaceSurface((0.42, -0.12, 0.0), (0.0, 0.0, 1.0))
CFG = GraspConfig()


def axes(T: Transform) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    R = T.rotation_matrix()
    return R[:, 0], R[:, 1], R[:, 2]


def pose(plan, label: str) -> Transform:
    (step,) = [s for s in plan.steps if s.label == label]
    assert step.tcp_pose is not None
    return step.tcp_pose


@pytest.mark.parametrize("yaw", [0.0, 0.3, -1.2, math.pi / 2])
def test_top_down_quaternion_points_down_with_the_yaw(yaw: float) -> None:
    x, y, z = axes(Transform(quat_xyzw=top_down_quat(yaw)))
    np.testing.assert_allclose(z, [0, 0, -1], atol=1e-12)
    np.testing.assert_allclose(x, [math.cos(yaw), math.sin(yaw), 0], atol=1e-12)
    np.testing.assert_allclose(y, [math.sin(yaw), -math.cos(yaw), 0], atol=1e-12)  # fingers


def test_pick_and_place_steps_in_order_with_stages_and_kinds() -> None:
    plan = plan_pick_place(PlanRequest("base_link", PICK, TABLE), CFG)
    assert plan.frame == "base_link"
    assert [(s.label, s.kind, s.stage) for s in plan.steps] == [
        ("pre-grasp", StepKind.MOVE, Stage.APPROACH),
        ("approach", StepKind.LINEAR, Stage.APPROACH),
        ("close", StepKind.CLOSE, Stage.GRASP),
        ("lift", StepKind.LINEAR, Stage.LIFT),
        ("pre-place", StepKind.MOVE, Stage.PLACE),
        ("place", StepKind.LINEAR, Stage.PLACE),
        ("open", StepKind.OPEN, Stage.PLACE),
        ("retreat", StepKind.LINEAR, Stage.RETREAT),
    ]
    assert all(
        (s.tcp_pose is None) == (s.kind in (StepKind.OPEN, StepKind.CLOSE)) for s in plan.steps
    )
    assert all(
        s.speed_scale == CFG.linear_speed_scale for s in plan.steps if s.kind is StepKind.LINEAR
    )
    assert plan.object_half_height_m == pytest.approx(0.04)


def test_pick_and_place_positions() -> None:
    """Default object 0.08 m tall, fingers 0.03 m: grasp 0.03 below the top, place mirrors it."""
    plan = plan_pick_place(PlanRequest("base_link", PICK, TABLE), CFG)
    expected = {
        "pre-grasp": (0.55, 0.10, 0.07 + 0.10),
        "approach": (0.55, 0.10, 0.07),
        "lift": (0.55, 0.10, 0.07 + 0.10),
        # TCP 0.05 above the object's bottom + 0.015 clearance
        "pre-place": (0.42, -0.12, 0.065 + 0.10),
        "place": (0.42, -0.12, 0.065),
        "retreat": (0.42, -0.12, 0.065 + 0.10),
    }
    for label, xyz in expected.items():
        np.testing.assert_allclose(pose(plan, label).translation, xyz, atol=1e-12, err_msg=label)


def test_grasp_at_the_middle_when_the_fingers_reach_it() -> None:
    """Half height within the finger depth: grasp at the middle, place = surface + n*(h/2 + c)."""
    cfg = GraspConfig(max_finger_depth_m=0.05)
    plan = plan_pick_place(PlanRequest("base_link", PICK, TABLE, object_size_m=(0, 0, 0.06)), cfg)
    assert pose(plan, "approach").translation[2] == pytest.approx(0.07)
    assert pose(plan, "place").translation[2] == pytest.approx(0.03 + cfg.place_clearance_m)


def test_place_keeps_the_grasp_yaw_on_a_level_surface() -> None:
    cfg = GraspConfig(grasp_yaw_rad=0.7)
    plan = plan_pick_place(PlanRequest("base_link", PICK, TABLE), cfg)
    grasp, place = pose(plan, "approach"), pose(plan, "place")
    np.testing.assert_allclose(place.rotation_matrix(), grasp.rotation_matrix(), atol=1e-9)
    for label in ("pre-grasp", "lift", "pre-place", "retreat"):
        np.testing.assert_allclose(
            pose(plan, label).rotation_matrix(), grasp.rotation_matrix(), atol=1e-9
        )


def test_tilted_surface_place_along_its_normal_keeping_x() -> None:
    tilt = math.radians(20)
    n = (math.sin(tilt), 0.0, math.cos(tilt))
    plan = plan_pick_place(PlanRequest("base_link", PICK, PlaceSurface((0.5, 0, 0.05), n)), CFG)
    x, _, z = axes(pose(plan, "place"))
    np.testing.assert_allclose(z, -np.asarray(n), atol=1e-9)
    assert x[1] == pytest.approx(0.0, abs=1e-9) and x[0] > 0.9  # grasp x (yaw 0) projected
    offset = pose(plan, "pre-place").translation - np.asarray(pose(plan, "place").translation)
    np.testing.assert_allclose(offset, 0.10 * np.asarray(n), atol=1e-9)


@pytest.mark.parametrize(
    ("size", "yaw"),
    [
        ((0.04, 0.10, 0.1), math.pi / 2),
        ((0.10, 0.04, 0.1), 0.0),
        ((0, 0, 0), 0.0),
        ((0.05, 0.05, 0), 0.0),
    ],
)
def test_yaw_closes_the_fingers_across_the_narrower_side(size, yaw: float) -> None:
    assert choose_yaw(GraspConfig(), size) == pytest.approx(yaw)
    plan = plan_pick_place(PlanRequest("base_link", PICK, object_size_m=size), GraspConfig())
    _, fingers, _ = axes(pose(plan, "approach"))
    narrow = 0 if size[0] > 0 and size[1] > 0 and size[0] < size[1] else 1
    assert abs(fingers[narrow]) == pytest.approx(1.0)


def test_configured_yaw_wins_and_is_folded() -> None:
    assert choose_yaw(GraspConfig(grasp_yaw_rad=3.0), (0.04, 0.1, 0.1)) == pytest.approx(
        3.0 - math.pi
    )
    assert fold_yaw(-math.pi / 2) == pytest.approx(math.pi / 2)
    assert fold_yaw(math.pi) == pytest.approx(0.0, abs=1e-12)


def test_pick_only_and_place_only() -> None:
    pick = plan_pick_place(PlanRequest("base_link", PICK), CFG)
    assert [s.label for s in pick.steps] == ["pre-grasp", "approach", "close", "lift"]
    place = plan_pick_place(PlanRequest("base_link", place=TABLE), CFG)
    assert [s.label for s in place.steps] == ["pre-place", "place", "open", "retreat"]
    # held object of unknown grasp: assumed held at its middle
    assert pose(place, "place").translation[2] == pytest.approx(0.04 + 0.015)


def test_goal_distances_override_the_config() -> None:
    plan = plan_pick_place(
        PlanRequest("base_link", PICK, TABLE, approach_distance_m=0.2, lift_distance_m=0.05), CFG
    )
    assert pose(plan, "pre-grasp").translation[2] == pytest.approx(0.07 + 0.2)
    assert pose(plan, "lift").translation[2] == pytest.approx(0.07 + 0.05)
    assert pose(plan, "pre-place").translation[2] == pytest.approx(0.065 + 0.2)


def test_frontal_grasp_for_the_g1() -> None:
    cfg = GraspConfig(style=GraspStyle.FRONTAL, max_finger_depth_m=0.04)
    point = (0.30, -0.15, 0.05)  # front face of an object, torso_link
    plan = plan_pick_place(
        PlanRequest(
            "torso_link", point, PlaceSurface((0.32, -0.2, -0.1), (0, 0, 1)), (0.05, 0.05, 0.1)
        ),
        cfg,
    )
    x, y, z = axes(pose(plan, "approach"))
    np.testing.assert_allclose(z, [1, 0, 0], atol=1e-9)  # approach along torso forward
    np.testing.assert_allclose(x, [0, 0, 1], atol=1e-9)  # hand "up"
    assert abs(y[1]) == pytest.approx(1.0)  # fingers close horizontally
    np.testing.assert_allclose(pose(plan, "approach").translation, (0.325, -0.15, 0.05), atol=1e-9)
    np.testing.assert_allclose(pose(plan, "pre-grasp").translation, (0.225, -0.15, 0.05), atol=1e-9)
    place, retreat = pose(plan, "place"), pose(plan, "retreat")
    np.testing.assert_allclose(
        place.rotation_matrix(), pose(plan, "approach").rotation_matrix(), atol=1e-9
    )
    np.testing.assert_allclose(place.translation, (0.32, -0.2, -0.1 + 0.05 + 0.015), atol=1e-9)
    # the hand rises from the placed object (backing off would drag it with the thumb)
    np.testing.assert_allclose(
        np.asarray(retreat.translation) - place.translation, (0, 0, 0.10), atol=1e-9
    )


def test_a_frontal_hand_comes_down_onto_its_pre_grasp() -> None:
    request = PlanRequest(
        "torso_link", (0.30, -0.15, 0.05), PlaceSurface((0.32, -0.2, -0.1), (0, 0, 1)), (0.05,) * 3
    )
    direct = plan_pick_place(request, GraspConfig(style=GraspStyle.FRONTAL))
    cfg = GraspConfig(style=GraspStyle.FRONTAL, frontal_descent_m=0.08)
    plan = plan_pick_place(request, cfg)
    assert [s.label for s in plan.steps] == ["above pre-grasp"] + [s.label for s in direct.steps]
    above, pre = plan.steps[0], plan.steps[1]
    assert (above.kind, above.stage, pre.kind) == (StepKind.MOVE, Stage.APPROACH, StepKind.LINEAR)
    assert pre.tcp_pose == pose(direct, "pre-grasp")  # the rest of the plan is unchanged
    assert plan.steps[2:] == direct.steps[1:]
    assert above.tcp_pose is not None and pre.tcp_pose is not None
    np.testing.assert_allclose(
        np.subtract(above.tcp_pose.translation, pre.tcp_pose.translation), (0, 0, 0.08)
    )
    assert above.tcp_pose.quat_xyzw == pre.tcp_pose.quat_xyzw
    # a top-down gripper comes from above anyway: the setting is for the frontal hand only
    top = GraspConfig(frontal_descent_m=0.08)
    on_table = dataclasses.replace(request, frame="base_link")
    assert plan_pick_place(on_table, top) == plan_pick_place(on_table, GraspConfig())
    with pytest.raises(ValueError, match="frontal_descent_m"):
        GraspConfig(frontal_descent_m=-0.01)


def test_viewing_ray_and_size_put_a_top_down_grasp_around_the_centre() -> None:
    # a 6 cm sphere centred at (0.5, 0.1, 0.03) seen from above and in front (+x): the ray hits
    # its surface 3 cm before the centre
    ray = np.array([-0.6, 0.0, -0.8])
    centre = np.array([0.5, 0.1, 0.03])
    point = centre - ray * 0.03
    request = PlanRequest(
        "base_link", tuple(point), TABLE, (0.06, 0.06, 0.06), pick_ray=tuple(ray.tolist())
    )
    plan = plan_pick_place(request, CFG)
    # centred in x and y, the finger depth (3 cm) below the top: at the centre
    np.testing.assert_allclose(pose(plan, "approach").translation, centre, atol=1e-9)
    # without the ray the grasp goes below the pointed surface point, 2.4 cm off-centre in x
    blind = plan_pick_place(PlanRequest("base_link", tuple(point), TABLE, (0.06,) * 3), CFG)
    assert pose(blind, "approach").translation[0] == pytest.approx(0.5 + 0.018)


def test_top_down_centre_estimate_stays_within_the_footprint_of_the_pick_point() -> None:
    # Sim seed 1: a cup (body radius 28.8 mm, 76.8 mm tall, handle along its own +x: extents
    # 77.8 x 57.6 mm) turned by -0.2555 rad, axis at (0.374, 0.0992), seen obliquely from +x; the
    # LOCATE point lies on its top face 22 mm in front of the axis. Sliding along the ray by half
    # the depth put the grasp 13.6 mm behind the axis, along the finger pads: the fingers
    # squeezed the cup out and closed on nothing. The pick point is on the object, so the
    # estimate stays within the inscribed radius (half the narrower side) of it.
    axis_xy = np.array([0.374, 0.0992])
    point = (0.3951, 0.0921, 0.0768)
    ray = np.array([-0.782, 0.315, -0.538])
    request = PlanRequest(
        "base_link",
        point,
        TABLE,
        (0.07776, 0.0576, 0.0768),
        object_yaw_rad=-0.2555,
        pick_ray=tuple((ray / np.linalg.norm(ray)).tolist()),
    )
    grasp = np.asarray(pose(plan_pick_place(request, CFG), "approach").translation)
    assert float(np.linalg.norm(grasp[:2] - np.asarray(point[:2]))) == pytest.approx(0.0288)
    assert float(np.linalg.norm(grasp[:2] - axis_xy)) < 0.008  # was 0.0136
    # the height still comes from the ray: unchanged by the horizontal correction
    unclamped = point + ray / np.linalg.norm(ray) * 0.5 * float(
        np.linalg.norm(ray / np.linalg.norm(ray) * (0.0898, 0.0754, 0.0768))
    )
    assert grasp[2] == pytest.approx(unclamped[2] + 0.0384 - 0.03, abs=5e-4)


def test_frontal_grasp_from_the_centre_keeps_the_hand_above_the_support() -> None:
    cfg = GraspConfig(style=GraspStyle.FRONTAL, frontal_min_height_m=0.05)
    centre = np.array([0.30, -0.15, -0.07])  # a 6 cm box standing on a table at z = -0.10
    ray = np.array([0.6, 0.0, -0.8])  # a head camera above and behind it
    point = centre - ray * 0.5 * float(np.linalg.norm(ray * 0.06))
    request = PlanRequest(
        "torso_link", tuple(point), None, (0.06, 0.06, 0.06), pick_ray=tuple(ray.tolist())
    )
    grasp = pose(plan_pick_place(request, cfg), "approach").translation
    # the finger depth (3 cm = half the box) past its near face: its centre in x and y, and
    # 5 cm above its bottom rather than at its mid-height (3 cm)
    np.testing.assert_allclose(grasp, (0.30, -0.15, -0.10 + 0.05), atol=1e-9)


def test_a_frontal_plan_carries_the_objects_width_across_the_hand() -> None:
    cfg = GraspConfig(style=GraspStyle.FRONTAL)
    box = PlanRequest("torso_link", (0.30, -0.15, -0.05), TABLE, (0.10, 0.06, 0.12))
    assert plan_pick_place(box, cfg).grip_width_m == pytest.approx(0.06)
    # turned a quarter turn, its long side lies across the hand
    turned = dataclasses.replace(box, object_yaw_rad=math.pi / 2)
    assert plan_pick_place(turned, cfg).grip_width_m == pytest.approx(0.10)
    # an unknown width, a place-only plan and a top-down gripper (which centres the object
    # itself) carry none
    unknown = dataclasses.replace(box, object_size_m=(0.10, 0.0, 0.12))
    assert plan_pick_place(unknown, cfg).grip_width_m == 0.0
    place_only = dataclasses.replace(box, pick_point=None)
    assert plan_pick_place(place_only, cfg).grip_width_m == 0.0
    assert plan_pick_place(box, CFG).grip_width_m == 0.0


def test_place_approach_distance_sets_the_pre_place_height() -> None:
    cfg = GraspConfig(place_approach_distance_m=0.05)
    plan = plan_pick_place(PlanRequest("base_link", PICK, TABLE), cfg)
    place = pose(plan, "place").translation
    assert pose(plan, "pre-place").translation[2] == pytest.approx(place[2] + 0.05)
    assert pose(plan, "pre-grasp").translation[2] == pytest.approx(0.07 + 0.10)
    with pytest.raises(ValueError, match="place_approach_distance_m"):
        GraspConfig(place_approach_distance_m=0.0)


def test_nothing_to_plan_is_a_bad_request() -> None:
    with pytest.raises(PickPlaceError) as err:
        plan_pick_place(PlanRequest("base_link"), CFG)
    assert err.value.status is PickPlaceStatus.BAD_REQUEST


def test_zero_normal_and_non_finite_points_are_bad_requests() -> None:
    with pytest.raises(PickPlaceError, match="normal is zero"):
        plan_pick_place(PlanRequest("base_link", place=PlaceSurface((0.4, 0, 0), (0, 0, 0))), CFG)
    with pytest.raises(PickPlaceError, match="pick point"):
        plan_pick_place(PlanRequest("base_link", (math.nan, 0, 0)), CFG)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"approach_distance_m": -0.1}, "approach_distance_m"),
        ({"linear_speed_scale": 0.0}, "linear_speed_scale"),
        ({"default_object_size_m": (0.1, 0.0, 0.1)}, "default_object_size_m"),
        ({"grasp_yaw_rad": math.inf}, "grasp_yaw_rad"),
    ],
)
def test_config_is_validated(kwargs, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        GraspConfig(**kwargs)
