"""The pointed object's extent from one RGB-D frame, on analytic scenes with hand-computed truth.

Each scene is ray-cast exactly (a table z = 0 and boxes, cylinders or spheres standing on it) for
a 640x480 camera 0.75 m from the objects, looking down at 45 degrees (as a RealSense on a UR5's
table); depth goes through the 16UC1 encoding as a camera sends it. Expectations are the shapes'
own dimensions: a box's length, width, height and yaw, a cylinder's diameter, a sphere's
diameter, and what each rule of ``core.object_extent`` promises (round bodies completed
symmetrically behind their nearest point, touching neighbours split, cut objects flagged).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pytest

from roborefer_ros.core.camera import CameraModel
from roborefer_ros.core.depth import encode_depth
from roborefer_ros.core.object_extent import (
    ExtentConfig,
    ObjectExtent,
    Shape,
    estimate_extent,
)
from roborefer_ros.core.transforms import Transform, matrix_to_quat

FloatArray = npt.NDArray[np.float64]
W, H, F = 640, 480, 600.0
_K = np.array([[F, 0, 319.5], [0, F, 239.5], [0, 0, 1.0]])
CAMERA = CameraModel(W, H, _K, np.hstack([_K, np.zeros((3, 1))]))


def look_at(eye: tuple[float, float, float], target: tuple[float, float, float]) -> Transform:
    """T_table_from_optical: z towards the target, x horizontal."""
    z = np.subtract(target, eye)
    z = z / np.linalg.norm(z)
    x = np.cross(z, [0.0, 0.0, 1.0])
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    return Transform(eye, matrix_to_quat(np.column_stack([x, y, z])))


@dataclass(frozen=True)
class Shape3:
    kind: str  # "box", "cylinder" or "sphere"
    centre_xy: tuple[float, float]
    size: tuple[float, float, float]  # box: length, width, height; cylinder: d, d, h; sphere: d
    yaw: float = 0.0
    base: float = 0.0  # height of its bottom above the table
    rgb: tuple[int, int, int] = (200, 40, 40)


def _hit(shape: Shape3, origin: FloatArray, rays: FloatArray) -> FloatArray:
    """Ray parameter t of the first hit per ray (inf for none); rays (N, 3) unit, table frame."""
    cx, cy = shape.centre_xy
    inf = np.full(rays.shape[0], np.inf)
    if shape.kind == "box":
        c, s = math.cos(shape.yaw), math.sin(shape.yaw)
        R = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])  # box -> table
        centre = np.array([cx, cy, shape.base + shape.size[2] / 2])
        o = R.T @ (origin - centre)
        d = rays @ R  # = (R.T @ rays.T).T
        half = np.array(shape.size) / 2
        with np.errstate(divide="ignore", invalid="ignore"):
            t1, t2 = (-half - o) / d, (half - o) / d
        near = np.nanmax(np.minimum(t1, t2), axis=1)
        far = np.nanmin(np.maximum(t1, t2), axis=1)
        return np.where((near <= far) & (far > 0), np.maximum(near, 0), inf)
    if shape.kind == "sphere":
        r = shape.size[0] / 2
        centre = np.array([cx, cy, shape.base + r])
        oc = origin - centre
        b = rays @ oc
        disc = b * b - (oc @ oc - r * r)
        t = -b - np.sqrt(np.maximum(disc, 0))
        return np.where((disc >= 0) & (t > 0), t, inf)
    r, h = shape.size[0] / 2, shape.size[2]
    o = origin - np.array([cx, cy, shape.base])
    a = rays[:, 0] ** 2 + rays[:, 1] ** 2
    b = 2 * (o[0] * rays[:, 0] + o[1] * rays[:, 1])
    disc = b * b - 4 * a * (o[0] ** 2 + o[1] ** 2 - r * r)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_side = (-b - np.sqrt(np.maximum(disc, 0))) / (2 * a)
        z_side = o[2] + t_side * rays[:, 2]
        side = np.where((disc >= 0) & (t_side > 0) & (z_side >= 0) & (z_side <= h), t_side, inf)
        t_top = (h - o[2]) / rays[:, 2]
    px = o[0] + t_top * rays[:, 0]
    py = o[1] + t_top * rays[:, 1]
    top = np.where((t_top > 0) & (px * px + py * py <= r * r), t_top, inf)
    return np.minimum(side, top)


def render(
    shapes: list[Shape3], T: Transform, table_rgb: tuple[int, int, int] = (150, 150, 150)
) -> tuple[npt.NDArray[np.uint16], npt.NDArray[np.uint8]]:
    """16UC1 depth and rgb8 of the scene seen from ``T`` (T_table_from_optical)."""
    us, vs = np.meshgrid(np.arange(W, dtype=np.float64), np.arange(H, dtype=np.float64))
    dirs = np.stack(((us - 319.5) / F, (vs - 239.5) / F, np.ones_like(us)), axis=-1).reshape(-1, 3)
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    R = T.rotation_matrix()
    rays = dirs @ R.T
    origin = np.asarray(T.translation, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_table = np.where(rays[:, 2] < 0, -origin[2] / rays[:, 2], np.inf)
    best, colour = t_table, np.tile(np.array(table_rgb, dtype=np.uint8), (rays.shape[0], 1))
    for shape in shapes:
        t = _hit(shape, origin, rays)
        closer = t < best
        best = np.where(closer, t, best)
        colour[closer] = shape.rgb
    depth = (best * dirs[:, 2]).reshape(H, W)  # along the optical axis
    return encode_depth(depth, "16UC1"), colour.reshape(H, W, 3)


EYE = (0.0, -0.53, 0.53)  # 0.75 m from the origin, 45 degrees above the table
T_TABLE_FROM_OPTICAL = look_at(EYE, (0.0, 0.0, 0.0))


def point_at(
    shape: Shape3, T: Transform = T_TABLE_FROM_OPTICAL
) -> tuple[tuple[float, float], FloatArray]:
    """The pixel of the shape's visible top centre and that surface point (optical frame)."""
    cx, cy = shape.centre_xy
    top = shape.base + (shape.size[0] if shape.kind == "sphere" else shape.size[2])
    p_table = np.array([cx, cy, top - 1e-4])
    p_cam = np.asarray(T.inverse().apply(p_table), dtype=np.float64)
    return CAMERA.project(p_cam), p_cam


