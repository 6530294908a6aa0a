"""launch/*.launch.py, read with ast (launch is not installed here): every node is one of ours (or
an allowed external one), its parameter files exist and set only what it declares, with the
declared types, and its remappings start from topics it uses. The same checker must fail broken
files with a message naming the problem."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from roborefer_ros.tools import config_check
from roborefer_ros.tools.config_check import (
    NODE_NAMES,
    check,
    effective_parameters,
    launch_file_problems,
    param_file_problems,
    parse_launch_file,
)

ROOT = Path(__file__).resolve().parent.parent
LAUNCH_FILES = sorted((ROOT / "launch").glob("*.launch.py"))
CAMERA_TOPICS = {"color/image_raw", "color/camera_info", "aligned_depth_to_color/image_raw"}


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
        assert node.name == NODE_NAMES.get(node.executable, node.executable)
        assert node.param_files, f"{path.name}: {node.name} gets no parameter file"
        for params in node.param_files:
            assert params.is_file()
            assert params.parent == ROOT / "config"
        if node.executable == "refer_node":
            assert {src for src, _ in node.remappings} == CAMERA_TOPICS


def test_ur5_runs_moveit_on_the_realsense_layout() -> None:
    refer, pick = (p for p in parse_launch_file(ROOT / "launch" / "ur5.launch.py"))
    assert (refer.source.name, pick.source.name) == ("refer_node.launch.py", "nodes.launch.py")
    assert dict(refer.remappings)["aligned_depth_to_color/image_raw"] == (
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


# -- what README says about launch arguments ----------------------------------------------------

README = ROOT / "README.md"


def _sentinel(argument: str) -> str:
    if argument.endswith("params_file"):
        return f"/sentinel/{argument}.yaml"
    return "/sentinel_ns" if argument == "camera_ns" else f"SENTINEL_{argument}"


def _honoured(path: Path, argument: str) -> bool:
    """Whether ``argument:=VALUE`` on the command line reaches a process the file starts (an
    include that passes its own value hides it, as ros2 launch does)."""
    value = _sentinel(argument)
    try:
        processes = parse_launch_file(path, {argument: value})
    except config_check.ConfigError:  # "unknown launch argument(s) ...": not taken at all
        return False
    seen = repr([(p.cmd, p.param_files, p.parameters, p.remappings) for p in processes])
    return value in seen


def readme_launch_pieces() -> set[str]:
    """The launch files README's sentence leaves out ("Every launch file but `x` and `y`
    takes"): building blocks the others include, not meant to be started alone."""
    text = " ".join(README.read_text().split())
    match = re.search(r"Every launch file but (.+?) takes", text)
    return set(re.findall(r"`(\w+)`", match.group(1))) if match else set()


def readme_launch_claims() -> list[tuple[str, frozenset[str]]]:
    """(argument, launch files it is claimed for) from README's sentence "Every launch file takes
    `a:=`, ...; all but `x` and `y` (...) also `b:=`, and all but `z` (...) `c:=`."."""
    text = " ".join(README.read_text().split())
    match = re.search(r"Every launch file (?:but (.+?) )?takes (.+?\)\.)", text)
    assert match is not None, "README no longer says what every launch file takes"
    pieces = set(re.findall(r"`(\w+)`", match.group(1) or ""))  # files not meant for users
    everyone, *rest = re.split(r"; |, and (?=all but)", match.group(2))
    names = {path.name.removesuffix(".launch.py") for path in LAUNCH_FILES}
    assert pieces <= names, pieces
    names -= pieces
    claims = [(arg, frozenset(names)) for arg in re.findall(r"`(\w+):=`", everyone)]
    for clause in rest:
        but = re.match(r"all but (.+?) \(", clause)
        assert but is not None, clause
        excluded = set(re.findall(r"`(\w+)`", but.group(1)))
        assert excluded <= names, excluded
        after = clause[but.end() :]
        claims += [(arg, frozenset(names - excluded)) for arg in re.findall(r"`(\w+):=`", after)]
    return claims


def test_readme_claims_about_launch_arguments_hold() -> None:
    """Each argument README says a launch file takes is declared there (or in what it includes)
    and reaches the nodes; where README says a file does not take it, it really does not."""
    claims = readme_launch_claims()
    assert {arg for arg, _ in claims} >= {
        "params_file",
        "overlay_params_file",
        "backend",
        "model_url",
        "camera_ns",
        "target_frame",
        "use_sim_time",
    }
    pieces = readme_launch_pieces()
    assert pieces <= {p.name.removesuffix(".launch.py") for p in LAUNCH_FILES}
    wrong = []
    for argument, files in claims:
        for path in LAUNCH_FILES:
            if path.name.removesuffix(".launch.py") in pieces:
                continue
            claimed = path.name.removesuffix(".launch.py") in files
            if _honoured(path, argument) != claimed:
                wrong.append(f"{path.name} {argument}:= ({'claimed' if claimed else 'excluded'})")
    assert not wrong, wrong


README_LAUNCH_LINE = re.compile(
    r"(?:ros2 launch roborefer_ros |roborefer-launch launch/)(\w+\.launch\.py)((?: \w+:=\S+)*)"
)


def test_every_launch_command_in_readme_and_docs_uses_arguments_the_file_takes() -> None:
    """The README's RealSense line, the robot lines and the docs' examples: an argument the file
    does not take (or a value it refuses) is a ConfigError naming it."""
    texts = [README.read_text(), *(p.read_text() for p in sorted((ROOT / "docs").glob("*.md")))]
    commands = [m for text in texts for m in README_LAUNCH_LINE.finditer(text)]
    assert any(
        m.group(1) == "refer_node.launch.py" and "model_url:=" in m.group(2) for m in commands
    ), "README's RealSense line is gone"
    for command in commands:
        arguments = dict(word.split(":=", 1) for word in command.group(2).split())
        parse_launch_file(ROOT / "launch" / command.group(1), arguments)  # raises if wrong


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_no_launch_file_starts_a_test_backend_unless_asked(path: Path) -> None:
    """The real model path by default; ground_truth / recorded (test instrumentation) only when
    a command line names them (bag_replay and sim defaulted to ground_truth; the node's own
    default was ground_truth, so a launch that set no backend refused its own configuration)."""
    from roborefer_ros.ros.refer.params import REFER_NODE_PARAMETERS

    default = next(s.default for s in REFER_NODE_PARAMETERS if s.name == "backend")
    assert default == "roborefer_http"
    for proc in parse_launch_file(path):
        if proc.executable == "refer_node":
            assert effective_parameters(proc).get("backend", default) == "roborefer_http"
