"""Export simulated referring expressions as a RefSpatial-Bench-format dataset.

    python -m roborefer_ros.tools.export_sim --seeds 0-9 --per-scene 10 OUT_DIR

Each seed's MuJoCo tabletop scene is rendered once; its generated queries become records of
``Location`` (locate queries: the mask is the object's visible pixels) or ``Placement`` (place
queries: the mask is the visible free table disc), with the scene image, a 0/255 mask PNG per
record and ``question.json``, so any backend can be scored with ``roborefer-bench`` exactly as on
the published bench. ``suffix`` is RoboRefer's pointing suffix; ``step`` the number of clauses.
Records carry extra fields the bench loader ignores: ``seed``, ``pixel`` ([u, v] of the exact
answer), ``point_base`` (metres, base_link), ``tolerance_m`` and ``mode``.
The 2D score is what this gives; the 3D error comes from the bag evaluation.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from roborefer_ros.backends.prompt import ROBOREFER_POINTING_SUFFIX
from roborefer_ros.core.request import Mode
from roborefer_ros.eval.refspatial import BenchError

_SPLIT_OF_MODE = {Mode.LOCATE: "Location", Mode.PLACE: "Placement"}


@dataclass(frozen=True)
class ExportSummary:
    """How many records each split received, and the scenes exported."""

    counts: dict[str, int]
    seeds: tuple[int, ...]


def export_scenes(
    out_dir: str | Path,
    seeds: Sequence[int],
    per_scene: int,
    *,
    robot: str = "ur5e",
    place_share: float = 0.3,
    width: int = 640,
    height: int = 480,
) -> ExportSummary:
    """Write the dataset under ``out_dir`` (``Location/`` and ``Placement/``, created when they
    get a record); an existing ``question.json`` there is replaced."""
    from PIL import Image

    from roborefer_ros.sim import build_scene, generate_referring

    if per_scene < 1:
        raise BenchError(f"per_scene must be >= 1, got {per_scene}")
    out = Path(out_dir)
    images_written: set[tuple[str, int]] = set()
    records: dict[str, list[dict[str, object]]] = {split: [] for split in _SPLIT_OF_MODE.values()}
    for seed in seeds:
        with build_scene(seed, robot, width=width, height=height) as scene:
            frame = scene.render(0.0)
            queries = generate_referring(
                scene.spec, frame, per_scene, np.random.default_rng(seed), place_share=place_share
            )
        image_name = f"image/scene_{seed:04d}.png"
        for query in queries:
            split = _SPLIT_OF_MODE[query.mode]
            folder = out / split
            (folder / "image").mkdir(parents=True, exist_ok=True)
            (folder / "mask").mkdir(parents=True, exist_ok=True)
            if (split, seed) not in images_written:
                Image.fromarray(frame.rgb).save(folder / image_name)
                images_written.add((split, seed))
            record_id = len(records[split])
            mask_name = f"mask/{record_id}.png"
            Image.fromarray(np.where(query.mask, 255, 0).astype(np.uint8)).save(folder / mask_name)
            records[split].append(
                {
                    "id": record_id,
                    "object": query.prompt,
                    "prompt": query.prompt,
                    "suffix": ROBOREFER_POINTING_SUFFIX,
                    "rgb_path": image_name,
                    "mask_path": mask_name,
                    "category": split.lower(),
                    "step": query.steps,
                    "seed": seed,
                    "mode": query.mode.name.lower(),
                    "pixel": [float(query.pixel[0]), float(query.pixel[1])],
                    "point_base": [float(v) for v in query.point_base],
                    "tolerance_m": float(query.tolerance_m),
                }
            )
    for split, items in records.items():
        if items:
            path = out / split / "question.json"
            path.write_text(json.dumps(items, indent=1, ensure_ascii=False) + "\n")
    return ExportSummary({k: len(v) for k, v in records.items()}, tuple(seeds))
