"""What a simulated tabletop holds, as plain frozen data sampled from a seed (no MuJoCo here).

Frames: ``base_link`` is the world frame of the scene and the robot's base; the table top is the
plane z = 0 and the robot stands on it at the origin, at the table's -x edge. Objects stand in a
placement region in front of the robot (+x). Every length is in metres, every angle in radians.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from enum import Enum

import numpy as np

from roborefer_ros.core.transforms import Transform
from roborefer_ros.sim.camera_rig import CameraMotion, CameraRig
from roborefer_ros.sim.errors import SimError

RGBA = tuple[float, float, float, float]
Vec3 = tuple[float, float, float]


class ObjectKind(Enum):
    """The object shapes a scene can hold; the value is the noun used in prompts."""

    CUP = "cup"
    APPLE = "apple"
    PLATE = "plate"
    BOX = "box"
    CAKE = "cake"

    @property
    def plural(self) -> str:
        return "boxes" if self is ObjectKind.BOX else self.value + "s"


# Distinct, nameable colours (names are what prompts say).
PALETTE: dict[str, RGBA] = {
    "red": (0.85, 0.08, 0.08, 1.0),
    "green": (0.12, 0.62, 0.18, 1.0),
    "blue": (0.10, 0.25, 0.85, 1.0),
    "yellow": (0.95, 0.85, 0.10, 1.0),
    "orange": (0.98, 0.48, 0.04, 1.0),
    "purple": (0.50, 0.15, 0.70, 1.0),
    "pink": (0.98, 0.50, 0.72, 1.0),
    "white": (0.92, 0.92, 0.92, 1.0),
}
# Table tops that every palette colour stands out against.
TABLE_COLOURS: dict[str, RGBA] = {
    "light wood": (0.60, 0.45, 0.30, 1.0),
    "dark wood": (0.38, 0.27, 0.18, 1.0),
    "grey": (0.42, 0.42, 0.45, 1.0),
}
SIZE_SCALE = {"small": 0.8, "big": 1.25}

# Nominal dims (before the size scale): cylinder-like kinds (radius, radius, half height),
# apple (radius,)*3, box half extents.
_NOMINAL_DIMS: dict[ObjectKind, Vec3] = {
    ObjectKind.CUP: (0.036, 0.036, 0.048),
    ObjectKind.APPLE: (0.036, 0.036, 0.036),
    ObjectKind.PLATE: (0.095, 0.095, 0.008),
    ObjectKind.BOX: (0.040, 0.032, 0.035),
    ObjectKind.CAKE: (0.065, 0.065, 0.035),
}
# Cup handle as a fraction of the cup: half extents (radial, tangential, vertical).
CUP_HANDLE_FRACTION: Vec3 = (0.35, 0.14, 0.55)
_GAP_M = 0.03  # minimum free gap between two footprints on the table


@dataclass(frozen=True)
class ObjectSpec:
    """One rigid object. ``position_m`` is the centre of its main primitive in ``base_link``."""

    index: int
    kind: ObjectKind
    colour_name: str
    size_name: str  # "small" | "big"
    rgba: RGBA
    dims_m: Vec3  # see _NOMINAL_DIMS for the meaning per kind
    position_m: Vec3
    yaw_rad: float
    support: int | None = None  # index of the object it rests on; None: the table

    @property
    def name(self) -> str:
        return f"obj{self.index}_{self.kind.value}"

    @property
    def half_height_m(self) -> float:
        return self.dims_m[2]

    @property
    def footprint_radius_m(self) -> float:
        """Radius of a vertical cylinder about the centre that holds the whole object."""
        if self.kind is ObjectKind.BOX:
            return math.hypot(self.dims_m[0], self.dims_m[1])
        if self.kind is ObjectKind.CUP:
            return self.dims_m[0] * (1.0 + 2.0 * CUP_HANDLE_FRACTION[0])
        return self.dims_m[0]

    @property
    def bottom_z_m(self) -> float:
        return self.position_m[2] - self.half_height_m

    @property
    def top_z_m(self) -> float:
        return self.position_m[2] + self.half_height_m

    @property
    def pose(self) -> Transform:
        """``T_base_from_object``: the centre, rotated by ``yaw_rad`` about z."""
        half = self.yaw_rad / 2.0
        return Transform(self.position_m, (0.0, 0.0, math.sin(half), math.cos(half)))

    def describe(self) -> str:
        return f"{self.size_name} {self.colour_name} {self.kind.value}"


@dataclass(frozen=True)
class TableSpec:
    """A table whose top is z = 0; objects stand inside the placement region."""

    x_range_m: tuple[float, float] = (-0.20, 1.00)
    y_range_m: tuple[float, float] = (-0.65, 0.65)
    thickness_m: float = 0.04
    height_m: float = 0.75  # floor at z = -height_m
    colour_name: str = "light wood"
    rgba: RGBA = TABLE_COLOURS["light wood"]
    place_x_range_m: tuple[float, float] = (0.30, 0.80)
    place_y_range_m: tuple[float, float] = (-0.40, 0.40)

    def contains_xy(self, x: float, y: float, margin_m: float = 0.0) -> bool:
        """Whether (x, y) is on the table top, at least ``margin_m`` from its edges."""
        (x0, x1), (y0, y1) = self.x_range_m, self.y_range_m
        return x0 + margin_m <= x <= x1 - margin_m and y0 + margin_m <= y <= y1 - margin_m


@dataclass(frozen=True)
class LightSpec:
    """A directional light without shadows (shadows cost render time)."""

    direction: Vec3
    diffuse: float


@dataclass(frozen=True)
class SceneSpec:
    """Everything that decides a scene; equal specs render equal images."""

    seed: int
    table: TableSpec
    objects: tuple[ObjectSpec, ...]
    lights: tuple[LightSpec, ...]
    ambient: float
    camera: CameraRig
    floor_rgba: RGBA = (0.30, 0.30, 0.32, 1.0)

    def object(self, index: int) -> ObjectSpec:
        if not 0 <= index < len(self.objects):
            raise SimError(f"no object {index}; the scene has {len(self.objects)}")
        return self.objects[index]


def sample_scene_spec(
    seed: int,
    *,
    n_objects: int | None = None,
    width: int = 640,
    height: int = 480,
    camera_motion: CameraMotion | None = None,
    table: TableSpec | None = None,
    camera: CameraRig | None = None,
    draw: int = 0,
) -> SceneSpec:
    """A random but reproducible scene: layout, colours, sizes, lights and camera from ``seed``.

    Kinds are drawn with replacement so several objects share a kind (ordinals and relations are
    then needed to tell them apart); some apples are put on plates so "on" has referents.
    ``table``: the table's geometry and placement region (its colour is still drawn from the
    seed); ``camera``: a fixed camera (e.g. a robot's head camera) instead of the sampled tripod.
    ``draw``: 0 is the seed's scene; k > 0 another, independent scene of the same seed (what a
    task generator redraws when the first one offers no task).
    """
    if n_objects is not None and not 3 <= n_objects <= 12:
        raise SimError(f"n_objects must be in [3, 12], got {n_objects}")
    if draw < 0:
        raise SimError(f"draw must be >= 0, got {draw}")
    rng = np.random.default_rng(seed if draw == 0 else [seed, draw])
    count = n_objects if n_objects is not None else int(rng.integers(6, 10))
    table_colour = str(rng.choice(sorted(TABLE_COLOURS)))
    table = dataclasses.replace(
        table or TableSpec(), colour_name=table_colour, rgba=TABLE_COLOURS[table_colour]
    )
    kinds = [ObjectKind(str(k)) for k in rng.choice([k.value for k in ObjectKind], size=count)]
    objects = _place_objects(kinds, table, rng)
    lights = tuple(
        LightSpec(
            direction=_unit(
                (
                    float(rng.uniform(-0.6, 0.6)),
                    float(rng.uniform(-0.6, 0.6)),
                    -1.0,
                )
            ),
            diffuse=float(rng.uniform(0.35, 0.6)),
        )
        for _ in range(2)
    )
    if camera is None:
        camera = _sample_camera(rng, width, height, camera_motion or CameraMotion())
    return SceneSpec(
        seed=seed,
        table=table,
        objects=objects,
        lights=lights,
        ambient=float(rng.uniform(0.25, 0.4)),
        camera=camera,
    )


def _place_objects(
    kinds: list[ObjectKind], table: TableSpec, rng: np.random.Generator
) -> tuple[ObjectSpec, ...]:
    """Rejection-sample non-overlapping footprints; an object that does not fit is dropped."""
    # Larger footprints first so they find room; plates first of all so apples can go on them.
    order = sorted(
        kinds, key=lambda k: -_NOMINAL_DIMS[k][0] - (1.0 if k is ObjectKind.PLATE else 0)
    )
    placed: list[ObjectSpec] = []
    for kind in order:
        index = len(placed)
        size_name = str(rng.choice(sorted(SIZE_SCALE)))
        colour_name = str(rng.choice(sorted(PALETTE)))
        scale = SIZE_SCALE[size_name]
        dims = tuple(d * scale for d in _NOMINAL_DIMS[kind])
        dims_m: Vec3 = (dims[0], dims[1], dims[2])
        yaw = float(rng.uniform(-math.pi, math.pi))
        base = ObjectSpec(
            index, kind, colour_name, size_name, PALETTE[colour_name], dims_m, (0.0, 0.0, 0.0), yaw
        )
        spot = None
        if kind is ObjectKind.APPLE and rng.uniform() < 0.5:
            spot = _on_a_free_plate(base, placed)
        if spot is None:
            spot = _free_table_spot(base, placed, table, rng)
        if spot is not None:
            placed.append(spot)
    return tuple(placed)


def _on_a_free_plate(obj: ObjectSpec, placed: list[ObjectSpec]) -> ObjectSpec | None:
    carried = {o.support for o in placed if o.support is not None}
    for plate in placed:
        free = plate.kind is ObjectKind.PLATE and plate.index not in carried
        if free and obj.footprint_radius_m < 0.8 * plate.dims_m[0]:
            x, y, _ = plate.position_m
            return _moved(obj, (x, y, plate.top_z_m + obj.half_height_m), plate.index)
    return None


def _free_table_spot(
    obj: ObjectSpec, placed: list[ObjectSpec], table: TableSpec, rng: np.random.Generator
) -> ObjectSpec | None:
    r = obj.footprint_radius_m
    (x0, x1), (y0, y1) = table.place_x_range_m, table.place_y_range_m
    for _ in range(300):
        x = float(rng.uniform(x0 + r, x1 - r))
        y = float(rng.uniform(y0 + r, y1 - r))
        if all(
            math.hypot(x - o.position_m[0], y - o.position_m[1])
            >= r + o.footprint_radius_m + _GAP_M
            for o in placed
            if o.support is None
        ):
            return _moved(obj, (x, y, obj.half_height_m), None)
    return None


def _moved(obj: ObjectSpec, position_m: Vec3, support: int | None) -> ObjectSpec:
    return ObjectSpec(
        obj.index,
        obj.kind,
        obj.colour_name,
        obj.size_name,
        obj.rgba,
        obj.dims_m,
        position_m,
        obj.yaw_rad,
        support,
    )


def _sample_camera(
    rng: np.random.Generator, width: int, height: int, motion: CameraMotion
) -> CameraRig:
    """A tripod across the table from the robot, looking at the placement region."""
    target = (float(rng.uniform(0.50, 0.60)), float(rng.uniform(-0.05, 0.05)), 0.0)
    azimuth = float(rng.uniform(-0.6, 0.6))  # about the target, 0 = straight across the table
    elevation = float(rng.uniform(math.radians(38), math.radians(55)))
    distance = float(rng.uniform(0.95, 1.20))
    horizontal = distance * math.cos(elevation)
    eye = (
        target[0] + horizontal * math.cos(azimuth),
        target[1] + horizontal * math.sin(azimuth),
        target[2] + distance * math.sin(elevation),
    )
    return CameraRig(
        eye_m=eye,
        target_m=target,
        fovy_deg=float(rng.uniform(42.0, 50.0)),
        width=width,
        height=height,
        motion=motion,
    )


def _unit(v: Vec3) -> Vec3:
    n = math.sqrt(sum(c * c for c in v))
    return (v[0] / n, v[1] / n, v[2] / n)
