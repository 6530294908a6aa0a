"""``python -m roborefer_ros.tools.bench_extent [--seeds 0-49] [--bags data/bags] [--json]``:
the perceived object extent (``core.object_extent``) against the simulator's truth.

For every episode seed and robot (the UR5e's static camera, the G1's head camera) the episode's
pick object is estimated in its first frame from the LOCATE answer, on clean depth and on
D435-like noisy depth (``sim.noise.apply_depth_noise``, seeded by the seed); for every LOCATE
query of the bundled bags, at its frame. Truth: the object's dimensions (a cup's handle
included), its yaw (the length's axis; modulo pi for a box, pi/2 for a square one, none for a
sphere, or for a cup whose handle was not seen: its footprint is then a disc) and its height.
Reported per set: estimates accepted above the confidence floor (pick_place's
``min_object_confidence``) and rejected below it; median and 95th percentile of the footprint
error (the worse of length and width), the height error, the yaw error and the centre error.
A cup's handle that faces away from the camera cannot be seen: such cups are counted and the
footprint figures are given with and without them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from roborefer_ros.core.camera import CameraModel
from roborefer_ros.core.depth import encode_depth
from roborefer_ros.core.object_extent import FramedExtent, Shape, estimate_extent
from roborefer_ros.core.transforms import Transform
from roborefer_ros.manipulation.safety import SafetyConfig
from roborefer_ros.sim import CUP_HANDLE_FRACTION, ObjectKind, ObjectSpec
from roborefer_ros.tools.cli import parse_seeds


@dataclass(frozen=True)
class Row:
    """One estimate against its truth (metres, degrees)."""

    label: str
    kind: str
    confidence: float
    footprint_error_m: float
    height_error_m: float
    centre_error_m: float
    yaw_error_deg: float | None
    handle_hidden: bool


def _truth_footprint(obj: ObjectSpec) -> tuple[float, float, float, float, tuple[float, float]]:
    """(length, width, height, yaw of the length, footprint centre xy) of a sim object."""
    from roborefer_ros.sim.episodes.episode import object_extents_m

    lx, ly, lz = object_extents_m(obj, 0.0)
    yaw = float(obj.yaw_rad)
    x, y, _ = obj.position_m
    if obj.kind is ObjectKind.CUP:
        shift = obj.dims_m[0] * CUP_HANDLE_FRACTION[0]
        x, y = x + shift * math.cos(yaw), y + shift * math.sin(yaw)
    if lx < ly:
        lx, ly, yaw = ly, lx, yaw + math.pi / 2
    return lx, ly, lz, yaw, (x, y)


def _handle_visible(
    obj: ObjectSpec, depth_m: np.ndarray, camera: CameraModel, T_base_from_optical: Transform
) -> bool:
    """Whether the top of a cup's handle is the surface the camera sees at its pixel."""
    r, _, hz = obj.dims_m
    x, y, z = obj.position_m
    yaw = obj.yaw_rad
    reach = r + CUP_HANDLE_FRACTION[0] * r
    top = np.array(
        [x + reach * math.cos(yaw), y + reach * math.sin(yaw), z + CUP_HANDLE_FRACTION[2] * hz]
    )
    p = np.asarray(T_base_from_optical.inverse().apply(top), dtype=np.float64)
    u, v = camera.project(p)
    iu, iv = round(u), round(v)
    h, w = depth_m.shape
    if not (0 <= iu < w and 0 <= iv < h):
        return False
    seen = float(depth_m[iv, iu])
    return math.isfinite(seen) and abs(seen - float(p[2])) < 0.006