def estimate(
    shapes: list[Shape3],
    target: int = 0,
    config: ExtentConfig | None = None,
    T: Transform = T_TABLE_FROM_OPTICAL,
    noise_seed: int | None = None,
    depth_hook=None,
) -> tuple[ObjectExtent, float, tuple[float, float, float]]:
    """(estimate, yaw of its x axis in the table frame, footprint centre in the table frame)."""
    depth, rgb = render(shapes, T)
    if noise_seed is not None:
        from roborefer_ros.sim.noise import D435Noise, apply_depth_noise

        metres = depth.astype(np.float64) / 1000.0
        metres[depth == 0] = np.nan
        noisy = apply_depth_noise(
            metres.astype(np.float32), np.random.default_rng(noise_seed), D435Noise()
        )
        depth = encode_depth(noisy, "16UC1")
    if depth_hook is not None:
        depth = depth_hook(depth)
    pixel, p_cam = point_at(shapes[target], T)
    extent = estimate_extent(CAMERA, depth, "16UC1", pixel, p_cam, rgb, config)
    framed = extent.in_frame(T)
    return extent, framed.yaw_rad, framed.base_centre


def yaw_error_deg(measured: float, truth: float, period: float = math.pi) -> float:
    error = (measured - truth) % period
    return math.degrees(min(error, period - error))


@pytest.mark.parametrize("yaw_deg", [0, 15, 30, 45, 60, 75, 90])
def test_a_box_turned_0_to_90_degrees(yaw_deg: int) -> None:
    box = Shape3("box", (0.0, 0.0), (0.10, 0.06, 0.05), math.radians(yaw_deg))
    extent, yaw, centre = estimate([box])
    assert extent.shape is Shape.BOX
    assert extent.length_m == pytest.approx(0.10, abs=0.004)
    assert extent.width_m == pytest.approx(0.06, abs=0.004)
    assert extent.height_m == pytest.approx(0.05, abs=0.002)
    assert yaw_error_deg(yaw, box.yaw) < 3.0
    assert math.hypot(centre[0], centre[1]) < 0.004 and abs(centre[2]) < 0.002
    assert extent.confidence > 0.8 and extent.visible_fraction > 0.9, extent.reason


