"""Every command-line tool on a user's mistake: one line on stderr (argparse's, or the tool's own
naming the cause), a non-zero exit, never a Python traceback; and a job that failed never exits 0
(issue "Field-ready": each case below was a traceback, a silent exit 0 or a wrong cause)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from roborefer_ros.ros.graph import ros_env

ROOT = Path(__file__).resolve().parents[2]
BAG = ROOT / "data" / "bags" / "tabletop_static"


def _run(module: str, *args: str, timeout_s: float = 120.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        env=ros_env(int(os.environ["ROS_DOMAIN_ID"])),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        cwd=ROOT,
    )


def _one_line(run: subprocess.CompletedProcess[str], expected: str) -> None:
    assert "Traceback" not in run.stderr + run.stdout, run.stderr[-3000:]
    errors = [line for line in run.stderr.splitlines() if line.strip()]
    assert any(expected in line for line in errors), run.stderr[-3000:]


@pytest.fixture
def a_file(tmp_path: Path) -> Path:
    path = tmp_path / "not_a_folder"
    path.write_text("x")
    return path


ARGPARSE_CASES = [
    ("sim_pickplace", ["--seed", "-1"], "argument --seed: seeds are non-negative, got -1"),
    ("sim_pickplace", ["--seed", "3", "--frames", "FILE"], "exists and is not a directory"),
    ("sim_pickplace", ["--seed", "3", "--backend", "roborefr_http"], "unknown backend"),
    ("sim_pickplace", ["--seed", "3", "--tolerance", "0"], "must be a positive number"),
    ("sim_preview", ["--seed", "-1", "--out", "DIR"], "seeds are non-negative, got -1"),
    ("sim_preview", ["--seed", "1", "--out", "FILE"], "exists and is not a directory"),
    ("sim_referring", ["--seed", "-1", "OUT"], "seeds are non-negative, got -1"),
    ("demo", ["--out", "FILE"], "argument --out: "),
    ("demo", ["--param", "max_frame_age_s"], "expected NAME=VALUE"),
    ("query", ["IMAGE", "the cup", "--timeout", "-1"], "argument --timeout: must be a positive"),
    ("query", ["IMAGE", "   "], "argument instruction: must not be empty"),
    ("query", ["IMAGE", "the cup", "--depth", "d.png"], "--depth is shown to the model only"),
    ("bag_eval", [str(BAG), "--param", "=3"], "expected NAME=VALUE"),
    ("bag_eval", [str(BAG), "--rate", "0"], "argument --rate: must be a positive number"),
    ("replay", [str(BAG), "--rate", "-2"], "argument --rate: must be a positive number"),
    ("synthetic_bag", ["OUT", "--size", "big"], "expected WIDTHxHEIGHT"),
    ("sim_batch", ["--jobs", "0"], "argument --jobs: must be >= 1, got 0"),
    ("call", ["refer", "cup", "--timeout", "-1"], "must be a positive number"),
]


@pytest.mark.parametrize(
    ("tool", "args", "expected"),
    ARGPARSE_CASES,
    ids=[f"{c[0]}-{c[2][:24]}" for c in ARGPARSE_CASES],
)
def test_bad_arguments_are_one_argparse_line(
    tool: str, args: list[str], expected: str, tmp_path: Path, a_file: Path
) -> None:
    stand_in = {"FILE": str(a_file), "DIR": str(tmp_path / "out"), "OUT": str(tmp_path / "o")}
    stand_in["IMAGE"] = str(tmp_path / "image.png")
    run = _run(f"roborefer_ros.tools.{tool}", *(stand_in.get(a, a) for a in args))
    assert run.returncode == 2, (run.stdout[-1000:], run.stderr[-1000:])
    _one_line(run, expected)


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ("hello\n", "is not rosbag2 metadata"),  # was "string indices must be integers"
        ("rosbag2_bagfile_information: 3\n", "is not rosbag2 metadata"),
        ("rosbag2_bagfile_information: {version: 5}\n", "invalid metadata.yaml"),
        ("a: [\n", "metadata.yaml: not valid YAML at line 2"),
    ],
)
def test_replay_of_a_folder_without_valid_metadata_names_it(
    tmp_path: Path, metadata: str, expected: str
) -> None:
    (tmp_path / "metadata.yaml").write_text(metadata)
    run = _run("roborefer_ros.tools.replay", str(tmp_path))
    assert run.returncode == 2
    _one_line(run, expected)
    assert len(run.stderr.strip().splitlines()) == 1


def test_launcher_names_a_broken_yaml_file_and_refused_arguments(tmp_path: Path) -> None:
    broken = tmp_path / "graph.yaml"
    broken.write_text("processes:\n  - name: x\n    args: [\n")
    run = _run("roborefer_ros.tools.launcher", str(broken))
    assert run.returncode == 2
    _one_line(run, f"{broken}: not valid YAML at line 4")  # was: in "<unicode string>"
    assert len(run.stderr.strip().splitlines()) == 1

    params = tmp_path / "site.yaml"
    params.write_text("refer_node:\n  ros__parameters: {a: [\n")
    launch = str(ROOT / "launch" / "refer_node.launch.py")
    run = _run("roborefer_ros.tools.launcher", launch, f"overlay_params_file:={params}")
    assert run.returncode == 2
    _one_line(run, f"{params}: not valid YAML at line 3")

    sim = str(ROOT / "launch" / "sim.launch.py")
    run = _run("roborefer_ros.tools.launcher", sim, "robot:=ur6")
    assert run.returncode == 2
    _one_line(run, "launch argument robot:='ur6' is not one of: ur5e, g1")
    assert len(run.stderr.strip().splitlines()) == 1


@pytest.mark.graph
def test_bag_eval_with_the_model_server_down_fails_naming_the_cause() -> None:
    """0/36 all BACKEND_ERROR used to print a score and exit 0."""
    started = time.monotonic()
    run = _run(
        "roborefer_ros.tools.bag_eval",
        str(BAG),
        "--backend",
        "roborefer_http",
        "--param",
        "server_url=http://127.0.0.1:9",
        "--json",
    )
    assert run.returncode == 1, (run.stdout[-2000:], run.stderr[-2000:])
    _one_line(run, "roborefer-bag-eval: evaluation failed: 36 BACKEND_ERROR of 36 queries")
    assert "model not loaded: " in run.stderr and "127.0.0.1:9" in run.stderr
    assert '"failure": "36 BACKEND_ERROR' in run.stdout.strip().splitlines()[-1]
    assert time.monotonic() - started < 90.0


@pytest.mark.graph
def test_bag_eval_takes_integers_for_decimal_parameters_and_names_a_refused_one() -> None:
    """``--param max_frame_age_s=3`` reached the node as an integer: the node died with
    InvalidParameterTypeException; a value out of range is the node's own one line."""
    run = _run("roborefer_ros.tools.bag_eval", str(BAG), "--param", "max_frame_age_s=3")
    assert run.returncode == 0, (run.stdout[-2000:], run.stderr[-2000:])
    assert "Traceback" not in run.stderr
    run = _run("roborefer_ros.tools.bag_eval", str(BAG), "--param", "max_frame_age_s=5000")
    assert run.returncode == 3
    _one_line(run, "parameter max_frame_age_s=5000.0 is out of range 0 .. 3600")


@pytest.mark.graph
def test_sim_pickplace_with_a_closed_model_url_says_so_quickly(tmp_path: Path) -> None:
    """It used to wait 33 s and advise "activate the lifecycle node"."""
    started = time.monotonic()
    run = _run(
        "roborefer_ros.tools.sim_pickplace",
        "--seed",
        "13",
        "--backend",
        "roborefer_http",
        "--url",
        "http://127.0.0.1:9",
        "--log",
        str(tmp_path / "nodes.log"),
    )
    elapsed = time.monotonic() - started
    assert run.returncode == 2, (run.stdout[-2000:], run.stderr[-2000:])
    _one_line(run, "error: the refer node is not ready: model not loaded: ")
    assert "127.0.0.1:9" in run.stderr and "refused" in run.stderr
    assert "activate the lifecycle node" not in run.stderr
    assert elapsed < 30.0, elapsed  # the scene (about 5 s) and the graph's start, not a timeout
