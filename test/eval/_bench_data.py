"""A tiny RefSpatial-Bench copy with hand-checked answers, in both published layouts.

Images are W x H = 100 x 50 (not square, so an x/y mix-up changes scores); every mask is a box.
The answers are given as normalised points (pixel centres, so truncation is unambiguous, plus a
few points exactly on or beyond the border) and written in each model family's format.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

W, H = 100, 50


@dataclass(frozen=True)
class Case:
    split: str
    id: str
    step: int
    box: tuple[int, int, int, int]  # rows r0..r1-1, cols c0..c1-1 are in the mask
    prompt: str
    points: tuple[tuple[float, float], ...] | None  # None: an unparseable answer
    expected: float  # score by hand


def centre(u: int, v: int) -> tuple[float, float]:
    """The normalised centre of pixel (u, v)."""
    return ((u + 0.5) / W, (v + 0.5) / H)


CASES = (
    # 2 of 3 points in the box (the third is right of it)
    Case(
        "Location",
        "0",
        1,
        (10, 20, 10, 30),
        "the red cup",
        (centre(15, 12), centre(25, 18), centre(50, 12)),
        2 / 3,
    ),
    # no readable point: 0 and counted as unparsed
    Case("Location", "1", 2, (30, 45, 60, 80), "the apple left of the plate", None, 0.0),
    # the mask reaches the right border; x = 1.0 is pixel u = 100, off the image: a miss
    Case(
        "Location",
        "2",
        2,
        (0, 50, 90, 100),
        "the box at the right edge",
        (centre(95, 25), (1.0, 0.51)),
        0.5,
    ),
    Case("Placement", "0", 2, (0, 10, 40, 60), "free space behind the mug", (centre(45, 5),), 1.0),
    # the second point is below the image (y = 1.21): a miss, not dropped
    Case(
        "Placement",
        "1",
        3,
        (20, 30, 0, 10),
        "free area left of the cake",
        (centre(5, 25), (0.055, 1.21)),
        0.5,
    ),
    Case(
        "Unseen",
        "0",
        3,
        (40, 50, 20, 40),
        "the second cup from the left",
        (centre(25, 45), centre(35, 41), centre(30, 30), (0.0, 0.0)),
        0.5,
    ),
)

# Per split and per step, by hand from the cases above.
EXPECTED = {
    "Location": {"n": 3, "score": (2 / 3 + 0.0 + 0.5) / 3, "unparsed": 1, "failed": 0},
    "Placement": {"n": 2, "score": 0.75, "unparsed": 0, "failed": 0},
    "Unseen": {"n": 1, "score": 0.5, "unparsed": 0, "failed": 0},
}
EXPECTED_STEPS = {
    "Location": {"1": (1, 2 / 3, 0), "2": (2, 0.25, 1)},  # (n, score, unparsed)
    "Placement": {"2": (1, 1.0, 0), "3": (1, 0.5, 0)},
    "Unseen": {"3": (1, 0.5, 0)},
}
UNPARSEABLE = "I cannot see such an object in the image."
FORMATS = ("roborefer", "robopoint", "qwen2.5", "qwen3", "gemini", "molmo")


def image_of(case: Case) -> np.ndarray:
    rng = np.random.default_rng(int(case.id) + 10 * len(case.split))
    return rng.integers(0, 255, size=(H, W, 3), dtype=np.uint8)


def mask_of(case: Case) -> np.ndarray:
    r0, r1, c0, c1 = case.box
    mask = np.zeros((H, W), dtype=np.uint8)
    mask[r0:r1, c0:c1] = 255
    return mask


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def record_of(case: Case) -> dict[str, object]:
    return {
        "id": int(case.id),
        "rgb_path": f"image/{case.id}.png",
        "mask_path": f"mask/{case.id}.png",
        "object": case.prompt,
        "prompt": case.prompt,
        "suffix": "Your answer should be formatted as a list of tuples.",
        "category": case.split.lower(),
        "step": case.step,
    }


def write_folder_bench(root: Path, folder_names: dict[str, str] | None = None) -> Path:
    """``<split>/question.json`` + image/ + mask/; ``folder_names`` renames split folders."""
    names = folder_names or {}
    for split in ("Location", "Placement", "Unseen"):
        folder = root / names.get(split, split)
        (folder / "image").mkdir(parents=True)
        (folder / "mask").mkdir()
        cases = [c for c in CASES if c.split == split]
        for case in cases:
            Image.fromarray(image_of(case)).save(folder / "image" / f"{case.id}.png")
            Image.fromarray(mask_of(case)).save(folder / "mask" / f"{case.id}.png")
        (folder / "question.json").write_text(json.dumps([record_of(c) for c in cases]))
    return root


def write_parquet_bench(root: Path) -> Path:
    """Location as ``location.parquet`` with raw PNG bytes; Placement and Unseen as
    ``data/<split>-0000N-of-0000M.parquet`` shards with ``{"bytes", "path"}`` structs."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    def table(cases: Sequence[Case], struct: bool) -> pa.Table:
        def cell(array: np.ndarray, name: str) -> object:
            data = png_bytes(array)
            return {"bytes": data, "path": name} if struct else data

        return pa.table(
            {
                "id": [int(c.id) for c in cases],
                "image": [cell(image_of(c), f"{c.id}.png") for c in cases],
                "mask": [cell(mask_of(c), f"{c.id}.png") for c in cases],
                "object": [c.prompt for c in cases],
                "prompt": [c.prompt for c in cases],
                "suffix": ["Your answer should be formatted as a list of tuples."] * len(cases),
                "step": [c.step for c in cases],
            }
        )

    root.mkdir(parents=True, exist_ok=True)
    (root / "data").mkdir()
    location = [c for c in CASES if c.split == "Location"]
    # two row groups, so a sample's image is found by (row group, row)
    pq.write_table(table(location, struct=False), root / "location.parquet", row_group_size=2)
    placement = [c for c in CASES if c.split == "Placement"]
    for index, case in enumerate(placement):  # one shard per sample, read in name order
        name = f"placement-{index:05d}-of-{len(placement):05d}.parquet"
        pq.write_table(table([case], struct=True), root / "data" / name)
    unseen = [c for c in CASES if c.split == "Unseen"]
    pq.write_table(table(unseen, struct=True), root / "data" / "Unseen-00000-of-00001.parquet")
    return root