def test_a_square_box_has_its_yaw_modulo_a_quarter_turn() -> None:
    box = Shape3("box", (0.0, 0.0), (0.07, 0.07, 0.06), math.radians(20))
    extent, yaw, _ = estimate([box])
    assert extent.shape is Shape.BOX
    assert extent.length_m == pytest.approx(0.07, abs=0.004)
    assert extent.width_m == pytest.approx(0.07, abs=0.004)
    assert yaw_error_deg(yaw, box.yaw, math.pi / 2) < 3.0


def test_a_cylinder_is_round_with_its_diameter() -> None:
    can = Shape3("cylinder", (0.02, 0.03), (0.06, 0.06, 0.09))
    extent, yaw, centre = estimate([can])
    assert extent.shape is Shape.ROUND
    assert extent.length_m == extent.width_m == pytest.approx(0.06, abs=0.004)
    assert extent.height_m == pytest.approx(0.09, abs=0.002)
    assert math.hypot(centre[0] - 0.02, centre[1] - 0.03) < 0.004
    # a round object's x axis is the horizontal line of sight (fingers close across it)
    eye_to_object = math.atan2(0.03 - EYE[1], 0.02 - EYE[0])
    assert yaw_error_deg(yaw, eye_to_object, 2 * math.pi) < 5.0


def test_a_sphere_is_completed_symmetrically_behind_its_nearest_point() -> None:
    """The camera sees only the sphere's near side; its centre lies a radius behind the nearest
    visible point, its diameter is the silhouette's width across the line of sight."""
    ball = Shape3("sphere", (0.0, 0.0), (0.07, 0.07, 0.07))
    extent, _, centre = estimate([ball])
    assert extent.shape is Shape.ROUND
    assert extent.length_m == pytest.approx(0.07, abs=0.005)
    assert extent.height_m == pytest.approx(0.07, abs=0.003)
    assert math.hypot(centre[0], centre[1]) < 0.005
    assert extent.visible_fraction < 1.0  # the far side was completed, not seen


def test_a_small_sphere_seen_in_part_is_round_not_a_box_cut_at_its_far_side() -> None:
    """An apple-sized ball seen from the side and above: its visible points make a long half disc
    (the far side beyond the top is hidden), which a rectangle fit calls a 37 mm wide box. The
    near half of its outline lies on its widest circle: it is ROUND, with its diameter."""
    ball = Shape3("sphere", (0.0, 0.0), (0.0576, 0.0576, 0.0576))
    extent, _, centre = estimate([ball], T=look_at((0.3, -0.8, 0.5), (0.0, 0.0, 0.0)))
    assert extent.shape is Shape.ROUND
    assert extent.length_m == extent.width_m == pytest.approx(0.0576, abs=0.005)
    assert math.hypot(centre[0], centre[1]) < 0.005


def test_an_object_beside_a_taller_neighbour_is_split_by_the_depth_step() -> None:
    """A low box with a tall one 2 cm behind it: from the camera the low box's far edge meets the
    tall box's face 5 cm nearer than the table behind it, still a depth step."""
    low = Shape3("box", (0.0, 0.0), (0.06, 0.06, 0.04))
    tall = Shape3("box", (0.0, 0.08), (0.06, 0.06, 0.12), rgb=(40, 40, 200))
    extent, _, centre = estimate([low, tall])
    assert extent.length_m == pytest.approx(0.06, abs=0.005)
    assert extent.width_m == pytest.approx(0.06, abs=0.005)
    assert extent.height_m == pytest.approx(0.04, abs=0.003)
    assert math.hypot(centre[0], centre[1]) < 0.005


