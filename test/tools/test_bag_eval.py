"""roborefer-bag-eval end to end: a moving-camera bag with exact truth scores ~100 % through a real
refer node; bad input exits non-zero without starting anything."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from roborefer_ros.bags.synthetic import SyntheticSource
from roborefer_ros.bags.writer import write_source_bag
from roborefer_ros.core.referring import load_referring
from roborefer_ros.ros.graph import ros_env
from roborefer_ros.sim.analytic_scene import SyntheticScene
from roborefer_ros.tools import bag_eval

# The camera sweeps 0.15 m in 1.5 s: a point lifted with the wrong frame's TF misses by cm.
SCENE = SyntheticScene(width=320, height=240, speed_mps=0.1, sweep_m=0.15)
SOURCE = SyntheticSource(SCENE, tuple(k / 10 for k in range(12)))


@pytest.fixture(scope="module")
def bag(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bag_eval") / "moving"
    write_source_bag(path, SOURCE, SOURCE.referring(every=2, tolerance_m=0.005))
    return path


def _run(*args: str, timeout_s: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "roborefer_ros.tools.bag_eval", *args],
        env=ros_env(int(os.environ["ROS_DOMAIN_ID"])),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.graph
def test_ground_truth_bag_scores_every_query(bag: Path) -> None:
    proc = _run(str(bag), "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    n = len(load_referring(bag / "referring.json").queries)
    assert n == 6 * 4
    assert result["n"] == n
    assert result["status_counts"] == {"OK": n}, proc.stdout
    assert result["success_rate"] >= 0.99
    assert result["succeeded"] == n
    assert result["p95_error_m"] < 0.005
    assert 0.0 <= result["median_error_m"] <= result["p95_error_m"]
    assert set(result["latency_s"]) >= {"model_s", "lift_s", "tf_s", "total_s"}
    assert "within tolerance" in proc.stdout


def test_offline_baseline_json(bag: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert bag_eval.main([str(bag), "--offline-baseline", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["mode"] == "offline_baseline"
    assert result["n"] == result["robust"]["n"] == result["naive"]["n"] == 24
    assert result["status_counts"] == {"OK": 24}


def test_bad_bag_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert bag_eval.main([str(tmp_path)]) == 2
    assert "no metadata.yaml" in capsys.readouterr().err


def test_missing_referring_exits_2(bag: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert bag_eval.main([str(bag), "--referring", str(bag / "nope.json")]) == 2
    assert "nope.json" in capsys.readouterr().err


def test_missing_camera_topic_exits_2(bag: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert bag_eval.main([str(bag), "--depth-topic", "/other/depth"]) == 2
    assert "/other/depth" in capsys.readouterr().err


@pytest.mark.graph
def test_node_that_cannot_start_exits_3(bag: Path) -> None:
    proc = _run(str(bag), "--param", "max_frame_age_s=-1", timeout_s=90)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    # the node's own one-line reason (it used to be its whole log)
    assert (
        "the refer node exited (code 2): refer_node: parameter max_frame_age_s=-1.0 is out of "
        "range 0 .. 3600" in proc.stderr
    ), proc.stderr
    proc = _run(str(bag), "--backend", "no_such_backend", timeout_s=90)
    assert proc.returncode == 2 and "invalid choice: 'no_such_backend'" in proc.stderr
