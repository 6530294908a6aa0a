"""roborefer-launch: the sim demo graph comes up and answers a RefPoint call through it; Ctrl-C
stops every child, leaves no FastDDS shared-memory file behind and exits 0; a child that dies
takes the others down and the launcher exits non-zero naming it."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from roborefer_ros.ros.graph import GraphClient, ros_env
from roborefer_ros.tools.fastdds_shm import held_shm_paths
from roborefer_ros.tools.launcher import Launcher, ProcessSpec, load_specs

ROOT = Path(__file__).resolve().parents[2]
SIM_DEMO = ROOT / "config" / "launch" / "sim_demo.yaml"
BAG = ROOT / "data" / "bags" / "tabletop_moving"
SERVICE_WAIT_S = 20.0
ANSWER_DEADLINE_S = 20.0
STOP_TIMEOUT_S = 15.0


def _launch(config: Path, log: Path, *args: str) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "roborefer_ros.tools.launcher", str(config), *args],
            env=ros_env(int(os.environ["ROS_DOMAIN_ID"])),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=ROOT,
        )


def _child_pids(log: Path) -> dict[str, int]:
    return {m[0]: int(m[1]) for m in re.findall(r"started (\S+) \(pid (\d+)\)", log.read_text())}


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _kill_all(proc: subprocess.Popen[bytes], log: Path) -> None:
    """Test clean-up: nothing this test started outlives it."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
    for pid in _child_pids(log).values():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)


def _new_unheld_shm(since: float) -> list[str]:
    shm = Path("/dev/shm")
    if not shm.is_dir():
        return []
    fresh = []
    for path in shm.iterdir():
        with contextlib.suppress(OSError):
            if path.name.startswith("fastdds_") and path.stat().st_mtime >= since:
                fresh.append(str(path))
    held = held_shm_paths()
    return [path for path in fresh if path not in held]


def test_sim_demo_and_launch_files_resolve_to_node_command_lines() -> None:
    refer, replay = load_specs(SIM_DEMO)
    assert refer.argv[1:3] == ("-m", "roborefer_ros.tools.refer_node")
    assert "__node:=refer_node" in refer.argv
    assert "backend:=ground_truth" in refer.argv
    assert (
        "aligned_depth_to_color/image_raw:=/camera/camera/aligned_depth_to_color/image_raw"
        in refer.argv
    )
    assert Path(replay.argv[0]).name == "roborefer-replay"
    assert replay.argv[1:3] == ("data/bags/tabletop_moving", "--loop")
    assert refer.cwd == ROOT
    specs = load_specs(ROOT / "launch" / "ur5.launch.py", {"camera_ns": "/cam"})
    assert [s.name for s in specs] == ["refer_node", "pick_place_node"]
    assert "color/image_raw:=/cam/color/image_raw" in specs[0].argv
    assert str(ROOT / "config" / "ur5.yaml") in specs[1].argv  # manipulation_backend: moveit