def test_an_object_touching_a_taller_neighbour_needs_the_colour_to_split() -> None:
    """Touching, the two boxes meet in an inner corner with no depth step: depth alone takes them
    for one object; their colours split them."""
    low = Shape3("box", (0.0, 0.0), (0.06, 0.06, 0.04))
    tall = Shape3("box", (0.0, 0.06), (0.06, 0.06, 0.12), rgb=(40, 40, 200))
    merged, _, _ = estimate([low, tall])
    assert merged.height_m == pytest.approx(0.12, abs=0.003)
    extent, _, centre = estimate([low, tall], config=ExtentConfig(colour_max=40.0))
    assert extent.length_m == pytest.approx(0.06, abs=0.005)
    assert extent.width_m == pytest.approx(0.06, abs=0.005)
    assert extent.height_m == pytest.approx(0.04, abs=0.003)
    assert math.hypot(centre[0], centre[1]) < 0.005


def test_neighbours_touching_at_the_same_height_need_the_colour_to_split() -> None:
    left = Shape3("box", (-0.03, 0.0), (0.06, 0.06, 0.05), rgb=(220, 30, 30))
    right = Shape3("box", (0.03, 0.0), (0.06, 0.06, 0.05), rgb=(30, 180, 60))
    merged, _, _ = estimate([left, right])
    assert merged.length_m == pytest.approx(0.12, abs=0.005)  # depth alone: one block
    split, _, centre = estimate([left, right], config=ExtentConfig(colour_max=40.0))
    assert split.length_m == pytest.approx(0.06, abs=0.005)
    assert split.width_m == pytest.approx(0.06, abs=0.005)
    assert math.hypot(centre[0] + 0.03, centre[1]) < 0.005


def test_an_object_on_a_plate_stands_on_the_plate() -> None:
    plate = Shape3("cylinder", (0.0, 0.0), (0.20, 0.20, 0.015), rgb=(240, 240, 240))
    box = Shape3("box", (0.0, 0.0), (0.06, 0.05, 0.05), math.radians(30), base=0.015)
    extent, yaw, centre = estimate([box, plate])
    assert extent.length_m == pytest.approx(0.06, abs=0.004)
    assert extent.width_m == pytest.approx(0.05, abs=0.004)
    assert extent.height_m == pytest.approx(0.05, abs=0.003)  # above the plate, not the table
    assert centre[2] == pytest.approx(0.015, abs=0.003)
    assert yaw_error_deg(yaw, box.yaw) < 3.0


def test_a_partly_occluded_object_reports_what_was_seen() -> None:
    """A box half hidden behind a nearer one (a tall post between it and the camera) is estimated
    from its visible part, flagged as occluded, with a lower confidence."""
    box = Shape3("box", (0.0, 0.0), (0.10, 0.06, 0.05))
    full, _, _ = estimate([box])
    post = Shape3("box", (-0.035, -0.08), (0.05, 0.03, 0.20), rgb=(40, 40, 200))
    part, _, _ = estimate([box, post])
    assert "partly occluded" in part.reason
    assert part.confidence < full.confidence
    assert part.length_m < full.length_m - 0.01


def test_an_object_cut_by_the_image_border_has_a_low_confidence() -> None:
    box = Shape3("box", (0.0, -0.32), (0.10, 0.06, 0.05))  # at the bottom edge of the image
    extent, _, _ = estimate([box])
    assert "runs out of the image" in extent.reason
    assert extent.confidence < 0.35


def test_a_box_whose_front_face_alone_reaches_the_border_is_seen_whole() -> None:
    """The box's front face runs out of the image's bottom edge, its top face is inside: all
    four sides of its footprint rest on points away from the border, so it keeps its confidence
    and its true size; 1 cm nearer, its top face is cut too and the confidence drops."""
    box = Shape3("box", (0.0, -0.28), (0.10, 0.06, 0.05))
    whole, _, centre = estimate([box])
    assert "seen whole" in whole.reason
    assert whole.confidence > 0.9
    assert whole.length_m == pytest.approx(0.10, abs=0.004)
    assert whole.width_m == pytest.approx(0.06, abs=0.004)
    assert math.hypot(centre[0], centre[1] + 0.28) < 0.003
    cut, _, _ = estimate([Shape3("box", (0.0, -0.30), (0.10, 0.06, 0.05))])
    assert "runs out of the image" in cut.reason
    assert cut.confidence < 0.35


