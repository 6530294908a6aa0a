"""Two reference answerers for a RefSpatial-format export of simulated scenes (``export_sim``):
what a model must beat to be said to point from language at all.

- ``centre``: always the image centre, ``[(0.500, 0.500)]``;
- ``category``: a random visible object of the category the instruction names first (its head
  noun; for a placement, its first anchor's), at the pixel the generator would answer with
  (seeded per sample). It knows the scene's objects exactly, so it only lacks the language
  beyond the category: attributes, ordinals, relations.

Both write answers in RoboRefer's format, as ``roborefer-bench --answers`` scores them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from roborefer_ros.backends.embedded.language import (
    InstructionError,
    ObjectRef,
    PlaceRef,
    parse_instruction,
)
from roborefer_ros.backends.parsers import format_roborefer_answer
from roborefer_ros.eval.answers import AnswerRecord
from roborefer_ros.eval.refspatial import BenchError

CENTRE = format_roborefer_answer([(0.5, 0.5)])


@dataclass(frozen=True)
class ExportRecord:
    split: str
    id: str
    seed: int
    prompt: str


def export_records(bench_dir: Path) -> Iterator[ExportRecord]:
    """Every record of an export_sim dataset (the seed field is required)."""
    for split in ("Location", "Placement"):
        path = bench_dir / split / "question.json"
        if not path.is_file():
            continue
        try:
            items = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise BenchError(f"cannot read {path}: {err}") from None
        for item in items:
            if "seed" not in item:
                raise BenchError(f"{path}: record {item.get('id')} has no seed (not export_sim)")
            yield ExportRecord(split, str(item["id"]), int(item["seed"]), str(item["prompt"]))


def named_category(prompt: str) -> str | None:
    """The object kind an instruction names first, None when it cannot be read."""
    try:
        program = parse_instruction(prompt)
    except InstructionError:
        return None
    ref: ObjectRef = program.anchors[0] if isinstance(program, PlaceRef) else program
    return ref.noun.kind


def centre_answers(bench_dir: Path) -> list[AnswerRecord]:
    return [AnswerRecord(r.split, r.id, CENTRE) for r in export_records(bench_dir)]


def category_answers(bench_dir: Path, robot: str = "ur5e", seed: int = 0) -> list[AnswerRecord]:
    """A random visible object of the named category per record (scenes re-rendered from their
    seeds, exactly as exported: 640x480, scene time 0)."""
    from roborefer_ros.sim import build_scene, interior_pixel, object_truths

    records = list(export_records(bench_dir))
    pixels_by_seed: dict[int, dict[str, list[tuple[float, float]]]] = {}
    size_by_seed: dict[int, tuple[int, int]] = {}
    for scene_seed in sorted({r.seed for r in records}):
        with build_scene(scene_seed, robot) as scene:
            frame = scene.render(0.0)
            by_kind: dict[str, list[tuple[float, float]]] = {}
            for truth in object_truths(scene.spec, frame):
                pixel = interior_pixel(truth.mask)
                if pixel is not None:
                    kind = scene.spec.objects[truth.index].kind.value
                    by_kind.setdefault(kind, []).append((float(pixel[0]), float(pixel[1])))
        pixels_by_seed[scene_seed] = by_kind
        size_by_seed[scene_seed] = (frame.rgb.shape[1], frame.rgb.shape[0])
    out = []
    for record in records:
        named = named_category(record.prompt)
        choices = pixels_by_seed[record.seed].get(named or "", [])
        if not choices:
            out.append(AnswerRecord(record.split, record.id, CENTRE))
            continue
        rng = np.random.default_rng([seed, record.seed, int(record.id), len(record.split)])
        u, v = choices[int(rng.integers(len(choices)))]
        width, height = size_by_seed[record.seed]
        out.append(
            AnswerRecord(
                record.split, record.id, format_roborefer_answer([(u / width, v / height)])
            )
        )
    return out


def write_answers(path: Path, records: list[AnswerRecord]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(r.to_json() + "\n" for r in records))
    return path
