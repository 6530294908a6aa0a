"""The whole graph in simulation: ``roborefer-sim-pickplace`` runs one episode through sim_node,
refer_node and pick_place_node (processes) and judges it from TF; ``roborefer-launch
launch/sim.launch.py`` brings the simulation graph up, answers RefPoint through it, and Ctrl-C
leaves no process and no FastDDS shared-memory file behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from roborefer_ros.testing.graph import GraphClient, ros_env
from roborefer_ros.tools.launcher import load_specs
from test.tools.test_launcher import _alive, _child_pids, _kill_all, _launch, _new_unheld_shm

ROOT = Path(__file__).resolve().parents[2]
SIM_LAUNCH = ROOT / "launch" / "sim.launch.py"
REFERRING = ROOT / "data" / "sim" / "referring_seed3_ur5e.json"
EPISODE_SEED = 13  # "the box" -> a free area: the grasp planner's plan succeeds in simulation


def test_sim_launch_resolves_to_three_nodes_on_the_camera_namespace() -> None:
    sim, refer, pick = load_specs(SIM_LAUNCH, {"camera_ns": "/cam", "seed": "5"})
    assert sim.argv[1:3] == ("-m", "roborefer_ros.ros.sim_node")
    assert "seed:=5" in sim.argv
    assert "color/image_raw:=/cam/color/image_raw" in sim.argv
    assert "aligned_depth_to_color/image_raw:=/cam/aligned_depth_to_color/image_raw" in sim.argv
    assert "aligned_depth/image_raw:=/cam/aligned_depth_to_color/image_raw" in refer.argv
    assert "manipulation_backend:=sim" in pick.argv


@pytest.mark.graph
def test_live_episode_succeeds_with_the_ground_truth_backend(tmp_path: Path) -> None:
    started = time.monotonic()
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "roborefer_ros.tools.sim_pickplace",
            "--seed",
            str(EPISODE_SEED),
            "--json",
            "--log",
            str(tmp_path / "nodes.log"),
        ],
        env=ros_env(int(os.environ["ROS_DOMAIN_ID"])),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    wall_s = time.monotonic() - started
    log = (tmp_path / "nodes.log").read_text()[-4000:]
    assert run.returncode == 0, (run.stdout[-2000:], run.stderr[-2000:], log)
    last = json.loads(run.stdout.strip().splitlines()[-1])
    assert {"success", "object", "place_error_m", "status"} <= set(last)
    assert last["success"] is True and last["status"] == "succeeded"
    assert last["object"] == "obj4_box" and last["place_error_m"] < 0.05
    assert last["camera_rate_hz_moving"] > 0.5
    assert wall_s < 60.0, last["timings"]
    for name in ("sim_node", "refer_node", "pick_place_node"):
        assert f"[{name}] " in log
    assert "ExecuteSteps SUCCEEDED" in log


@pytest.mark.graph
def test_sim_launch_answers_then_ctrl_c_stops_everything_cleanly(tmp_path: Path) -> None:
    from roborefer_ros.srv import RefPoint

    started = time.time() - 1.0
    query = next(q for q in json.loads(REFERRING.read_text())["queries"] if q["mode"] == "locate")
    log = tmp_path / "launch.log"
    proc = _launch(SIM_LAUNCH, log, "realtime:=false")
    graph = GraphClient(f"sim_launch_test_{os.getpid()}")
    try:
        client: Any = graph.node.create_client(RefPoint, "/refer_node/refer")
        graph.wait_for_service(client, 30.0)
        request = RefPoint.Request(prompt=query["prompt"], mode=RefPoint.Request.MODE_LOCATE)
        deadline = time.monotonic() + 30.0
        response = graph.call(client, request, timeout_s=15.0)
        while not response.success and time.monotonic() < deadline:
            time.sleep(0.3)  # the first frame is on its way
            response = graph.call(client, request, timeout_s=15.0)
        assert response.success, (response.message, log.read_text()[-3000:])
        point = response.points[0].pose.pose.position
        error = sum(
            (a - b) ** 2 for a, b in zip((point.x, point.y, point.z), query["point"], strict=True)
        )
        assert error**0.5 < query["tolerance_m"]
        pids = _child_pids(log)
        assert set(pids) == {"sim_node", "refer_node", "pick_place_node"}
        assert all(_alive(pid) for pid in pids.values())

        os.kill(proc.pid, signal.SIGINT)  # Ctrl-C
        code = proc.wait(timeout=20.0)
        assert code == 0, log.read_text()[-3000:]
        assert not [name for name, pid in pids.items() if _alive(pid)]
        assert _new_unheld_shm(started) == []
    finally:
        _kill_all(proc, log)
        graph.close()
    text = log.read_text()
    assert "Traceback" not in text, text[-3000:]
