"""What the camera saw around the target, as a planner can check an arm against it (ROS-free).

MoveIt turns a depth stream into an octomap; a tabletop seen from a head camera is served as well
by a **height map**: a grid of cells over the plan frame's x-y plane, each holding the highest
point the depth frame shows there. Everything under a seen top is taken as solid (an object is
not hollow underneath), a cell nothing was seen in is free (as in an octomap's default), and the
support (the table) is found as the most common height and dropped, so what is left are the
objects standing on it.

A body is checked as spheres (``penetration``): a sphere collides with a cell whose top rises
above the sphere's lower surface over that cell; the depth of that intrusion is the measure.
``without_object_at`` removes the object a grasp closes on (the connected cells under the grasp
point): carried in the hand, it is no obstacle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from roborefer_ros.core.camera import CameraModel
from roborefer_ros.core.transforms import Transform

FloatArray = npt.NDArray[np.float64]
EMPTY = -np.inf  # a cell with nothing above the support


@dataclass(frozen=True)
class HeightMapConfig:
    """Grid and filters; lengths in metres, ranges in the plan frame."""

    cell_m: float = 0.01
    x_range_m: tuple[float, float] = (0.0, 0.9)
    y_range_m: tuple[float, float] = (-0.6, 0.6)
    z_range_m: tuple[float, float] = (-1.0, 0.6)
    # points this close above the support are the support (depth noise, a cloth, a plate's rim)
    above_support_m: float = 0.012
    support_bin_m: float = 0.005  # histogram bin of the support's height
    pixel_stride: int = 2  # use every n-th pixel in each direction
    max_depth_m: float = 3.0

    def __post_init__(self) -> None:
        for name in ("cell_m", "above_support_m", "support_bin_m", "max_depth_m"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be finite and > 0, got {value!r}")
        for name in ("x_range_m", "y_range_m", "z_range_m"):
            lo, hi = getattr(self, name)
            if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
                raise ValueError(f"{name} must be (low, high) with low < high, got {(lo, hi)}")
        if self.pixel_stride < 1:
            raise ValueError(f"pixel_stride must be >= 1, got {self.pixel_stride}")


@dataclass(frozen=True, eq=False)
class HeightMap:
    """``top[i, j]``: the highest point seen over cell (x0 + i * cell, y0 + j * cell), plan frame
    (``EMPTY``: nothing above the support); ``support_z``: the support's height."""

    origin_xy: tuple[float, float]
    cell_m: float
    top: FloatArray
    support_z: float
    frame: str = ""

    @property
    def occupied_cells(self) -> int:
        return int(np.count_nonzero(self.top > EMPTY))

    def cell_of(self, x: float, y: float) -> tuple[int, int]:
        return (
            math.floor((x - self.origin_xy[0]) / self.cell_m),
            math.floor((y - self.origin_xy[1]) / self.cell_m),
        )

    def without_object_at(self, xy: tuple[float, float], search_m: float = 0.02) -> HeightMap:
        """This map without the object standing under ``xy``: the occupied cells connected
        (8-neighbours) to the occupied cell nearest to it within ``search_m``. Unchanged when
        nothing is there."""
        occupied = self.top > EMPTY
        i0, j0 = self.cell_of(*xy)
        reach = math.ceil(search_m / self.cell_m)
        nearest: tuple[float, int, int] | None = None
        for i in range(max(i0 - reach, 0), min(i0 + reach + 1, occupied.shape[0])):
            for j in range(max(j0 - reach, 0), min(j0 + reach + 1, occupied.shape[1])):
                if occupied[i, j]:
                    distance = math.hypot(i - i0, j - j0)
                    if nearest is None or distance < nearest[0]:
                        nearest = (distance, i, j)
        if nearest is None:
            return self
        top = self.top.copy()
        stack = [(nearest[1], nearest[2])]
        top[nearest[1], nearest[2]] = EMPTY
        while stack:  # flood fill: every occupied cell reached through occupied neighbours
            i, j = stack.pop()
            for di in (-1, 0, 1):
                for dj in (-1, 0, 1):
                    a, b = i + di, j + dj
                    if 0 <= a < top.shape[0] and 0 <= b < top.shape[1] and top[a, b] > EMPTY:
                        top[a, b] = EMPTY
                        stack.append((a, b))
        return replace(self, top=top)

    def penetration(self, centres: npt.ArrayLike, radii: npt.ArrayLike) -> FloatArray:
        """For each sphere, how deep (m) the highest intruding top reaches into it: ``top -
        (z - sqrt(r**2 - d**2))`` over the cells within ``r`` horizontally (d: the horizontal
        distance to the cell's centre); 0 when nothing intrudes."""
        c = np.asarray(centres, dtype=np.float64).reshape(-1, 3)
        r = np.asarray(radii, dtype=np.float64).reshape(-1)
        if c.shape[0] == 0:
            return np.zeros(0)
        reach = math.ceil(float(np.max(r)) / self.cell_m) + 1
        offsets = np.arange(-reach, reach + 1)
        grid_i, grid_j = np.meshgrid(offsets, offsets, indexing="ij")
        di, dj = grid_i.ravel(), grid_j.ravel()
        fi = (c[:, 0] - self.origin_xy[0]) / self.cell_m
        fj = (c[:, 1] - self.origin_xy[1]) / self.cell_m
        ci = np.floor(fi).astype(np.int64)[:, None] + di[None, :]
        cj = np.floor(fj).astype(np.int64)[:, None] + dj[None, :]
        inside = (ci >= 0) & (ci < self.top.shape[0]) & (cj >= 0) & (cj < self.top.shape[1])
        tops = np.full(ci.shape, EMPTY)
        tops[inside] = self.top[ci[inside], cj[inside]]
        dx = (ci + 0.5) * self.cell_m + self.origin_xy[0] - c[:, 0:1]
        dy = (cj + 0.5) * self.cell_m + self.origin_xy[1] - c[:, 1:2]
        d2 = dx * dx + dy * dy
        within = d2 < (r * r)[:, None]
        lower = c[:, 2:3] - np.sqrt(np.where(within, (r * r)[:, None] - d2, 0.0))
        depth = np.where(within & (tops > EMPTY), tops - lower, 0.0)
        out: FloatArray = np.maximum(depth.max(axis=1), 0.0)
        return out


