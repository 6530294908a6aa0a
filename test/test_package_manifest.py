"""package.xml is a valid format-3 ament_cmake manifest whose version matches the Python side."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from catkin_pkg.package import Package, parse_package

import roborefer_ros

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def manifest() -> Package:
    package = parse_package(str(ROOT / "package.xml"))  # raises InvalidPackage when malformed
    package.validate()  # the stricter checks colcon and bloom apply (e-mails, names, versions)
    return package


def setup_py_version() -> str:
    """``version=`` of the ``setup(...)`` call in setup.py, read without running setup.py."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "setup":
            for keyword in node.keywords:
                if keyword.arg == "version":
                    value = ast.literal_eval(keyword.value)
                    assert isinstance(value, str)
                    return value
    raise AssertionError("setup.py has no setup(version=...) literal")


def test_manifest_identity(manifest: Package) -> None:
    assert manifest.package_format == 3
    assert manifest.name == "roborefer_ros"
    assert manifest.get_build_type() == "ament_cmake"


def test_version_is_one_number_everywhere(manifest: Package) -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", manifest.version), manifest.version
    assert setup_py_version() == manifest.version
    assert roborefer_ros.__version__ == manifest.version


def test_manifest_declares_an_interface_package(manifest: Package) -> None:
    """rosidl refuses to generate without these; ros2 interface list finds it through the group."""
    buildtool = {d.name for d in manifest.buildtool_depends}
    assert {"ament_cmake", "rosidl_default_generators"} <= buildtool
    assert "rosidl_default_runtime" in {d.name for d in manifest.exec_depends}
    assert "rosidl_interface_packages" in {g.name for g in manifest.member_of_groups}


def test_cmake_project_is_the_package(manifest: Package) -> None:
    cmake = (ROOT / "CMakeLists.txt").read_text()
    match = re.search(r"^\s*project\(\s*([A-Za-z0-9_]+)", cmake, re.MULTILINE)
    assert match is not None, "CMakeLists.txt has no project()"
    assert match.group(1) == manifest.name
