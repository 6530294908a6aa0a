"""roborefer-call: the refer node and the pick_place node asked from a shell, on the simulated
cell (sim_node + refer_node + pick_place_node as processes, the graph of roborefer-sim-pickplace),
and what it says and returns when the answer is a failure or there is no node at all."""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from roborefer_ros.core.status import Status
from roborefer_ros.manipulation.errors import PickPlaceStatus
from roborefer_ros.ros.graph import ros_env
from roborefer_ros.tools.call import (
    EXIT_NO_NODE,
    MinStamp,
    exit_code,
    min_stamp,
    node_name,
)

EPISODE_SEED = 13  # "the box" -> a free area: the live episode of test_sim_graph succeeds on it


def _call(*args: str, timeout_s: float = 120.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "roborefer_ros.tools.call", *args],
        env=ros_env(int(os.environ["ROS_DOMAIN_ID"])),
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def _call_on_a_fresh_frame(
    *args: str, deadline_s: float = 40.0
) -> subprocess.CompletedProcess[str]:
    """``_call`` again while the answer is about the camera's timing (NO_FRAME, STALE_FRAME: the
    simulated camera slows down on a loaded machine), not what a test asks."""
    deadline = time.monotonic() + deadline_s
    while True:
        run = _call(*args)
        camera = (exit_code(Status.NO_FRAME), exit_code(Status.STALE_FRAME))
        if run.returncode not in camera or time.monotonic() > deadline:
            return run
        time.sleep(0.3)


def test_arguments() -> None:
    assert min_stamp("now") == MinStamp(now=True)
    assert min_stamp("12.5").ns() == 12_500_000_000
    assert abs(min_stamp("now").ns() - time.time_ns()) < 1e9
    for bad in ("-1", "soon", "inf"):
        with pytest.raises(argparse.ArgumentTypeError):
            min_stamp(bad)
    assert node_name("refer_node") == "/refer_node"
    assert node_name("/robot/refer_node/") == "/robot/refer_node"
    with pytest.raises(argparse.ArgumentTypeError):
        node_name("/")
    # one exit code per status, none of them 0 or a CLI code
    codes = [exit_code(s) for s in (*Status, *PickPlaceStatus) if s != 0]
    assert len(set(codes)) == len({int(s) for s in (*Status, *PickPlaceStatus)}) - 1
    assert exit_code(Status.OK) == 0 and min(codes) > 10 and max(codes) < 126


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["refer", ""], "argument prompt: must not be empty"),
        (["refer", "cup", "--mode", "grab"], "invalid choice: 'grab'"),
        (["refer", "cup", "--min-stamp", "yesterday"], "expected 'now' or seconds"),
        (["refer", "cup", "--timeout", "-1"], "must be a positive number"),
        (["pick-place", "the cup"], "the following arguments are required: place"),
    ],
)
def test_bad_arguments_are_one_argparse_line(args: list[str], expected: str) -> None:
    run = _call(*args)
    assert run.returncode == 2
    assert expected in run.stderr and "Traceback" not in run.stderr


def test_help_prints_usage() -> None:
    run = _call("--help")
    assert run.returncode == 0 and run.stdout.startswith("usage: roborefer-call")
    assert "Exit codes: 0 only for OK / SUCCEEDED" in run.stdout


@pytest.mark.graph
def test_no_node_is_exit_3_naming_the_service() -> None:
    started = time.monotonic()
    run = _call("refer", "the red cup", "--node", "/nobody_here", "--wait", "1")
    assert run.returncode == EXIT_NO_NODE, run.stderr
    assert "no service /nobody_here/refer within 1 s" in run.stderr
    assert "Traceback" not in run.stderr
    assert time.monotonic() - started < 30.0


@dataclass
class SimCell:
    pick_prompt: str
    place_prompt: str
    pick_point: tuple[float, float, float]
    log: Path