@pytest.mark.graph
def test_sim_demo_answers_then_ctrl_c_stops_everything_cleanly(tmp_path: Path) -> None:
    from builtin_interfaces.msg import Time
    from roborefer_ros.srv import RefPoint

    started = time.time() - 1.0
    # A locate query from the middle of the bag: the replay loops and the node's frame sync
    # restarts on each jump back in time, so that frame comes round on every pass (the bag's
    # last frame races the next pass's first one across the colour and depth topics).
    queries = json.loads((BAG / "referring.json").read_text())["queries"]
    locates = sorted(
        (q for q in queries if q["mode"] == "locate"),
        key=lambda q: (q["stamp"]["sec"], q["stamp"]["nanosec"]),
    )
    query = locates[len(locates) // 2]
    log = tmp_path / "launch.log"
    proc = _launch(SIM_DEMO, log)
    graph = GraphClient(f"launcher_test_{os.getpid()}")
    try:
        client: Any = graph.node.create_client(RefPoint, "/refer_node/refer")
        graph.wait_for_service(client, SERVICE_WAIT_S)
        request = RefPoint.Request(
            prompt=query["prompt"],
            mode=RefPoint.Request.MODE_LOCATE,
            min_stamp=Time(sec=query["stamp"]["sec"], nanosec=query["stamp"]["nanosec"]),
        )
        # e.g. the frame went by before the node subscribed: it comes round
        response = graph.call_until_success(client, request, deadline_s=ANSWER_DEADLINE_S)
        assert response.success, (response.message, log.read_text()[-3000:])
        point = response.points[0].pose.pose.position
        error = sum(
            (a - b) ** 2 for a, b in zip((point.x, point.y, point.z), query["point"], strict=True)
        )
        assert error**0.5 < query["tolerance_m"]
        pids = _child_pids(log)
        assert set(pids) == {"refer_node", "replay"}
        assert all(_alive(pid) for pid in pids.values())

        os.kill(proc.pid, signal.SIGINT)  # Ctrl-C
        code = proc.wait(timeout=STOP_TIMEOUT_S)
        assert code == 0, log.read_text()[-3000:]
        assert not [name for name, pid in pids.items() if _alive(pid)]
        assert _new_unheld_shm(started) == []
    finally:
        _kill_all(proc, log)
        graph.close()
    assert "[refer_node] " in log.read_text()
    assert "[replay] " in log.read_text()
    # The node's private TF listener node took the process-wide "-r __node:=refer_node" too, and
    # rcl warned "Publisher already registered for node name: 'refer_node'" on every start.
    assert "already registered" not in log.read_text()


@pytest.mark.graph
def test_a_dying_child_stops_the_others_and_is_named(tmp_path: Path) -> None:
    config = tmp_path / "bogus.yaml"
    config.write_text(
        "processes:\n"
        "  - name: sleeper\n"
        "    command: [sleep, '30']\n"
        "  - name: bogus\n"
        "    module: roborefer_ros.no_such_module\n"
        "    ros: false\n"
    )
    log = tmp_path / "launch.log"
    proc = _launch(config, log, "--grace", "2")
    try:
        code = proc.wait(timeout=STOP_TIMEOUT_S)
        text = log.read_text()
        assert code == 1, text
        assert "process 'bogus' exited with code 1" in text
        assert "No module named roborefer_ros.no_such_module" in text
        assert not _alive(_child_pids(log)["sleeper"])
    finally:
        _kill_all(proc, log)


def test_bad_descriptions_fail_before_anything_starts(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("processes:\n  - name: x\n    command: [no-such-command-anywhere]\n")
    run = subprocess.run(
        [sys.executable, "-m", "roborefer_ros.tools.launcher", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.returncode == 2
    assert "command 'no-such-command-anywhere' not found" in run.stderr


@pytest.mark.graph
def test_the_readme_realsense_line_starts_cleanly_and_serves_once_the_model_is_up(
    tmp_path: Path,
) -> None:
    """``refer_node.launch.py camera_ns:=/camera/camera model_url:=URL`` (README, RealSense)
    with no model server yet: the node configures (the default backend is roborefer_http, no
    longer the ground_truth test instrumentation that refused its own configuration), stays up,
    answers "model not loaded: ... refused" and activates once the server is up."""
    from roborefer_ros.srv import RefPoint

    from roborefer_ros.tools.fake_model_server import FakeModelServer

    server = FakeModelServer("roborefer", {}, tmp_path, lifetime_s=120.0)
    with server.start():
        url, port = server.url, server.port
    log = tmp_path / "launch.log"  # the server is stopped: the port refuses connections
    launch = ROOT / "launch" / "refer_node.launch.py"
    proc = _launch(launch, log, "camera_ns:=/camera/camera", f"model_url:={url}")
    graph = GraphClient(f"readme_line_test_{os.getpid()}")
    try:
        client: Any = graph.node.create_client(RefPoint, "/refer_node/refer")
        graph.wait_for_service(client, SERVICE_WAIT_S)
        request = RefPoint.Request(prompt="the red cup")
        down = graph.call(client, request, timeout_s=20.0, resend_s=4.0)  # a node just started
        assert down.message.startswith("model not loaded: "), down.message
        assert url in down.message and "refused" in down.message
        server.port = port
        with server.start():
            deadline = time.monotonic() + 40.0  # the next try of the node's back-off
            while "activating" not in log.read_text():
                assert proc.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.2)
            up = graph.call(client, RefPoint.Request(prompt="the red cup"), timeout_s=10.0)
        assert not up.message.startswith("model not loaded"), up.message  # NO_FRAME: no camera
        os.kill(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=STOP_TIMEOUT_S) == 0, log.read_text()[-3000:]
    finally:
        _kill_all(proc, log)
        graph.close()
    text = log.read_text()
    assert "configured: backend=roborefer_http" in text
    assert "/camera/camera/aligned_depth_to_color/image_raw" in text  # realsense-ros's topic
    assert "configuration rejected" not in text and "Traceback" not in text
    assert "already registered" not in text


def test_shm_files_left_by_ended_processes_are_removed_before_anything_starts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A dead participant's port file, reused by a new participant, lost the G1 graph's frames,
    refer answers and goals; files a live process holds stay."""
    stale = Path("/dev/shm") / f"fastdds_port_roborefer_test_{os.getpid()}"
    held = Path("/dev/shm") / f"fastdds_roborefer_test_held_{os.getpid()}"
    fresh = Path("/dev/shm") / f"fastdds_port_roborefer_test_fresh_{os.getpid()}"
    stale.write_bytes(b"\0" * 64)
    an_hour_ago = time.time() - 3600
    os.utime(stale, (an_hour_ago, an_hour_ago))
    fresh.write_bytes(b"\0" * 64)  # a participant starting elsewhere, not mapped yet
    with open(held, "wb") as holder:
        try:
            Launcher([ProcessSpec("never_started", ("true",))])
            assert not stale.exists()
            assert held.exists() and fresh.exists()
            said = capsys.readouterr().err
            assert "FastDDS shared-memory file(s) left by ended processes" in said
        finally:
            stale.unlink(missing_ok=True)
            fresh.unlink(missing_ok=True)
            holder.close()
            held.unlink(missing_ok=True)