@pytest.mark.parametrize("x", [0.33, 0.35])
def test_a_turned_box_whose_corner_face_reaches_the_right_border_keeps_its_size(x: float) -> None:
    """Turned 30 degrees at the image's right edge, the box's near side face runs out of the
    image while its top face stays inside: seen whole, with its true size and centre."""
    box = Shape3("box", (x, 0.0), (0.10, 0.06, 0.05), yaw=math.radians(30))
    extent, yaw, centre = estimate([box])
    assert "seen whole" in extent.reason
    assert extent.length_m == pytest.approx(0.10, abs=0.005)
    assert extent.width_m == pytest.approx(0.06, abs=0.005)
    assert yaw_error_deg(yaw, math.radians(30)) < 2.0
    assert math.hypot(centre[0] - x, centre[1]) < 0.004


def test_a_round_body_cut_by_the_image_border_is_completed_from_its_arc() -> None:
    """A can at the image's right edge (its far right quarter out of view): its circle comes from
    the arc seen, so its diameter and centre hold, and the confidence drops by the share of its
    disc out of view, not to the cut box's 0.3."""
    inside, _, _ = estimate([Shape3("cylinder", (0.28, 0.0), (0.07, 0.07, 0.09))])
    assert "image" not in inside.reason
    cut, _, centre = estimate([Shape3("cylinder", (0.35, 0.0), (0.07, 0.07, 0.09))])
    assert cut.shape is Shape.ROUND
    assert "of its disc out of view" in cut.reason
    assert cut.width_m == pytest.approx(0.07, abs=0.004)
    assert math.hypot(centre[0] - 0.35, centre[1]) < 0.004
    assert 0.35 < cut.confidence < inside.confidence - 0.15


def test_a_pointed_pixel_outside_the_image_gives_confidence_zero() -> None:
    box = Shape3("box", (0.0, 0.0), (0.10, 0.06, 0.05))
    depth, _ = render([box], T_TABLE_FROM_OPTICAL)
    _, p_cam = point_at(box)
    extent = estimate_extent(CAMERA, depth, "16UC1", (W + 3.0, 100.0), p_cam)
    assert extent.confidence == 0.0
    assert "outside the image" in extent.reason


def test_noisy_depth_keeps_the_box_within_a_centimetre() -> None:
    box = Shape3("box", (0.0, 0.0), (0.09, 0.05, 0.06), math.radians(35))
    for seed in range(3):
        extent, yaw, _ = estimate([box], noise_seed=seed)
        assert extent.shape is Shape.BOX
        assert extent.length_m == pytest.approx(0.09, abs=0.01)
        assert extent.width_m == pytest.approx(0.05, abs=0.01)
        assert extent.height_m == pytest.approx(0.06, abs=0.01)
        assert yaw_error_deg(yaw, box.yaw) < 10.0


def test_nothing_to_estimate_gives_confidence_zero_and_a_reason() -> None:
    depth, rgb = render([], T_TABLE_FROM_OPTICAL)
    pixel = (319.5, 239.5)
    p_cam = np.asarray(T_TABLE_FROM_OPTICAL.inverse().apply([0.0, 0.0, 0.0]), dtype=np.float64)
    extent = estimate_extent(CAMERA, depth, "16UC1", pixel, p_cam, rgb)
    assert extent.confidence == 0.0
    assert extent.shape is Shape.UNKNOWN
    assert "support plane" in extent.reason or "nothing above" in extent.reason
    hole = estimate_extent(CAMERA, depth, "16UC1", pixel, np.array([0.0, 0.0, float("nan")]))
    assert hole.confidence == 0.0 and "no depth" in hole.reason


def test_the_estimate_is_deterministic() -> None:
    box = Shape3("box", (0.01, 0.0), (0.08, 0.05, 0.05), 0.4)
    a, _, _ = estimate([box])
    b, _, _ = estimate([box])
    assert (a.size_m, a.confidence, a.reason) == (b.size_m, b.confidence, b.reason)
    assert np.array_equal(a.centre_camera, b.centre_camera)
