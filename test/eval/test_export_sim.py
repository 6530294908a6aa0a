"""export_sim: a MuJoCo scene exported in RefSpatial-Bench format loads with the bench loader,
and its ground-truth pixels, scored as answers, score 1.0 on every sample."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from roborefer_ros.backends.parsers import AnswerFormat
from roborefer_ros.backends.prompt import ROBOREFER_POINTING_SUFFIX
from roborefer_ros.eval.refspatial import load_bench
from roborefer_ros.eval.scoring import SampleStatus, score_answer
from roborefer_ros.tools.export_sim import main

SEED = 3


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    out = tmp_path_factory.mktemp("simbench")
    argv = ["--seeds", str(SEED), "--per-scene", "8", "--place-share", "0.5", str(out)]
    assert main(argv) == 0
    yield out


def _records(root: Path, split: str) -> list[dict[str, object]]:
    data: list[dict[str, object]] = json.loads((root / split / "question.json").read_text())
    return data


def test_export_loads_with_the_bench_loader(exported: Path) -> None:
    samples = load_bench(exported)
    splits = {s.split for s in samples}
    assert splits == {"Location", "Placement"}
    for split in splits:
        records = _records(exported, split)
        mine = [s for s in samples if s.split == split]
        assert [s.id for s in mine] == [str(r["id"]) for r in records]
        assert [s.step for s in mine] == [r["step"] for r in records]
        assert all(r["mode"] == ("locate" if split == "Location" else "place") for r in records)
        assert all(r["seed"] == SEED for r in records)
    assert all(s.suffix == ROBOREFER_POINTING_SUFFIX for s in samples)
    assert all(s.prompt and s.object == s.prompt for s in samples)
    first = samples[0]
    assert first.load_rgb().shape == (480, 640, 3)
    assert first.load_mask().any()


def test_ground_truth_pixels_score_one_on_every_sample(exported: Path) -> None:
    samples = load_bench(exported)
    pixels = {
        (split, str(r["id"])): r["pixel"]
        for split in ("Location", "Placement")
        for r in _records(exported, split)
    }
    for sample in samples:
        mask = sample.load_mask()
        height, width = mask.shape
        pixel = pixels[sample.key]
        assert isinstance(pixel, list)
        u, v = pixel
        # the centre of the answer's pixel, written as RoboRefer would (normalised)
        text = f"[({(int(u) + 0.5) / width:.6f}, {(int(v) + 0.5) / height:.6f})]"
        result = score_answer(
            text,
            AnswerFormat.ROBOREFER,
            mask,
            split=sample.split,
            sample_id=sample.id,
            step=sample.step,
        )
        assert result.status is SampleStatus.SCORED
        assert result.score == 1.0, (sample.key, sample.prompt, (u, v))
        # and the mask is the target, not the whole image
        assert 0 < np.count_nonzero(mask) < mask.size // 4