@pytest.fixture(scope="module")
def cell(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimCell]:
    """The three nodes of the simulated UR5e cell (ground truth stands in for the model), up
    and answering, as roborefer-sim-pickplace starts them."""
    from roborefer_ros.tools.launcher import Launcher
    from roborefer_ros.tools.sim_live_episode import LiveOptions, graph_specs, prepare

    work = tmp_path_factory.mktemp("call_cell")
    options = LiveOptions(seed=EPISODE_SEED, backend="ground_truth")
    prepared = prepare(options, work)
    log_path = work / "nodes.log"
    with open(log_path, "w") as log:
        launcher = Launcher(graph_specs(options, prepared.referring, sys.executable), out=log)
        runner = threading.Thread(target=launcher.run, daemon=True)
        runner.start()
        try:
            cell = SimCell(
                prepared.task.pick.prompt,
                prepared.task.place.prompt,
                tuple(float(c) for c in prepared.task.pick.point_base),  # type: ignore[arg-type]
                log_path,
            )
            deadline = time.monotonic() + 60.0
            while True:  # the first frame and transform are on their way
                run = _call("refer", cell.pick_prompt, "--mode", "locate", "--wait", "30")
                if run.returncode == 0 or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            assert run.returncode == 0, (run.stderr, log_path.read_text()[-3000:])
            yield cell
        finally:
            launcher.request_stop()
            runner.join(timeout=20.0)


@pytest.mark.graph
def test_refer_prints_the_point_and_json(cell: SimCell) -> None:
    run = _call_on_a_fresh_frame(
        "refer", cell.pick_prompt, "--mode", "locate", "--min-stamp", "now", "--json"
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.strip().splitlines()
    assert lines[0].startswith("OK: 1 point(s) from the frame at ")
    assert "m in base_link" in lines[1]
    data = json.loads(lines[-1])
    assert data["status"] == "OK" and data["success"] is True
    point = data["points"][0]["point"]
    assert math.dist(point, cell.pick_point) < 0.03, (point, cell.pick_point)
    assert data["points"][0]["pose"]["frame_id"] == "base_link"
    assert data["frame"]["stamp_s"] > 0 and run.stderr == ""


@pytest.mark.graph
def test_a_failed_answer_exits_with_its_status_and_says_why(cell: SimCell) -> None:
    run = _call_on_a_fresh_frame("refer", "the purple elephant on the moon", "--json")
    assert run.returncode == 10 + Status.BACKEND_ERROR, (run.stdout, run.stderr)
    (line,) = run.stderr.strip().splitlines()
    assert line.startswith("BACKEND_ERROR: ") and "purple elephant" in line
    assert json.loads(run.stdout.strip().splitlines()[-1])["status"] == "BACKEND_ERROR"

    run = _call_on_a_fresh_frame("refer", cell.pick_prompt, "--target-frame", "nowhere_frame")
    assert run.returncode == 10 + Status.TF_ERROR, run.stderr
    assert run.stderr.startswith("TF_ERROR: ") and "nowhere_frame" in run.stderr


@pytest.mark.graph
def test_pick_place_prints_feedback_as_it_arrives_and_succeeds(cell: SimCell) -> None:
    run = _call("pick-place", cell.pick_prompt, cell.place_prompt, "--json", timeout_s=240.0)
    log = cell.log.read_text()[-3000:]
    assert run.returncode == 0, (run.stdout[-2000:], run.stderr, log)
    lines = run.stdout.strip().splitlines()
    stages = [line.split("] ", 1)[1] for line in lines if line.startswith("[")]
    assert stages[0] == "REFER_PICK", stages
    assert any(s.startswith("APPROACH") for s in stages) and any("RETREAT" in s for s in stages)
    assert any(line.startswith("SUCCEEDED: ") for line in lines)
    data = json.loads(lines[-1])
    assert data["success"] is True and data["status"] == "SUCCEEDED"
    assert data["pick_target"]["frame_id"] == "base_link" and data["num_steps"] > 0