def _row(
    label: str, obj: ObjectSpec, framed: FramedExtent, confidence: float, handle_hidden: bool
) -> Row:
    length, width, height, yaw, centre = _truth_footprint(obj)
    size = framed.size_m
    yaw_error = None
    if obj.kind is not ObjectKind.APPLE and framed.shape is not Shape.ROUND:
        period = math.pi / 2 if abs(length - width) < 0.005 else math.pi
        e = (framed.yaw_rad - yaw) % period
        yaw_error = math.degrees(min(e, period - e))
    if obj.kind is ObjectKind.APPLE:
        centre = (obj.position_m[0], obj.position_m[1])
    bx, by, _ = framed.base_centre
    return Row(
        label=label,
        kind=obj.kind.value,
        confidence=confidence,
        footprint_error_m=max(abs(size[0] - length), abs(size[1] - width)),
        height_error_m=abs(size[2] - height),
        centre_error_m=math.hypot(bx - centre[0], by - centre[1]),
        yaw_error_deg=yaw_error,
        handle_hidden=handle_hidden,
    )


def sim_rows(robot: str, seeds: tuple[int, ...], noisy: bool) -> list[Row]:
    from roborefer_ros.sim import apply_depth_noise
    from roborefer_ros.sim.episodes.episode import build_episode_scene, draw_task

    rows = []
    for seed in seeds:
        with build_episode_scene(seed, robot) as built:
            frame = built.first_frame
            task = draw_task(built.scene, built.queries)
            assert task.pick.target_index is not None
            obj = built.scene.spec.objects[task.pick.target_index]
        depth_m = frame.depth_m
        if noisy:
            depth_m = apply_depth_noise(depth_m, np.random.default_rng(seed))
        point = np.asarray(
            frame.T_base_from_optical.inverse().apply(np.asarray(task.pick.point_base)),
            dtype=np.float64,
        )
        extent = estimate_extent(
            frame.camera, encode_depth(depth_m, "16UC1"), "16UC1", task.pick.pixel, point
        )
        hidden = obj.kind is ObjectKind.CUP and not _handle_visible(
            obj, frame.depth_m, frame.camera, frame.T_base_from_optical
        )
        framed = extent.in_frame(frame.T_base_from_optical)
        rows.append(_row(f"{robot} seed {seed}", obj, framed, extent.confidence, hidden))
    return rows


def bag_rows(bag_dir: Path) -> list[Row]:
    from roborefer_ros.bags.make_bundled import SEED
    from roborefer_ros.bags.reader import BagReader, read_frames, read_transforms
    from roborefer_ros.core.depth import depth_traits
    from roborefer_ros.core.lifting import lift_pixel
    from roborefer_ros.core.referring import load_referring
    from roborefer_ros.core.request import Mode
    from roborefer_ros.sim.spec import sample_scene_spec

    objects = sample_scene_spec(SEED).objects
    rows = []
    with BagReader(str(bag_dir)) as bag:
        referring = load_referring(bag.referring_path())
        queries = [q for q in referring.queries if q.mode is Mode.LOCATE]
        frames = read_frames(bag, bag.camera_topics(), {q.stamp_ns for q in queries})
        tf = read_transforms(bag)
        for query in queries:
            frame = frames.get(query.stamp_ns)
            if frame is None:
                continue
            T = tf.lookup_transform(referring.target_frame, frame.frame_id, frame.stamp_ns)
            u, v = query.pixel
            lifted = lift_pixel(frame.camera, frame.depth, frame.depth_encoding, u, v, Mode.LOCATE)
            extent = estimate_extent(
                frame.camera, frame.depth, frame.depth_encoding, (u, v), lifted.point_camera
            )
            obj = min(objects, key=lambda o: _distance_to(o, query.point))
            depth_m = depth_traits(frame.depth_encoding).to_metres(frame.depth)
            hidden = obj.kind is ObjectKind.CUP and not _handle_visible(
                obj, depth_m, frame.camera, T
            )
            rows.append(
                _row(
                    f"{bag_dir.name} {query.prompt[:40]}",
                    obj,
                    extent.in_frame(T),
                    extent.confidence,
                    hidden,
                )
            )
    return rows


