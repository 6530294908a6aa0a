"""config/*.yaml may only set parameters the nodes declare, with the declared types (the check
lives in roborefer_ros.tools.config_check, shared with the launch-file checks)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from roborefer_ros.ros.refer.params import REFER_NODE_PARAMETERS
from roborefer_ros.tools.config_check import param_file_problems

ROOT = Path(__file__).resolve().parent.parent
DECLARED = {spec.name: spec for spec in REFER_NODE_PARAMETERS}
CONFIGS = sorted((ROOT / "config").glob("*.yaml"))


def _node_parameters(path: Path) -> dict[str, object]:
    data = yaml.safe_load(path.read_text())
    merged: dict[str, object] = {}
    for section in data.values():
        merged.update(section["ros__parameters"])
    return merged


def config_problems(path: Path) -> list[str]:
    """Unknown or mistyped parameters of a parameter file (the checker launch files use too)."""
    return param_file_problems(path)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_sets_only_declared_parameters_with_declared_types(path: Path) -> None:
    if path.name != "no_overrides.yaml":  # the empty overlay: sets nothing on purpose
        assert _node_parameters(path), f"{path} sets no parameter"
    assert config_problems(path) == []


def test_the_defaults_file_lists_every_parameter_with_its_default() -> None:
    params = _node_parameters(ROOT / "config" / "refer_node.yaml")
    assert params == {name: spec.default for name, spec in DECLARED.items()}


def test_the_check_catches_a_typo_and_a_mistyped_value(tmp_path: Path) -> None:
    bad = tmp_path / "refer_node_bad.yaml"
    bad.write_text("/**:\n  ros__parameters:\n    tf_timeout_s: 1\n    target_fram: map\n")
    problems = config_problems(bad)
    assert len(problems) == 2
    assert "tf_timeout_s is int, declared float" in problems[0]
    assert "unknown parameter 'target_fram'" in problems[1]


def test_pick_place_defaults_file_matches_the_declared_parameters() -> None:
    from roborefer_ros.ros.pick_place.moveit_backend import MOVEIT_PARAMETERS
    from roborefer_ros.ros.pick_place.params import PICK_PLACE_PARAMETERS

    params = _node_parameters(ROOT / "config" / "pick_place_node.yaml")

    def plain(value: object) -> object:
        return list(value) if isinstance(value, tuple) else value

    # the node's own and those of its moveit backend (config/g1.yaml has the g1's)
    declared = PICK_PLACE_PARAMETERS + MOVEIT_PARAMETERS
    assert params == {spec.name: plain(spec.default) for spec in declared}