def answer_text(fmt: str, points: Sequence[tuple[float, float]] | None) -> str:
    """``points`` (normalised x, y) written the way model family ``fmt`` answers."""
    if points is None:
        return UNPARSEABLE
    if fmt in ("roborefer", "robopoint"):
        return "[" + ", ".join(f"({x:.4f}, {y:.4f})" for x, y in points) + "]"
    if fmt == "qwen2.5":  # integer pixels of the image the model saw (here: the bench image)
        items = [{"point_2d": [int(x * W), int(y * H)], "label": "t"} for x, y in points]
        return "```json\n" + json.dumps(items) + "\n```"
    if fmt == "qwen3":  # 0..1000, x first
        items = [{"point_2d": [round(x * 1000, 1), round(y * 1000, 1)]} for x, y in points]
        return json.dumps(items)
    if fmt == "gemini":  # 0..1000, written [y, x]
        items = [
            {"point": [round(y * 1000, 1), round(x * 1000, 1)], "label": "t"} for x, y in points
        ]
        return "```json\n" + json.dumps(items) + "\n```"
    if fmt == "molmo":  # percent, xN/yN attributes
        attrs = " ".join(
            f'x{i}="{100 * x:.2f}" y{i}="{100 * y:.2f}"' for i, (x, y) in enumerate(points, 1)
        )
        return f'<points {attrs} alt="target">target</points>'
    raise ValueError(fmt)


def write_answers(path: Path, fmt: str, cases: Sequence[Case] = CASES) -> Path:
    lines = [
        json.dumps({"split": c.split, "id": c.id, "text": answer_text(fmt, c.points)})
        for c in cases
    ]
    path.write_text("\n".join(lines) + "\n")
    return path
