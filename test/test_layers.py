"""The folder tree is the architecture: each layer imports only the layers below it, nothing but
``ros/`` and ``tools/`` (and the test fixtures in ``testing/``) needs ROS, ``manipulation/`` and
the layers under it need no MuJoCo, nothing outside ``test/`` imports ``testing/``, and there is
no import circle between modules or between layers.

Two views, because each misses what the other sees:

- at run time, each module of a ROS-free layer is imported in a fresh interpreter (so nothing
  another test imported hides a leak) and the child's ``sys.modules`` is checked;
- statically, every ``import`` statement of the package is read (also the ones inside functions,
  which run only when called) and checked against the allowed layer arrows.

Modules are enumerated from the source tree, so a new file is covered without touching this test.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "roborefer_ros"

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
# The generated interfaces (msg/srv/action) are ROS types: only ros/ and tools/ use them.
GENERATED = ("roborefer_ros.msg", "roborefer_ros.srv", "roborefer_ros.action")

#: layer -> the layers it may import (imports point down; a layer always imports itself).
ALLOWED: dict[str, frozenset[str]] = {
    "core": frozenset(),
    "backends": frozenset({"core"}),
    "manipulation": frozenset({"core"}),
    "pipeline": frozenset({"core", "backends"}),
    "sim": frozenset({"core", "manipulation"}),
    "bags": frozenset({"core", "sim"}),
    "eval": frozenset({"core", "backends", "bags", "sim"}),
    "ros": frozenset({"core", "backends", "manipulation", "pipeline", "sim", "generated"}),
    "testing": frozenset({"core", "manipulation", "ros"}),
    "tools": frozenset(
        {"core", "backends", "manipulation", "pipeline", "sim", "bags", "eval", "ros", "generated"}
    ),
}
ROS_FREE = ("core", "backends", "manipulation", "pipeline", "sim", "bags", "eval")
#: layers that must not load MuJoCo (the robot-independent seam and below)
MUJOCO_FREE = ("core", "backends", "manipulation", "pipeline")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: dict[str, Path] = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module: str) -> str:
    """``roborefer_ros.sim.arms.g1`` -> ``sim``; the generated interfaces -> ``generated``."""
    if module.startswith(GENERATED):
        return "generated"
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "package"


def imports_of(path: Path) -> set[str]:
    """The roborefer_ros modules a file imports anywhere in it (functions included), resolved to
    the deepest existing module (``from pkg import name`` -> ``pkg.name`` when that is a module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            if not name.startswith("roborefer_ros"):
                continue
            if name.startswith(GENERATED):
                found.add(name)
                continue
            while name not in MODULES and "." in name:
                name = name.rsplit(".", 1)[0]
            if name in MODULES:
                found.add(name)
    return found


EDGES: dict[str, set[str]] = {m: imports_of(p) - {m} for m, p in MODULES.items()}


def test_every_layer_imports_only_the_layers_below_it() -> None:
    wrong = sorted(
        f"{module} ({layer_of(module)}) imports {dep} ({layer_of(dep)})"
        for module, deps in EDGES.items()
        for dep in deps
        if layer_of(module) in ALLOWED
        and layer_of(dep) != layer_of(module)
        and layer_of(dep) not in ALLOWED[layer_of(module)]
    )
    assert not wrong, "\n".join(wrong)


def test_nothing_outside_the_tests_imports_testing() -> None:
    users = sorted(
        module
        for module, deps in EDGES.items()
        if layer_of(module) != "testing" and any(layer_of(d) == "testing" for d in deps)
    )
    assert not users, users


def _cycles(nodes: list[str], edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in nodes:
        if node not in index:
            visit(node)
    return found


def test_no_import_circle_between_modules() -> None:
    # a package importing its own submodules (re-exports) is not a circle
    edges = {m: {d for d in deps if not d.startswith(m + ".")} for m, deps in EDGES.items()}
    assert _cycles(sorted(MODULES), edges) == []


def test_no_import_circle_between_rooms() -> None:
    """Rooms: the top folders and their sub-folders (``sim/arms``, ``ros/refer``, ...)."""

    def room(module: str) -> str:
        path = MODULES.get(module)
        if path is None:  # generated interfaces
            return "generated"
        return str(path.parent.relative_to(ROOT))

    edges: dict[str, set[str]] = defaultdict(set)
    for module, deps in EDGES.items():
        for dep in deps:
            if room(dep) != room(module) and not room(dep).startswith(room(module) + "/"):
                edges[room(module)].add(room(dep))
    assert _cycles(sorted({room(m) for m in MODULES}), edges) == []


def test_the_static_view_finds_the_modules_and_their_imports() -> None:
    """Guard against an enumeration or a parser that silently finds nothing."""
    assert "roborefer_ros.core.status" in MODULES
    assert "roborefer_ros.sim.arms.executor" in MODULES
    assert "roborefer_ros.core.status" in EDGES["roborefer_ros.core.depth"]
    assert "roborefer_ros.ros.refer.params" in EDGES["roborefer_ros.ros.refer.node"]
    assert any(layer_of(d) == "generated" for d in EDGES["roborefer_ros.ros.refer.node"])
    assert len(EDGES) == len(MODULES) > 100


# -- at run time --------------------------------------------------------------------------------

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

CASES = [(m, layer_of(m)) for m in sorted(MODULES) if layer_of(m) in ROS_FREE]


def _below(layer: str) -> set[str]:
    """Every layer ``layer`` may load at run time: what it imports, and what those import."""
    seen: set[str] = set()
    todo = [layer]
    while todo:
        for lower in ALLOWED.get(todo.pop(), frozenset()):
            if lower not in seen:
                seen.add(lower)
                todo.append(lower)
    return seen


def _forbidden_at_run_time(layer: str) -> tuple[list[str], list[str]]:
    roots = list(ROS_MODULES) + (["mujoco"] if layer in MUJOCO_FREE else [])
    upper = [f"roborefer_ros.{o}" for o in ALLOWED if o != layer and o not in _below(layer)]
    return roots, upper + list(GENERATED)


@pytest.mark.parametrize(("module", "layer"), CASES, ids=[m for m, _ in CASES])
def test_module_is_ros_free_and_imports_only_down(module: str, layer: str) -> None:
    spec = json.dumps(_forbidden_at_run_time(layer))
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


def test_run_time_cases_cover_every_ros_free_layer() -> None:
    assert {layer for _, layer in CASES} == set(ROS_FREE)
    core_files = {p.stem for p in (PACKAGE / "core").glob("*.py")} - {"__init__"}
    assert {f"roborefer_ros.core.{stem}" for stem in core_files} <= {m for m, _ in CASES}
