"""pick_place_node parameters -> config, and the backend registry (no graph needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from roborefer_ros.manipulation.grasp_planner import GraspConfig, GraspStyle
from roborefer_ros.manipulation.steps import ExecutionStatus, StepPlan
from roborefer_ros.ros.pick_place.moveit_backend import (
    MOVEIT_PARAMETERS,
    MoveItBackend,
    load_moveit_types,
    read_moveit_config,
)
from roborefer_ros.ros.pick_place.params import PICK_PLACE_PARAMETERS, default_values, read_config
from roborefer_ros.ros.pick_place.registry import (
    BackendContext,
    UnavailableBackend,
    backend_names,
    lazy_backend,
    make_manipulation_backend,
    register_backend,
)
from roborefer_ros.sim.episodes.episode import GRASP_CONFIGS

ROOT = Path(__file__).resolve().parents[3]
MOVEIT_DEFAULTS = {spec.name: spec.default for spec in MOVEIT_PARAMETERS}


def test_defaults_make_a_valid_config() -> None:
    cfg = read_config(default_values())
    assert cfg.plan_frame == "base_link" and cfg.manipulation_backend == "moveit"
    assert cfg.grasp.style is GraspStyle.TOP_DOWN and cfg.grasp.grasp_yaw_rad is None
    moveit = read_moveit_config(MOVEIT_DEFAULTS, cfg.plan_frame)
    assert moveit.frame == "base_link" and moveit.tcp_offset_m == 0.16
    assert moveit.gripper_action == "/robotiq_gripper_controller/gripper_cmd"
    assert cfg.safety.workspace.min_xyz == (0.15, -0.6, -0.05)
    assert len({p.name for p in PICK_PLACE_PARAMETERS}) == len(PICK_PLACE_PARAMETERS)
    assert all(p.description for p in PICK_PLACE_PARAMETERS)


def test_g1_style_config() -> None:
    values = {**default_values(), "grasp_style": "frontal", "plan_frame": "torso_link"}
    values.update(grasp_yaw_auto=False, grasp_yaw_rad=0.5)
    cfg = read_config(values)
    assert cfg.grasp.style is GraspStyle.FRONTAL and cfg.grasp.grasp_yaw_rad == 0.5
    assert read_moveit_config(MOVEIT_DEFAULTS, cfg.plan_frame).frame == "torso_link"


def test_grasp_defaults_are_the_grasp_configs() -> None:
    assert read_config(default_values()).grasp == GraspConfig()


def test_g1_yaml_holds_the_grasp_settings_proven_in_simulation() -> None:
    data = yaml.safe_load((ROOT / "config" / "g1.yaml").read_text())
    cfg = read_config({**default_values(), **data["pick_place_node"]["ros__parameters"]})
    g1 = GRASP_CONFIGS["g1"]
    assert cfg.plan_frame == "torso_link"
    # every field, the speed of the linear steps included: the live graph runs this file, the
    # in-process batch GRASP_CONFIGS, and a slower approach shoves objects differently
    assert cfg.grasp == g1


def test_the_in_process_g1_bridge_runs_the_robots_file() -> None:
    """The in-process G1 episodes' bridge settings are what pick_place_node reads from
    config/g1.yaml plus the simulation's overlay (the sim layer cannot read ROS parameters)."""
    from roborefer_ros.ros.pick_place.g1_params import g1_default_values, read_g1_config
    from roborefer_ros.sim.arms.g1_bridge import G1_BRIDGE_CONFIG
    from roborefer_ros.tools.sim_live_episode import ROBOT_CONFIGS

    values = g1_default_values()
    for name in ROBOT_CONFIGS["g1"]:
        data = yaml.safe_load((ROOT / "config" / name).read_text()) or {}
        params = data.get("pick_place_node", {}).get("ros__parameters", {}) or {}
        values.update({k: v for k, v in params.items() if k.startswith("g1_")})
    assert read_g1_config(values, "torso_link").bridge == G1_BRIDGE_CONFIG


