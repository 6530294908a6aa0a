"""roborefer-bench-node runs in-process on a tiny frame and reports every stage (cannot rot)."""

from __future__ import annotations

import json

import pytest

from roborefer_ros.tools import bench_node

STATS = {"p50_ms", "p95_ms", "mean_ms"}


def test_json_report_has_every_stage_of_every_mode(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_node.main(["--n", "5", "--sizes", "64x48", "--json"]) == 0
    out = capsys.readouterr().out
    report = json.loads(out.strip().splitlines()[-1])
    assert set(report) == {"n", "machine", "sizes", "wall_s", "estimate_object_extent"}
    assert report["n"] == 5
    assert {"cpu", "cores", "python", "numpy"} <= set(report["machine"])
    assert list(report["sizes"]) == ["64x48"]
    modes = report["sizes"]["64x48"]
    assert set(modes) == {"locate", "place"}
    for stages in modes.values():
        assert set(stages) == set(bench_node.STAGES)
        for name, stats in stages.items():
            assert set(stats) == STATS, name
            assert 0.0 <= stats["p50_ms"] <= stats["p95_ms"], name
            assert stats["mean_ms"] >= 0.0, name
        # the parts cannot take longer than the whole
        assert stages["total"]["mean_ms"] >= stages["refer"]["mean_ms"]
        assert stages["refer"]["mean_ms"] >= stages["lift"]["mean_ms"]
    assert "total" in out and "64x48" in out  # the human-readable table came first


def test_without_json_prints_only_tables(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_node.main(["--n", "2", "--sizes", "32x24"]) == 0
    out = capsys.readouterr().out
    assert "{" not in out
    assert "32x24" in out


@pytest.mark.parametrize("argv", [["--sizes", "64by48"], ["--sizes", "8x8"], ["--n", "0"]])
def test_bad_arguments_are_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        bench_node.main(argv)
    assert info.value.code == 2


def test_parse_sizes() -> None:
    assert bench_node.parse_sizes("1280x720, 640X480") == [(1280, 720), (640, 480)]
