"""The node executables on the command line: ``--help`` prints usage without starting a node, and
every start they refuse (a bad argument, a parameter of the wrong type or out of range, an
unreadable or broken parameter file, a configuration the node rejects) is one line on stderr
and exit code 2, without a traceback, so a launcher that stops all when one dies stops."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from roborefer_ros.ros.graph import ros_env

EXECUTABLES = {
    "refer_node": "roborefer_ros.tools.refer_node",
    "pick_place_node": "roborefer_ros.tools.pick_place_node",
    "sim_node": "roborefer_ros.tools.sim_node",
}


def _run(module: str, *args: str, timeout_s: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        env=ros_env(int(os.environ["ROS_DOMAIN_ID"])),
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


@pytest.mark.parametrize("name", sorted(EXECUTABLES))
def test_help_prints_usage_and_starts_no_node(name: str) -> None:
    started = time.monotonic()
    run = _run(EXECUTABLES[name], "--help")
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(f"usage: {name} [-h] [--ros-args"), run.stdout[:300]
    assert "parameters (name = default [range]: meaning" in run.stdout
    assert "[INFO]" not in run.stdout + run.stderr  # no node came up
    assert time.monotonic() - started < 30.0


def _params_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("name", "args", "expected"),
    [
        ("refer_node", ["--bogus"], "unrecognized arguments: --bogus"),
        ("refer_node", ["--ros-args", "-p", "backend:=nope"], "unknown backend 'nope'"),
        (
            "refer_node",
            ["--ros-args", "-p", "max_frame_age_s:=5000"],
            "parameter max_frame_age_s=5000.0 is out of range 0 .. 3600",
        ),
        (
            "refer_node",
            ["--ros-args", "-p", "max_frame_age_s:=soon"],
            "parameter max_frame_age_s: expected double, got string 'soon'",
        ),
        (
            "refer_node",
            ["--ros-args", "-p", "qos_depth:=0"],
            "parameter qos_depth=0 is out of range 1 .. 1000",
        ),
        (
            "refer_node",
            ["--ros-args", "-p", "max_frame_age_s"],
            "-p expects NAME:=VALUE, got max_frame_age_s",
        ),
        (
            "refer_node",
            ["--ros-args", "--params-file", "/nonexistent/refer.yaml"],
            "--params-file /nonexistent/refer.yaml: no such file",
        ),
        ("refer_node", ["--ros-args", "--params-file", "BROKEN"], "not valid YAML"),
        ("refer_node", ["--ros-args", "--params-file", "NOT_ROS"], "not a ROS 2 parameter file"),
        (
            "pick_place_node",
            ["--ros-args", "-p", "manipulation_backend:=nope"],
            "unknown manipulation_backend 'nope'",
        ),
        (
            "pick_place_node",
            ["--ros-args", "-p", "refer_timeout_s:=-5.0"],
            "parameter refer_timeout_s=-5.0 is out of range",
        ),
        ("sim_node", ["--ros-args", "-p", "seed:=-1"], "parameter seed=-1 is out of range"),
    ],
)
def test_a_refused_start_is_one_line_and_exit_2(
    tmp_path: Path, name: str, args: list[str], expected: str
) -> None:
    files = {"BROKEN": "refer_node:\n  ros__parameters: [\n", "NOT_ROS": "- just\n- a list\n"}
    args = [_params_file(tmp_path, files[a]) if a in files else a for a in args]
    started = time.monotonic()
    run = _run(EXECUTABLES[name], *args)
    assert run.returncode == 2, (run.stdout[-2000:], run.stderr[-2000:])
    assert expected in run.stderr, run.stderr
    assert "Traceback" not in run.stderr + run.stdout
    problem = [line for line in run.stderr.splitlines() if "[INFO]" not in line]
    assert len(problem) == 1 or (name == "refer_node" and "unrecognized" in expected), problem
    assert time.monotonic() - started < 30.0  # it does not linger


@pytest.mark.graph
def test_an_integer_for_a_double_parameter_starts_the_node(tmp_path: Path) -> None:
    """``-p max_frame_age_s:=1`` and ``max_frame_age_s: 3`` in a parameter file: rclpy reads
    integers, and the node used to die with InvalidParameterTypeException."""
    params = _params_file(tmp_path, "/**:\n  ros__parameters:\n    frame_wait_timeout_s: 3\n")
    answers = tmp_path / "answers.json"
    answers.write_text('{"answers": [{"prompt": "the cup", "answer": "[(0.5, 0.5)]"}]}')
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            EXECUTABLES["refer_node"],
            "--ros-args",
            "-r",
            "__node:=int_params_node",
            "--params-file",
            params,
            "-p",
            "max_frame_age_s:=1",
            "-p",
            "backend:=recorded",
            "-p",
            f"answers_file:={answers}",
        ],
        env=ros_env(int(os.environ["ROS_DOMAIN_ID"])),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        out = ""
        deadline = time.monotonic() + 30.0
        assert proc.stdout is not None
        while "active: serving" not in out and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            out += line
        assert "active: serving" in out, out
    finally:
        proc.send_signal(2)
        rest, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out + rest
    assert "Traceback" not in out + rest
