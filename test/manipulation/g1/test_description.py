"""The one G1 URDF lookup shared by the arm bridge and the simulation."""

from __future__ import annotations

from pathlib import Path

import pytest

from roborefer_ros.manipulation.g1.description import (
    ARM_JOINTS,
    URDF_NAME,
    G1DescriptionNotFoundError,
    find_g1_urdf,
)


def test_the_installed_urdf_is_found_and_names_the_arm_joints() -> None:
    path = find_g1_urdf()
    assert path.name == URDF_NAME
    text = path.read_text()
    for side in ("left", "right"):
        for joint in ARM_JOINTS:
            assert f'name="{side}_{joint}_joint"' in text


def test_an_explicit_path_wins_and_a_wrong_one_is_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    copy = tmp_path / "g1.urdf"
    copy.write_text("<robot/>")
    monkeypatch.setenv("ROBOREFER_G1_URDF", str(copy))
    assert find_g1_urdf() == copy
    monkeypatch.setenv("ROBOREFER_G1_URDF", str(tmp_path / "nope.urdf"))
    with pytest.raises(G1DescriptionNotFoundError, match=r"nope\.urdf.*is not a file"):
        find_g1_urdf()
    assert issubclass(G1DescriptionNotFoundError, FileNotFoundError)
