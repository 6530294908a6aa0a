"""Training and validation samples of the embedded pointing network, rendered from the simulated
tabletops with their exact truth.

Each scene seed gives one to three frames (``frames_of_seed``): the UR5e cell's tripod camera
sweeping about the table, free viewpoints all around an empty table, or the G1's head camera; the
seed decides which, and the layout, colours, sizes, lights and camera poses. Every frame becomes a
``FrameSample`` (``frame_sample``): the model image (the 640x480 render shrunk by the network's
own ``model_image``) and the targets of each of the network's heads on its output grid, the
objects with their attributes and geometry, the truth of every spatial relation between them (the
generator's own definitions, ``sim.relations``), and generated LOCATE and PLACE instructions with
their answers. Nothing here uses torch; ``write_shard`` / ``read_shard`` store samples as ``.npz``
files (plus the instructions as JSON) under a cache folder.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import numpy as np
import numpy.typing as npt

from roborefer_ros.backends.embedded.image import STRIDE, model_image, model_size
from roborefer_ros.backends.embedded.language import COLOURS, KINDS, SIZES, UNARY_RELATIONS
from roborefer_ros.backends.embedded.language import Relation as ModelRelation
from roborefer_ros.core.request import Mode
from roborefer_ros.core.transforms import Transform
from roborefer_ros.sim import (
    SEG_TABLE,
    CameraMotion,
    CameraRig,
    NoRobot,
    PlaceDescription,
    RenderedFrame,
    SceneSpec,
    SceneView,
    SimScene,
    Truth,
    build_scene,
    generate_referring,
    interior_pixel,
    sample_scene_spec,
)
from roborefer_ros.sim.relations import RANGE_MARGIN_M, between, binary
from roborefer_ros.sim.relations import Relation as SimRelation

TRAIN_SEEDS = range(10000, 20000)  # every seed the shipped weights were trained on comes from here
VALIDATION_SEEDS = range(20000, 20100)  # watched during training, never trained on
MAX_OBJECTS = 12
MAX_PLACES = 8  # placement instructions kept per frame
QUERIES_PER_FRAME = 14
PLACE_SHARE = 0.5
PAIR_RELATIONS = ("left_of", "right_of", "in_front_of", "behind", "on", "nearer")
NEARER_MARGIN_M = RANGE_MARGIN_M / 2  # "nearer" pairs closer than this are left out
CLS_OTHER, CLS_TABLE, CLS_OBJECT = 0, 1, 2
# Object table columns (``FrameSample.objects``); u, v are model-image fractions.
OBJECT_FIELDS = (
    "present",  # visible at all
    "referable",  # the generator may refer to it (enough pixels, an interior pixel)
    "kind",
    "colour",
    "size",
    "u",  # the interior pixel the generator answers with
    "v",
    "centroid_u",  # of the visible mask (left/right and ordinals use it)
    "range_m",  # camera centre to object centre
    "x_optical_m",
    "xv_m",  # object centre in the view frame (see view_frame)
    "yv_m",
    "bottom_m",  # height of its bottom above the table
    "radius_m",  # footprint radius
    "support",  # index of the object it rests on, -1: the table
    "visible_px",  # at the rendered resolution
)
FIELD = {name: i for i, name in enumerate(OBJECT_FIELDS)}
PLACE_RELATIONS = (*UNARY_RELATIONS, ModelRelation.BETWEEN)

FloatArray = npt.NDArray[np.float32]
Int8Array = npt.NDArray[np.int8]


class ViewKind(Enum):
    TRIPOD = "tripod"  # the UR5e cell; the camera sweeps about the table
    FREE = "free"  # an empty table seen from anywhere around it
    G1 = "g1"  # the G1's head camera


@dataclass(frozen=True)
class QueryItem:
    """A generated instruction of a frame. ``target``: LOCATE, the object's index; PLACE, the
    row of ``FrameSample.places`` holding it (-1: not kept)."""

    prompt: str
    mode: Mode
    target: int
    steps: int
    pixel: tuple[float, float]  # model-image pixel of the generator's answer


@dataclass(frozen=True)
class FrameSample:
    """One frame's model image and the targets of every head (grid: ``gh`` x ``gw`` cells).

    ``image``: hxwx3 uint8 model image. ``cls``: gh x gw int8 (CLS_*). ``obj``: gh x gw int8,
    the object index at the cell, -1 none. ``surface``: gh x gw x 2 float32, view-frame (x, y) of
    what the cell shows: the table point itself, or the centre of the object there (NaN
    elsewhere). ``clearance``: gh x gw float32, metres from a table cell's point to the nearest
    footprint (NaN off the table). ``objects``: MAX_OBJECTS x len(OBJECT_FIELDS) float32.
    ``relations``: len(PAIR_RELATIONS) x MAX_OBJECTS x MAX_OBJECTS int8, [r, i, j] = 1 when "i r
    j" is true with the generator's margin, 0 when false, -1 unsure or not applicable.
    ``between``: MAX_OBJECTS^3 int8, [i, j, k] for "i between j and k" (same coding).
    ``places``: MAX_PLACES x 5 float32 (relation index in PLACE_RELATIONS or -1, anchor, second
    anchor or -1, target u, v in model pixels); ``place_masks``: MAX_PLACES x gh x gw bool, the
    cells inside the answer's free disc. ``seed``/``view``: where it came from.
    """

    seed: int
    view: int
    image: npt.NDArray[np.uint8]
    cls: Int8Array
    obj: Int8Array
    surface: FloatArray
    clearance: FloatArray
    objects: FloatArray
    relations: Int8Array
    between: Int8Array
    places: FloatArray
    place_masks: npt.NDArray[np.bool_]
    queries: tuple[QueryItem, ...]


def view_kind(seed: int) -> ViewKind:
    """Which camera a training seed uses: half tripods, three in ten free views, two G1."""
    draw = float(np.random.default_rng([seed, 1]).random())
    if draw < 0.5:
        return ViewKind.TRIPOD
    return ViewKind.FREE if draw < 0.8 else ViewKind.G1


def frames_of_seed(
    seed: int, width: int = 640, height: int = 480
) -> Iterator[tuple[SceneSpec, RenderedFrame]]:
    """The frames a seed contributes (each scene closed after use)."""
    rng = np.random.default_rng([seed, 2])
    kind = view_kind(seed)
    if kind is ViewKind.TRIPOD:
        motion = CameraMotion(
            azimuth_amplitude_rad=float(rng.uniform(0.1, 0.6)),
            height_amplitude_m=float(rng.uniform(0.0, 0.12)),
            period_s=8.0,
        )
        with build_scene(seed, "ur5e", width=width, height=height, camera_motion=motion) as scene:
            for t_s in np.sort(rng.uniform(0.0, 8.0, size=3)):
                yield scene.spec, scene.render(float(t_s))
    elif kind is ViewKind.FREE:
        for _ in range(2):
            spec = sample_scene_spec(
                seed, width=width, height=height, camera=free_camera(rng, width, height)
            )
            with SimScene(spec, NoRobot()) as scene:
                yield spec, scene.render(0.0)
    else:
        with build_scene(seed, "g1", width=width, height=height) as scene:
            yield scene.spec, scene.render(0.0)


def free_camera(rng: np.random.Generator, width: int, height: int) -> CameraRig:
    """A camera anywhere around the table, looking at the placement region."""
    target = (float(rng.uniform(0.35, 0.7)), float(rng.uniform(-0.2, 0.2)), 0.0)
    azimuth = float(rng.uniform(-math.pi, math.pi))
    elevation = float(rng.uniform(math.radians(30), math.radians(72)))
    distance = float(rng.uniform(0.7, 1.4))
    flat = distance * math.cos(elevation)
    eye = (
        target[0] + flat * math.cos(azimuth),
        target[1] + flat * math.sin(azimuth),
        distance * math.sin(elevation),
    )
    return CameraRig(eye, target, float(rng.uniform(40.0, 62.0)), width, height)


def view_frame(
    T_base_from_optical: Transform,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(origin, right, forward) of the view frame: the table plane seen from the camera, origin
    below the camera, x along the image's right, y away from the camera (both horizontal)."""
    rotation = T_base_from_optical.rotation_matrix()
    right = np.array([rotation[0, 0], rotation[1, 0]])
    right /= np.linalg.norm(right)
    forward = np.array([-right[1], right[0]])
    origin = np.asarray(T_base_from_optical.translation[:2], dtype=np.float64)
    return origin, right, forward


