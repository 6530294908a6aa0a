"""The README documents the product as it is: commands, parameters."""

from __future__ import annotations

import re
from pathlib import Path

from roborefer_ros.ros.params import markdown_table

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_parameter_table_matches_the_declared_parameters() -> None:
    block = re.search(r"<!-- parameters:begin[^>]*-->\n(.*?)<!-- parameters:end -->", README, re.S)
    assert block is not None, "README has no parameter table markers"
    assert block.group(1).strip() == markdown_table().strip(), (
        "README parameter table is out of date: paste roborefer_ros.ros.params.markdown_table()"
    )


def test_ci_runs_the_readme_test_command() -> None:
    assert "make test " in README or "make test\n" in README
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.M), ci


def test_readme_demo_image_exists() -> None:
    for image in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", README):
        assert (ROOT / image).is_file(), image


def test_pick_place_parameter_table_matches_the_declared_parameters() -> None:
    from roborefer_ros.ros.pick_place_params import PICK_PLACE_PARAMETERS

    block = re.search(
        r"<!-- pick-place-parameters:begin[^>]*-->\n(.*?)<!-- pick-place-parameters:end -->",
        README,
        re.S,
    )
    assert block is not None, "README has no pick-place parameter table markers"
    assert block.group(1).strip() == markdown_table(PICK_PLACE_PARAMETERS).strip()


def test_sim_node_parameter_table_matches_the_declared_parameters() -> None:
    from roborefer_ros.ros.sim_node_params import SIM_NODE_PARAMETERS

    block = re.search(
        r"<!-- sim-node-parameters:begin[^>]*-->\n(.*?)<!-- sim-node-parameters:end -->",
        README,
        re.S,
    )
    assert block is not None, "README has no sim node parameter table markers"
    assert block.group(1).strip() == markdown_table(SIM_NODE_PARAMETERS).strip()