def support_height(z: FloatArray, bin_m: float) -> float:
    """The most common height (the centre of the fullest ``bin_m`` bin): a table fills most of
    a tabletop view."""
    if z.size == 0:
        raise ValueError("no points to find a support in")
    lo = float(np.min(z))
    bins = np.floor((z - lo) / bin_m).astype(np.int64)
    counts = np.bincount(bins)
    fullest = int(np.argmax(counts))
    in_bin = z[bins == fullest]
    return float(np.median(in_bin))


@dataclass(frozen=True, eq=False)
class DepthView:
    """One depth frame (metres along the optical axis; 0 / NaN / inf: no return) and where it
    was seen from: ``T_plan_from_optical`` at the frame's stamp."""

    depth_m: npt.NDArray[np.floating]
    camera: CameraModel
    T_plan_from_optical: Transform
    frame: str = ""


def height_map_from_depth(
    view: DepthView,
    config: HeightMapConfig | None = None,
    exclude: tuple[FloatArray, FloatArray] | None = None,
) -> HeightMap:
    """The height map of one depth frame. ``exclude``: spheres (centres (N, 3), radii (N,)) in
    the plan frame whose points are dropped first: the robot's own arms, which a head camera
    sees (MoveIt's self filter). ValueError when no valid point lies in the grid's box."""
    cfg = config or HeightMapConfig()
    camera = view.camera
    depth = np.asarray(view.depth_m, dtype=np.float64)
    if depth.shape != (camera.height, camera.width):
        raise ValueError(
            f"depth is {depth.shape[1]}x{depth.shape[0]}, camera_info says "
            f"{camera.width}x{camera.height}"
        )
    s = cfg.pixel_stride
    rows, cols = np.mgrid[0 : camera.height : s, 0 : camera.width : s]
    z = depth[::s, ::s]
    valid = np.isfinite(z) & (z > 0) & (z <= cfg.max_depth_m)
    z, u, v = z[valid], cols[valid].astype(np.float64), rows[valid].astype(np.float64)
    optical = np.stack([(u - camera.cx) / camera.fx * z, (v - camera.cy) / camera.fy * z, z], 1)
    points = view.T_plan_from_optical.apply(optical).reshape(-1, 3)
    (x0, x1), (y0, y1), (z0, z1) = cfg.x_range_m, cfg.y_range_m, cfg.z_range_m
    box = (
        (points[:, 0] >= x0)
        & (points[:, 0] < x1)
        & (points[:, 1] >= y0)
        & (points[:, 1] < y1)
        & (points[:, 2] >= z0)
        & (points[:, 2] < z1)
    )
    points = points[box]
    if exclude is not None:
        centres, radii = exclude
        for centre, radius in zip(np.asarray(centres), np.asarray(radii), strict=True):
            d2 = np.sum((points - centre) ** 2, axis=1)
            points = points[d2 > radius * radius]
    if points.shape[0] == 0:
        raise ValueError("no valid depth point inside the height map's box")
    support = support_height(points[:, 2], cfg.support_bin_m)
    above = points[points[:, 2] > support + cfg.above_support_m]
    nx = math.ceil((x1 - x0) / cfg.cell_m)
    ny = math.ceil((y1 - y0) / cfg.cell_m)
    top = np.full((nx, ny), EMPTY)
    i = np.clip(np.floor((above[:, 0] - x0) / cfg.cell_m).astype(np.int64), 0, nx - 1)
    j = np.clip(np.floor((above[:, 1] - y0) / cfg.cell_m).astype(np.int64), 0, ny - 1)
    np.maximum.at(top, (i, j), above[:, 2])
    return HeightMap((x0, y0), cfg.cell_m, top, support, view.frame)
