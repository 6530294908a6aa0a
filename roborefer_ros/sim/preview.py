"""Write one scene's images and generated prompts so a person can look at them.

``write_preview`` (run by ``python -m roborefer_ros.tools.sim_preview``) writes ``rgb.png``,
``depth.png`` (near = bright), ``labels.png`` (one colour per object; table grey, robot dark),
``queries.png`` (each answer pixel numbered in order), ``referring.json`` (the dataset schema)
and ``queries.json`` (with steps, mode and target object).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from roborefer_ros.core.annotate import draw_points
from roborefer_ros.core.referring import dump_referring
from roborefer_ros.sim.referring import GeneratedQuery, referring_set
from roborefer_ros.sim.render import SEG_ROBOT, SEG_TABLE, RenderedFrame
from roborefer_ros.sim.spec import SceneSpec


def write_preview(
    out: Path, spec: SceneSpec, frame: RenderedFrame, queries: Sequence[GeneratedQuery]
) -> None:
    from PIL import Image

    out.mkdir(parents=True, exist_ok=True)
    Image.fromarray(frame.rgb).save(out / "rgb.png")
    Image.fromarray(depth_image(frame.depth_m)).save(out / "depth.png")
    Image.fromarray(label_image(frame.labels)).save(out / "labels.png")
    marked = draw_points(frame.rgb, [q.pixel for q in queries])  # "#i": queries.json index
    Image.fromarray(marked).save(out / "queries.png")
    dump_referring(referring_set(queries), out / "referring.json")
    rows = [
        {
            "index": i,
            "prompt": q.prompt,
            "mode": q.mode.name.lower(),
            "steps": q.steps,
            "target": None if q.target_index is None else spec.objects[q.target_index].describe(),
            "pixel": list(q.pixel),
            "point": list(q.point_base),
            "tolerance_m": q.tolerance_m,
        }
        for i, q in enumerate(queries)
    ]
    (out / "queries.json").write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")


def depth_image(depth_m: npt.NDArray[np.float32]) -> npt.NDArray[np.uint8]:
    """HxW uint8, histogram-equalised so small depth steps on the table show: near bright, far
    dark, no return black."""
    valid = np.isfinite(depth_m)
    if not valid.any():
        return np.zeros(depth_m.shape, dtype=np.uint8)
    ordered = np.sort(depth_m[valid])
    rank = np.searchsorted(ordered, np.where(valid, depth_m, ordered[-1])) / len(ordered)
    return np.where(valid, (1.0 - rank) * 230 + 25, 0).astype(np.uint8)


def label_image(labels: npt.NDArray[np.int32]) -> npt.NDArray[np.uint8]:
    """HxWx3 uint8: a fixed colour per object index, grey table, dark robot, black rest."""
    colours = np.random.default_rng(12345).integers(60, 256, size=(int(labels.max()) + 2, 3))
    out = np.zeros((*labels.shape, 3), dtype=np.uint8)
    objects = labels >= 0
    out[objects] = colours[labels[objects]]
    out[labels == SEG_TABLE] = (110, 110, 110)
    out[labels == SEG_ROBOT] = (40, 40, 90)
    return out
