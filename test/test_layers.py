"""Layering: core, backends and pipeline stay ROS-free, and imports only point down.

Each module is imported in a fresh interpreter (so nothing another test imported hides a leak) and
the child's ``sys.modules`` is checked. Modules are enumerated with ``pkgutil.walk_packages``, so a
new file in core/ or backends/ is covered without touching this test.
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

import roborefer_ros.backends
import roborefer_ros.bags
import roborefer_ros.core
import roborefer_ros.eval
import roborefer_ros.manipulation
import roborefer_ros.sim

ROOT = Path(__file__).resolve().parents[1]

# Top-level module names that mean "this needs ROS 2" (besides any *_msgs package).
ROS_MODULES = (
    "rclpy",
    "rcl_interfaces",
    "builtin_interfaces",
    "rosidl_runtime_py",
    "rosidl_parser",
    "rpyutils",
    "tf2_ros",
    "message_filters",
    "cv_bridge",
)
# Layers above each one (imports point down: core -> backends -> pipeline -> ros -> tools). The
# generated interfaces (msg/srv/action) are ROS types too.
GENERATED = ("roborefer_ros.msg", "roborefer_ros.srv", "roborefer_ros.action")
UPPER_LAYERS = {
    "core": (
        "roborefer_ros.backends",
        "roborefer_ros.pipeline",
        "roborefer_ros.ros",
        "roborefer_ros.tools",
        "roborefer_ros.testing",
        *GENERATED,
    ),
    "backends": (
        "roborefer_ros.pipeline",
        "roborefer_ros.ros",
        "roborefer_ros.tools",
        "roborefer_ros.testing",
        *GENERATED,
    ),
    "pipeline": ("roborefer_ros.ros", "roborefer_ros.tools", "roborefer_ros.testing", *GENERATED),
    # recorded data and evaluation: ROS-free tooling over core, backends, sim (rosbags, no rclpy)
    "bags": ("roborefer_ros.pipeline", "roborefer_ros.ros", "roborefer_ros.tools", *GENERATED),
    "eval": ("roborefer_ros.ros", "roborefer_ros.tools", "roborefer_ros.testing", *GENERATED),
    # manipulation planning and the simulated arm: ROS-free (MoveIt messages live in ros/)
    "manipulation": (
        "roborefer_ros.pipeline",
        "roborefer_ros.ros",
        "roborefer_ros.tools",
        "roborefer_ros.testing",
        *GENERATED,
    ),
    # simulation builds on the core only (no model, no ROS): scenes, truth, referring expressions
    "sim": (
        "roborefer_ros.backends",
        "roborefer_ros.pipeline",
        "roborefer_ros.ros",
        "roborefer_ros.tools",
        "roborefer_ros.testing",
        *GENERATED,
    ),
}


def modules_of(package: ModuleType) -> list[str]:
    found = pkgutil.walk_packages(package.__path__, package.__name__ + ".")
    return sorted([package.__name__, *(m.name for m in found)])


CASES = (
    [(name, "core") for name in modules_of(roborefer_ros.core)]
    + [(name, "backends") for name in modules_of(roborefer_ros.backends)]
    + [("roborefer_ros.pipeline", "pipeline")]
    + [(name, "sim") for name in modules_of(roborefer_ros.sim)]
    + [(name, "bags") for name in modules_of(roborefer_ros.bags)]
    + [(name, "eval") for name in modules_of(roborefer_ros.eval)]
    + [(name, "manipulation") for name in modules_of(roborefer_ros.manipulation)]
)

# The child records who asks for a forbidden module (the first roborefer_ros frame on the stack),
# then imports the module under test and reports its sys.modules.
CHILD = textwrap.dedent(
    """
    import importlib, json, sys, traceback

    forbidden_roots, forbidden_prefixes = json.loads(sys.argv[2])
    culprits = {}

    def forbidden(name):
        root = name.split(".")[0]
        return (
            root in forbidden_roots
            or root.endswith("_msgs")
            or any(name == p or name.startswith(p + ".") for p in forbidden_prefixes)
        )

    class Witness:
        def find_spec(self, name, path=None, target=None):
            if forbidden(name) and name not in culprits:
                frames = [
                    f"{f.filename}:{f.lineno}"
                    for f in traceback.extract_stack()
                    if "roborefer_ros" in f.filename and "<frozen" not in f.filename
                ]
                culprits[name] = frames[-1] if frames else "?"
            return None

    sys.meta_path.insert(0, Witness())
    importlib.import_module(sys.argv[1])
    loaded = sorted(n for n in sys.modules if forbidden(n))
    print(json.dumps({"loaded": loaded, "culprits": {n: culprits.get(n, "?") for n in loaded}}))
    """
)


@pytest.mark.parametrize(("module", "layer"), CASES, ids=[m for m, _ in CASES])
def test_module_is_ros_free_and_imports_only_down(module: str, layer: str) -> None:
    spec = json.dumps([list(ROS_MODULES), list(UPPER_LAYERS[layer])])
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, module, spec],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, f"importing {module} failed:\n{proc.stderr}"
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    loaded: list[str] = report["loaded"]
    # Name each offending package once, not every submodule it pulled in.
    heads = [n for n in loaded if not any(n.startswith(other + ".") for other in loaded)]
    assert not heads, f"importing {module} ({layer}) loads:\n" + "\n".join(
        f"  {name}  (first asked for at {report['culprits'][name]})" for name in heads
    )


def test_enumeration_finds_the_modules() -> None:
    """Guard against walk_packages silently finding nothing (e.g. a broken __path__)."""
    names = {m for m, _ in CASES}
    assert "roborefer_ros.core.status" in names
    assert "roborefer_ros.core.config" in names
    assert "roborefer_ros.backends.parsers" in names
    core_files = {p.stem for p in (ROOT / "roborefer_ros" / "core").glob("*.py")} - {"__init__"}
    assert {f"roborefer_ros.core.{stem}" for stem in core_files} <= names
