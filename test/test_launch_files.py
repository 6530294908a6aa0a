"""launch/*.launch.py, read with ast (launch is not installed here): every node is one of ours (or
an allowed external one), its parameter files exist and set only what it declares, with the
declared types, and its remappings start from topics it uses. The same checker must fail broken
files with a message naming the problem."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from roborefer_ros.tools import config_check
from roborefer_ros.tools.config_check import (
    check,
    effective_parameters,
    launch_file_problems,
    param_file_problems,
    parse_launch_file,
)

ROOT = Path(__file__).resolve().parent.parent
LAUNCH_FILES = sorted((ROOT / "launch").glob("*.launch.py"))
CAMERA_TOPICS = {"color/image_raw", "color/camera_info", "aligned_depth/image_raw"}


def test_the_launch_files_of_the_issue_exist() -> None:
    names = {path.name for path in LAUNCH_FILES}
    assert {"ur5.launch.py", "g1.launch.py", "bag_replay.launch.py"} <= names


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_passes_the_checker(path: Path) -> None:
    assert launch_file_problems(path) == []


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_every_node_is_ours_with_an_existing_executable_and_params_file(path: Path) -> None:
    nodes = [p for p in parse_launch_file(path) if p.kind == "node"]
    assert nodes
    for node in nodes:
        assert node.package == "roborefer_ros"
        assert (ROOT / "scripts" / "ros2run" / node.executable).is_file()
        assert node.name == node.executable
        assert node.param_files, f"{path.name}: {node.name} gets no parameter file"
        for params in node.param_files:
            assert params.is_file()
            assert params.parent == ROOT / "config"
        if node.executable == "refer_node":
            assert {src for src, _ in node.remappings} == CAMERA_TOPICS


def test_ur5_runs_moveit_on_the_realsense_layout() -> None:
    refer, pick = (p for p in parse_launch_file(ROOT / "launch" / "ur5.launch.py"))
    assert (refer.source.name, pick.source.name) == ("refer_node.launch.py", "nodes.launch.py")
    assert dict(refer.remappings)["aligned_depth/image_raw"] == (
        "/camera/camera/aligned_depth_to_color/image_raw"
    )
    assert effective_parameters(pick)["manipulation_backend"] == "moveit"
    assert effective_parameters(pick)["plan_frame"] == "base_link"
    assert effective_parameters(refer)["backend"] == "roborefer_http"
    assert [p.name for p in pick.param_files] == ["ur5.yaml", "no_overrides.yaml"]


def test_g1_uses_the_head_camera_torso_link_and_frontal_grasps() -> None:
    refer, pick = parse_launch_file(ROOT / "launch" / "g1.launch.py")
    assert dict(refer.remappings)["color/image_raw"] == "/head_camera/color/image_raw"
    assert effective_parameters(refer)["target_frame"] == "torso_link"
    pick_params = effective_parameters(pick)
    assert pick_params["manipulation_backend"] == "g1"
    assert pick_params["plan_frame"] == "torso_link"
    assert pick_params["grasp_style"] == "frontal"


def test_launch_arguments_override_defaults() -> None:
    """As with ros2 launch, an argument given to the top file reaches the files it includes."""
    refer, pick = parse_launch_file(
        ROOT / "launch" / "ur5.launch.py",
        {
            "camera_ns": "/cam",
            "use_sim_time": "true",
            "target_frame": "world",
            "model_url": "http://gpu-box:25547",
            "backend": "openai",
        },
    )
    assert dict(refer.remappings)["color/image_raw"] == "/cam/color/image_raw"
    assert refer.parameters["use_sim_time"] is True  # "true" read as YAML, as launch_ros does
    assert refer.parameters["target_frame"] == pick.parameters["plan_frame"] == "world"
    assert refer.parameters["server_url"] == "http://gpu-box:25547"
    assert refer.parameters["backend"] == "openai"


def test_unknown_or_invalid_launch_arguments_are_named() -> None:
    with pytest.raises(config_check.ConfigError, match=r"unknown launch argument\(s\) robt;"):
        parse_launch_file(ROOT / "launch" / "sim.launch.py", {"robt": "g1"})
    with pytest.raises(config_check.ConfigError, match="robot:='ur5' is not one of: ur5e, g1"):
        parse_launch_file(ROOT / "launch" / "sim.launch.py", {"robot": "ur5"})


def test_bag_replay_publishes_clock_and_runs_on_sim_time() -> None:
    replay, refer = parse_launch_file(ROOT / "launch" / "bag_replay.launch.py")
    assert replay.kind == "process"
    assert replay.name == "replay"
    assert replay.cmd[:3] == ["python3", "-m", "roborefer_ros.tools.replay"]
    assert "--clock" in replay.cmd
    assert refer.parameters["use_sim_time"] is True
    assert refer.parameters["referring_file"] == "data/bags/tabletop_moving/referring.json"


@pytest.mark.parametrize("name", ["ur5.yaml", "g1.yaml"])
def test_robot_configs_set_both_nodes(name: str) -> None:
    path = ROOT / "config" / name
    assert set(config_check.load_sections(path)) == {"refer_node", "pick_place_node"}
    assert param_file_problems(path, "refer_node") == []
    assert param_file_problems(path, "pick_place_node") == []


def test_rviz_config_shows_the_image_markers_and_tf() -> None:
    text = (ROOT / "config" / "roborefer.rviz").read_text()
    for needle in (
        "/refer_node/annotated_image",
        "/refer_node/markers",
        "rviz_default_plugins/TF",
        "rviz_default_plugins/MarkerArray",
        "rviz_default_plugins/Image",
    ):
        assert needle in text


BROKEN_LAUNCH = """
from launch_ros.actions import Node
from launch.substitutions import PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare


def generate_launch_description():
    return LaunchDescription([
        Node(
            package="roborefer_ros",
            executable="refer_nod",
            name="refer_nod",
        ),
        Node(
            package="roborefer_ros",
            executable="refer_node",
            name="refer_node",
            parameters=[
                PathJoinSubstitution([FindPackageShare("roborefer_ros"), "config", "nope.yaml"]),
                {"tf_timeout_s": 1, "target_fram": "map"},
            ],
            remappings=[("camera/image_raw", "/cam/color/image_raw")],
        ),
        Node(package="someone_else", executable="x"),
    ])
"""


def test_a_broken_launch_file_fails_naming_each_problem(tmp_path: Path) -> None:
    path = tmp_path / "broken.launch.py"
    path.write_text(BROKEN_LAUNCH)
    problems = "\n".join(launch_file_problems(path))
    assert "executable 'refer_nod' is not in scripts/ros2run/" in problems
    assert "nope.yaml: parameter file does not exist" in problems
    assert "tf_timeout_s is int, declared float" in problems
    assert "unknown parameter 'target_fram'" in problems
    assert "remaps 'camera/image_raw', which refer_node does not use" in problems
    assert "package 'someone_else'" in problems


def test_a_broken_config_fails_naming_the_node_and_parameter(tmp_path: Path) -> None:
    path = tmp_path / "robot.yaml"
    path.write_text(
        "refer_node:\n  ros__parameters:\n    qos_depth: 5.0\n    backend: ground_truth\n"
        "pick_place_node:\n  ros__parameters:\n    workspace_min_xyz: [0, 0, 0]\n"
        "    approach_distance_m: 5.0\n    gripper_speed: 1.0\n"
        "arm_node:\n  ros__parameters:\n    x: 1\n"
    )
    problems = "\n".join(check(path))
    assert "[refer_node]: qos_depth is float, declared int" in problems
    assert "[pick_place_node]: workspace_min_xyz is list[int], declared list[float]" in problems
    assert "[pick_place_node]: approach_distance_m=5.0 is outside [0.0, 1.0]" in problems
    assert "[pick_place_node]: unknown parameter 'gripper_speed'" in problems
    assert "section 'arm_node' is for no node of roborefer_ros" in problems
    assert "backend" not in problems


def test_cli_exit_code_and_messages(tmp_path: Path) -> None:
    good = [str(p) for p in [*LAUNCH_FILES, *sorted((ROOT / "config").glob("*.yaml"))]]
    bad = tmp_path / "refer_node.bad.yaml"
    bad.write_text("/**:\n  ros__parameters:\n    max_range_m: 10\n")
    run = [sys.executable, "-m", "roborefer_ros.tools.config_check"]
    ok = subprocess.run([*run, *good], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    failed = subprocess.run([*run, str(bad)], capture_output=True, text=True, timeout=60)
    assert failed.returncode == 1
    assert "refer_node.bad.yaml [refer_node]: max_range_m is int, declared float" in failed.stderr
