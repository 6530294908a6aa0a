"""Offline baseline: on noisy depth the node's robust lifting clearly beats a single-pixel lookup;
on clean depth both are exact. Plus the scoring rules every evaluation shares."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from roborefer_ros.bags.synthetic import SyntheticSource, write_synthetic_bag
from roborefer_ros.eval import bag_baseline
from roborefer_ros.eval.summary import QueryOutcome, summarize
from roborefer_ros.sim.analytic_scene import SyntheticScene
from roborefer_ros.sim.noise import PixelNoise
from roborefer_ros.tools import bag_baseline as bag_baseline_tool

SOURCE = SyntheticSource(
    SyntheticScene(width=320, height=240, speed_mps=0.1), tuple(k / 10 for k in range(15))
)


@pytest.fixture(scope="module")
def bags(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("baseline")
    clean = write_synthetic_bag(str(root / "clean"), SOURCE)
    noisy = write_synthetic_bag(str(root / "noisy"), SOURCE, depth_noise=PixelNoise(seed=1))
    return {"clean": clean.path, "noisy": noisy.path}


def test_robust_lifting_beats_naive_on_noisy_depth(bags: dict[str, Path]) -> None:
    report = bag_baseline.baseline_of_bag(str(bags["noisy"]))
    naive, robust = report.naive, report.robust
    assert naive.n == robust.n == 15 * 4
    assert robust.p95_error_m is not None and naive.p95_error_m is not None
    assert robust.p95_error_m < 0.5 * naive.p95_error_m, (robust, naive)
    assert robust.median_error_m is not None and naive.median_error_m is not None
    assert robust.median_error_m < naive.median_error_m
    assert robust.success_rate >= naive.success_rate
    assert robust.status_counts == {"OK": robust.n}


def test_both_are_exact_on_clean_depth(bags: dict[str, Path]) -> None:
    report = bag_baseline.baseline_of_bag(str(bags["clean"]))
    for summary in (report.naive, report.robust):
        assert summary.status_counts == {"OK": 60}
        assert summary.p95_error_m is not None and summary.p95_error_m < 0.002
        assert summary.success_rate == 1.0


def test_cli_ends_with_one_json_line(
    bags: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert bag_baseline_tool.main([str(bags["noisy"]), "--json"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    result = json.loads(lines[-1])
    assert {"n", "succeeded", "success_rate", "median_error_m", "p95_error_m", "status_counts"} <= (
        result.keys()
    )
    assert result["naive"]["p95_error_m"] > result["robust"]["p95_error_m"]
    assert any(line.startswith("naive single-pixel depth") for line in lines)


def test_cli_bad_bag_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert bag_baseline_tool.main([str(tmp_path)]) == 2
    assert "no metadata.yaml" in capsys.readouterr().err


def test_success_needs_ok_and_the_query_own_tolerance() -> None:
    outcomes = [
        QueryOutcome("a", 1, "OK", 0.004, 0.005, {"total_s": 0.1}),
        QueryOutcome("b", 2, "OK", 0.006, 0.005, {"total_s": 0.3}),  # too far
        QueryOutcome("c", 3, "OK", 0.006, 0.01),  # its own, looser tolerance
        QueryOutcome("d", 4, "NO_VALID_DEPTH", None, 0.01),
    ]
    summary = summarize(outcomes)
    assert (summary.n, summary.succeeded, summary.success_rate) == (4, 2, 0.5)
    assert summary.status_counts == {"NO_VALID_DEPTH": 1, "OK": 3}
    assert summary.median_error_m == pytest.approx(0.006)
    assert summary.latency_s["total_s"].p50 == pytest.approx(0.2)
    assert summarize([]).success_rate == 0.0 and summarize([]).p95_error_m is None