def _distance_to(obj: ObjectSpec, point: tuple[float, float, float]) -> float:
    """Distance of a point from the object's box (its own axes; a cup's handle ignored): the
    truth point of a LOCATE query lies on its object's surface."""
    from roborefer_ros.sim.episodes.episode import object_extents_m

    lx, ly, lz = object_extents_m(obj, 0.0)
    if obj.kind is ObjectKind.CUP:
        lx = ly
    c, s = math.cos(obj.yaw_rad), math.sin(obj.yaw_rad)
    dx, dy, dz = (point[i] - obj.position_m[i] for i in range(3))
    local = (c * dx + s * dy, -s * dx + c * dy, dz)
    outside = [max(abs(v) - h / 2, 0.0) for v, h in zip(local, (lx, ly, lz), strict=True)]
    return math.hypot(*outside)


def summarise(rows: list[Row], floor: float) -> dict[str, object]:
    accepted = [r for r in rows if r.confidence >= floor]

    def stats(values: list[float], scale: float) -> dict[str, float] | None:
        if not values:
            return None
        return {
            "median": float(np.median(values)) * scale,
            "p95": float(np.percentile(values, 95)) * scale,
        }

    visible = [r for r in accepted if not r.handle_hidden]
    return {
        "n": len(rows),
        "accepted": len(accepted),
        "rejected": len(rows) - len(accepted),
        "handle_hidden": sum(r.handle_hidden for r in accepted),
        "footprint_mm": stats([r.footprint_error_m for r in accepted], 1e3),
        "footprint_visible_mm": stats([r.footprint_error_m for r in visible], 1e3),
        "height_mm": stats([r.height_error_m for r in accepted], 1e3),
        "centre_mm": stats([r.centre_error_m for r in visible], 1e3),
        "yaw_deg": stats([r.yaw_error_deg for r in accepted if r.yaw_error_deg is not None], 1.0),
        "yaw_n": sum(r.yaw_error_deg is not None for r in accepted),
    }


def _fmt(stats: object) -> str:
    if not isinstance(stats, dict):
        return "-"
    return f"{stats['median']:.1f} / {stats['p95']:.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m roborefer_ros.tools.bench_extent", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--seeds", type=parse_seeds, default="0-49")
    parser.add_argument("--robots", default="ur5e,g1", help="comma-separated: ur5e, g1")
    parser.add_argument("--bags", type=Path, default=None, help="e.g. data/bags (bundled bags)")
    parser.add_argument("--json", action="store_true", help="last line: one JSON object")
    args = parser.parse_args(argv)
    os.environ.setdefault("MUJOCO_GL", "egl")
    floor = SafetyConfig().min_object_confidence
    sets: dict[str, list[Row]] = {}
    for robot in [r.strip() for r in args.robots.split(",") if r.strip()]:
        for noisy in (False, True):
            sets[f"{robot} {'noisy' if noisy else 'clean'}"] = sim_rows(robot, args.seeds, noisy)
    if args.bags is not None:
        for bag in sorted(p for p in args.bags.iterdir() if (p / "metadata.yaml").is_file()):
            sets[f"bag {bag.name}"] = bag_rows(bag)
    report = {name: summarise(rows, floor) for name, rows in sets.items()}
    print(
        "| set | accepted / n | footprint mm (med / p95) | without hidden handles | "
        "height mm | yaw deg (n) | centre mm |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, s in report.items():
        print(
            f"| {name} | {s['accepted']} / {s['n']} | {_fmt(s['footprint_mm'])} | "
            f"{_fmt(s['footprint_visible_mm'])} ({s['handle_hidden']} hidden) | "
            f"{_fmt(s['height_mm'])} | {_fmt(s['yaw_deg'])} ({s['yaw_n']}) | "
            f"{_fmt(s['centre_mm'])} |"
        )
    if args.json:
        print(json.dumps({"seeds": list(args.seeds), "floor": floor, "sets": report}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
