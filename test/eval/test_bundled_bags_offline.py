"""The bundled bags, offline (no graph): robust lifting puts every ground-truth pixel within 1 cm
of the truth on clean depth, and beats a single-pixel depth lookup on noisy depth."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from roborefer_ros.core.referring import dump_referring, load_referring
from roborefer_ros.eval.bag_baseline import baseline_of_bag

BAGS = Path(__file__).resolve().parents[2] / "data" / "bags"


def _at_1_cm(bag: str, tmp_path: Path) -> str:
    referring = load_referring(BAGS / bag / "referring.json")
    strict = dataclasses.replace(
        referring,
        queries=tuple(dataclasses.replace(q, tolerance_m=0.01) for q in referring.queries),
    )
    path = tmp_path / f"{bag}_1cm.json"
    dump_referring(strict, path)
    return str(path)


@pytest.mark.parametrize("bag", ["tabletop_static", "tabletop_moving"])
def test_every_query_within_1_cm_on_clean_depth(bag: str, tmp_path: Path) -> None:
    report = baseline_of_bag(str(BAGS / bag), _at_1_cm(bag, tmp_path))
    robust = report.robust
    assert robust.n >= 30
    assert robust.succeeded == robust.n, robust  # LOCATE and PLACE (plane fit) alike


def test_robust_lifting_beats_single_pixel_depth_on_noisy_depth(tmp_path: Path) -> None:
    report = baseline_of_bag(str(BAGS / "tabletop_noisy"), _at_1_cm("tabletop_noisy", tmp_path))
    assert report.robust.succeeded > report.naive.succeeded
    assert report.robust.p95_error_m is not None and report.naive.p95_error_m is not None
    assert report.robust.p95_error_m < 0.5 * report.naive.p95_error_m