@pytest.mark.parametrize("robot", sorted(GRASP_CONFIGS))
def test_the_live_episode_runs_the_robots_file_with_the_in_process_grasp(robot: str) -> None:
    """The live episode gives pick_place_node the real robot's file plus the simulation's
    overlay (nothing else): the grasp they configure is the one the in-process episodes use."""
    from roborefer_ros.tools.sim_live_episode import ROBOT_CONFIGS

    values = default_values()
    for name in ROBOT_CONFIGS[robot]:
        data = yaml.safe_load((ROOT / "config" / name).read_text()) or {}
        values.update(data.get("pick_place_node", {}).get("ros__parameters", {}) or {})
    grasp = read_config(values).grasp
    expected = GRASP_CONFIGS[robot]
    assert grasp == expected  # the linear steps' speed too (test above)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"grasp_style": "sideways"}, "grasp_style"),
        ({"workspace_min_xyz": [0.0, 0.0]}, "workspace_min_xyz"),
        ({"workspace_max_xyz": [0.1, 1.0, 1.0]}, "below max"),
        ({"plan_frame": " "}, "plan_frame"),
        ({"frontal_min_height_m": -0.01}, "frontal_min_height_m"),
    ],
)
def test_bad_values_are_refused_by_name(change, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        read_config({**default_values(), **change})


def test_registry_names_and_unknown_backend() -> None:
    assert {"moveit", "g1", "none"} <= set(backend_names())
    assert "sim" not in backend_names()  # removed: the simulated robots use moveit and g1
    with pytest.raises(ValueError, match="unknown manipulation_backend 'sim'"):
        make_manipulation_backend("sim", BackendContext(None, "base_link"))
    with pytest.raises(ValueError, match="unknown manipulation_backend 'ur10'; known: "):
        make_manipulation_backend("ur10", BackendContext(None, "base_link"))


def test_none_backend_is_unavailable_with_a_reason() -> None:
    backend = make_manipulation_backend("none", BackendContext(None, "base_link"))
    assert backend.available() == (
        False,
        "unavailable: manipulation_backend is 'none' (dry runs only)",
    )


def test_missing_plug_in_is_unavailable_not_an_import_error() -> None:
    register_backend(
        "absent-test", lazy_backend("absent-test", "roborefer_ros.no_such_module", "make")
    )
    backend = make_manipulation_backend("absent-test", BackendContext(None, "torso_link"))
    ok, why = backend.available()
    assert isinstance(backend, UnavailableBackend) and not ok
    assert why.startswith("unavailable: roborefer_ros.no_such_module.make cannot be loaded")


def test_register_backend() -> None:
    sentinel = UnavailableBackend("mine", "x")
    register_backend("mine-test", lambda _ctx: sentinel)
    assert make_manipulation_backend("mine-test", BackendContext(None, "base_link")) is sentinel


@pytest.mark.skipif(not isinstance(load_moveit_types(), str), reason="moveit_msgs is installed")
def test_moveit_backend_without_moveit_msgs_reports_unavailable() -> None:
    backend = MoveItBackend(None, read_moveit_config(MOVEIT_DEFAULTS, "base_link"))
    assert backend.available() == (False, "unavailable: moveit_msgs not installed")
    assert backend.execute(StepPlan("base_link", ())).status is ExecutionStatus.UNAVAILABLE


def test_a_bad_moveit_setting_is_named() -> None:
    with pytest.raises(ValueError, match="max_velocity_scaling_factor"):
        read_moveit_config({**MOVEIT_DEFAULTS, "velocity_scaling": 0.0}, "base_link")


def test_each_backend_declares_its_own_parameters_and_only_when_chosen() -> None:
    from roborefer_ros.ros.pick_place.g1_params import G1_PARAMETERS

    tables = [PICK_PLACE_PARAMETERS, MOVEIT_PARAMETERS, G1_PARAMETERS]
    names = [spec.name for table in tables for spec in table]
    assert len(names) == len(set(names))  # no name in two tables
    assert not {s.name for s in MOVEIT_PARAMETERS} & {s.name for s in PICK_PLACE_PARAMETERS}