def frame_sample(
    seed: int, view: int, spec: SceneSpec, frame: RenderedFrame, rng: np.random.Generator
) -> FrameSample:
    """Everything the network learns from one frame (see FrameSample)."""
    height, width = frame.rgb.shape[:2]
    image = model_image(frame.rgb)
    mw, mh = model_size(width, height)
    gw, gh = mw // STRIDE, mh // STRIDE
    scale = width / mw  # camera pixels per model pixel
    cols = np.minimum(((np.arange(gw) + 0.5) * STRIDE * scale).astype(int), width - 1)
    rows = np.minimum(((np.arange(gh) + 0.5) * STRIDE * scale).astype(int), height - 1)
    labels = frame.labels[np.ix_(rows, cols)]
    origin, right, forward = view_frame(frame.T_base_from_optical)

    def to_view(xy: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        rel = xy - origin
        return np.stack([rel @ right, rel @ forward], axis=-1)

    cls = np.full((gh, gw), CLS_OTHER, dtype=np.int8)
    cls[labels == SEG_TABLE] = CLS_TABLE
    cls[labels >= 0] = CLS_OBJECT
    obj = np.where(labels >= 0, labels, -1).astype(np.int8)
    surface = np.full((gh, gw, 2), np.nan, dtype=np.float32)
    clearance = np.full((gh, gw), np.nan, dtype=np.float32)
    table = cls == CLS_TABLE
    points = _cell_points_base(frame, rows, cols)[table]
    surface[table] = to_view(points[:, :2])
    clearance[table] = _clearance(spec, points[:, :2])
    for index, o in enumerate(spec.objects):
        surface[obj == index] = to_view(np.asarray(o.position_m[:2]))

    scene_view = SceneView.build(spec, frame)
    objects = np.zeros((MAX_OBJECTS, len(OBJECT_FIELDS)), dtype=np.float32)
    objects[:, FIELD["support"]] = -1
    for truth in scene_view.truths:
        i = truth.index
        if i >= MAX_OBJECTS:
            continue
        o = spec.objects[i]
        row = objects[i]
        row[FIELD["present"]] = float(truth.centroid_uv is not None)
        row[FIELD["referable"]] = float(i in scene_view.referable)
        row[FIELD["kind"]] = KINDS.index(o.kind.value)
        row[FIELD["colour"]] = COLOURS.index(o.colour_name)
        row[FIELD["size"]] = SIZES.index(o.size_name)
        row[FIELD["range_m"]] = truth.range_m
        row[FIELD["x_optical_m"]] = truth.centre_optical[0]
        xv, yv = to_view(np.asarray(o.position_m[:2]))
        row[FIELD["xv_m"]], row[FIELD["yv_m"]] = xv, yv
        row[FIELD["bottom_m"]] = o.bottom_z_m
        row[FIELD["radius_m"]] = o.footprint_radius_m
        row[FIELD["support"]] = -1 if o.support is None else o.support
        row[FIELD["visible_px"]] = truth.visible_px
        if truth.centroid_uv is not None:
            pixel = interior_pixel(truth.mask)
            if pixel is not None:
                row[FIELD["u"]] = pixel[0] / width
                row[FIELD["v"]] = pixel[1] / height
            row[FIELD["centroid_u"]] = truth.centroid_uv[0] / width
    relations, between_ = _relation_truths(spec, scene_view)
    places, place_masks, queries = _queries(spec, frame, rng, rows, cols, scale)
    return FrameSample(
        seed,
        view,
        image,
        cls,
        obj,
        surface,
        clearance,
        objects,
        relations,
        between_,
        places,
        place_masks,
        queries,
    )


def _cell_points_base(
    frame: RenderedFrame, rows: npt.NDArray[np.int_], cols: npt.NDArray[np.int_]
) -> npt.NDArray[np.float64]:
    """gh x gw x 3: the base_link point each cell's centre pixel sees (NaN: no depth)."""
    cam = frame.camera
    u, v = np.meshgrid(cols.astype(np.float64), rows.astype(np.float64))
    z = frame.depth_m[np.ix_(rows, cols)].astype(np.float64)
    optical = np.stack([(u - cam.cx) / cam.fx * z, (v - cam.cy) / cam.fy * z, z], axis=-1)
    base = frame.T_base_from_optical.apply(optical.reshape(-1, 3))
    return base.reshape(len(rows), len(cols), 3)


def _clearance(spec: SceneSpec, xy: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """N: ``sim.clearance_m`` of N table points, vectorised."""
    centres = np.array([o.position_m[:2] for o in spec.objects], dtype=np.float64)
    radii = np.array([o.footprint_radius_m for o in spec.objects], dtype=np.float64)
    gaps = np.linalg.norm(xy[:, None, :] - centres[None], axis=-1) - radii[None]
    nearest: npt.NDArray[np.float64] = gaps.min(axis=1)
    return nearest


def _relation_truths(spec: SceneSpec, view: SceneView) -> tuple[Int8Array, Int8Array]:
    coded = {Truth.TRUE: 1, Truth.FALSE: 0, Truth.UNSURE: -1}
    relations = np.full((len(PAIR_RELATIONS), MAX_OBJECTS, MAX_OBJECTS), -1, dtype=np.int8)
    betweens = np.full((MAX_OBJECTS,) * 3, -1, dtype=np.int8)
    seen = [i for i in sorted(view.places) if i < MAX_OBJECTS]
    unary = (SimRelation.LEFT_OF, SimRelation.RIGHT_OF, SimRelation.IN_FRONT_OF, SimRelation.BEHIND)
    for i in seen:
        for j in seen:
            if i == j:
                continue
            a, b = view.places[i], view.places[j]
            for r, relation in enumerate(unary):
                relations[r, i, j] = coded[binary(relation, a, b)]
            relations[4, i, j] = int(spec.objects[i].support == j)
            gap = b.range_m - a.range_m
            relations[5, i, j] = (
                1 if gap >= NEARER_MARGIN_M else 0 if gap <= -NEARER_MARGIN_M else -1
            )
            for k in seen:
                if k not in (i, j):
                    betweens[i, j, k] = coded[between(a, b, view.places[k])]
    return relations, betweens


def _queries(
    spec: SceneSpec,
    frame: RenderedFrame,
    rng: np.random.Generator,
    rows: npt.NDArray[np.int_],
    cols: npt.NDArray[np.int_],
    scale: float,
) -> tuple[FloatArray, npt.NDArray[np.bool_], tuple[QueryItem, ...]]:
    places = np.full((MAX_PLACES, 5), -1.0, dtype=np.float32)
    masks = np.zeros((MAX_PLACES, len(rows), len(cols)), dtype=bool)
    items: list[QueryItem] = []
    n_place = 0
    for query in generate_referring(spec, frame, QUERIES_PER_FRAME, rng, place_share=PLACE_SHARE):
        pixel = (query.pixel[0] / scale, query.pixel[1] / scale)
        if query.mode is Mode.LOCATE:
            assert query.target_index is not None
            items.append(
                QueryItem(query.prompt, Mode.LOCATE, query.target_index, query.steps, pixel)
            )
            continue
        desc = query.description
        assert isinstance(desc, PlaceDescription)
        kept = n_place if n_place < MAX_PLACES else -1
        items.append(QueryItem(query.prompt, Mode.PLACE, kept, query.steps, pixel))
        if kept < 0:
            continue
        relation = PLACE_RELATIONS.index(ModelRelation(desc.relation.value))
        anchors = [a.referent for a in desc.anchors] + [-1]
        places[n_place] = (relation, anchors[0], anchors[1], pixel[0], pixel[1])
        masks[n_place] = query.mask[np.ix_(rows, cols)]
        cell_row = min(int(pixel[1] // STRIDE), len(rows) - 1)
        cell_col = min(int(pixel[0] // STRIDE), len(cols) - 1)
        masks[n_place, cell_row, cell_col] = True
        n_place += 1
    return places, masks, tuple(items)


# ---- storage ----

_ARRAYS = (
    "image",
    "cls",
    "obj",
    "surface",
    "clearance",
    "objects",
    "relations",
    "between",
    "places",
    "place_masks",
)


def write_shard(path: Path, samples: Sequence[FrameSample]) -> None:
    """``path`` (.npz) holds the arrays stacked, ``path`` with .json the instructions."""
    if not samples:
        raise ValueError("no samples to write")
    arrays = {name: np.stack([getattr(s, name) for s in samples]) for name in _ARRAYS}
    arrays["seed"] = np.array([s.seed for s in samples], dtype=np.int64)
    arrays["view"] = np.array([s.view for s in samples], dtype=np.int64)
    tmp = path.with_suffix(".tmp.npz")
    savez: Callable[..., None] = np.savez_compressed
    savez(tmp, **arrays)
    queries = [
        {
            "sample": n,
            "prompt": q.prompt,
            "mode": q.mode.name,
            "target": q.target,
            "steps": q.steps,
            "pixel": q.pixel,
        }
        for n, s in enumerate(samples)
        for q in s.queries
    ]
    path.with_suffix(".json").write_text(json.dumps(queries))
    tmp.replace(path)


@dataclass(frozen=True)
class Shard:
    """Stacked arrays of a shard (``arrays[name][n]`` is sample n's) and its instructions."""

    arrays: dict[str, npt.NDArray[np.generic]]
    queries: tuple[tuple[int, QueryItem], ...]  # (sample index, instruction)


def read_shard(path: Path) -> Shard:
    with np.load(path) as data:
        arrays = {name: data[name] for name in data.files}
    items = json.loads(path.with_suffix(".json").read_text())
    queries = tuple(
        (
            int(q["sample"]),
            QueryItem(
                str(q["prompt"]),
                Mode[str(q["mode"])],
                int(q["target"]),
                int(q["steps"]),
                (float(q["pixel"][0]), float(q["pixel"][1])),
            ),
        )
        for q in items
    )
    return Shard(arrays, queries)


def seed_samples(seed: int) -> list[FrameSample]:
    """Every frame sample of one seed (deterministic: the seed decides everything)."""
    rng = np.random.default_rng([seed, 3])
    return [
        frame_sample(seed, view, spec, frame, rng)
        for view, (spec, frame) in enumerate(frames_of_seed(seed))
    ]


SEEDS_PER_SHARD = 25


def shard_path(folder: Path, first_seed: int) -> Path:
    return folder / f"seeds_{first_seed:05d}.npz"


def shard_starts(seeds: range) -> list[int]:
    """First seeds of the shards covering ``seeds`` (each shard: SEEDS_PER_SHARD seeds)."""
    if seeds.step != 1:
        raise ValueError(f"seeds must be a contiguous range, got {seeds}")
    return list(range(seeds.start, seeds.stop, SEEDS_PER_SHARD))


def make_shard(folder: Path, first_seed: int, stop: int) -> Path:
    """Render and write the shard of seeds ``first_seed`` .. min(first + SEEDS_PER_SHARD, stop)
    unless it exists (a cache: the seeds decide its content)."""
    path = shard_path(folder, first_seed)
    if not path.exists():
        samples = [
            sample
            for seed in range(first_seed, min(first_seed + SEEDS_PER_SHARD, stop))
            for sample in seed_samples(seed)
        ]
        write_shard(path, samples)
    return path
