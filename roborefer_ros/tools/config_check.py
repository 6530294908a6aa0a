"""Check parameter files and launch files against the parameters our nodes declare.

    python -m roborefer_ros.tools.config_check config/ur5.yaml launch/ur5.launch.py

A parameter file may only set parameters the node declares, with the declared type (rclpy types
strictly: ``1`` is an integer, ``1.0`` a double) and within the declared range. A launch file is
read with :mod:`ast` (``launch`` need not be installed): every ``Node(...)`` call must name one of
our executables (or an allowed external package), its parameter files must exist and pass the
check above for the node's name, and its remappings must start from topics the node uses.
``ExecuteProcess(cmd=[...])`` calls are read too, so the launcher can run the same processes, and
``IncludeLaunchDescription(PythonLaunchDescriptionSource(path), launch_arguments={...}.items())``
of another of our launch files is followed with the arguments it passes. A launch argument
declared with ``choices`` refuses any other value, as ``ros2 launch`` does.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from roborefer_ros.ros.params import ParameterSpec
from roborefer_ros.ros.pick_place.g1_params import G1_PARAMETERS
from roborefer_ros.ros.pick_place.moveit_backend import MOVEIT_PARAMETERS
from roborefer_ros.ros.pick_place.params import PICK_PLACE_PARAMETERS
from roborefer_ros.ros.refer.params import REFER_NODE_PARAMETERS
from roborefer_ros.ros.sim.move_group.params import SIM_MOVE_GROUP_PARAMETERS
from roborefer_ros.ros.sim.params import SIM_NODE_PARAMETERS

PACKAGE = "roborefer_ros"
ROOT = Path(__file__).resolve().parents[2]
ROS2RUN = ROOT / "scripts" / "ros2run"

#: The node name an executable runs as, where it is not the executable's own name
#: (sim_move_group stands in for MoveIt's move_group, under its name).
NODE_NAMES: dict[str, str] = {"sim_move_group": "move_group"}
#: Parameters declared per node (default name) of this package. pick_place_node also declares
#: its manipulation backend's (moveit's or the g1's, the one chosen).
NODE_PARAMETERS: dict[str, tuple[ParameterSpec, ...]] = {
    "refer_node": REFER_NODE_PARAMETERS,
    "pick_place_node": PICK_PLACE_PARAMETERS + MOVEIT_PARAMETERS + G1_PARAMETERS,
    "sim_node": SIM_NODE_PARAMETERS,
    "move_group": SIM_MOVE_GROUP_PARAMETERS,
}
#: Relative names a node's remappings may start from (what it subscribes to or publishes).
NODE_TOPICS: dict[str, frozenset[str]] = {
    "refer_node": frozenset(
        {
            "color/image_raw",
            "color/camera_info",
            "aligned_depth_to_color/image_raw",
            "/tf",
            "/tf_static",
        }
    ),
    # the g1 backend's scene check (g1_depth_topic, g1_camera_info_topic)
    "pick_place_node": frozenset(
        {"color/camera_info", "aligned_depth_to_color/image_raw", "/tf", "/tf_static"}
    ),
    "sim_node": frozenset(
        {
            "color/image_raw",
            "color/camera_info",
            "aligned_depth_to_color/image_raw",
            "/tf",
            "/tf_static",
            "/clock",
        }
    ),
    "move_group": frozenset({"/joint_states"}),
}
#: Parameters every node has (rclpy declares them).
BUILTIN_PARAMETERS: dict[str, type] = {"use_sim_time": bool}
#: Packages of other projects a launch file may start nodes from (not checked further).
EXTERNAL_PACKAGES = frozenset(
    {"ur_robot_driver", "ur_moveit_config", "realsense2_camera", "robot_state_publisher", "rviz2"}
)


class ConfigError(Exception):
    """A launch file this checker cannot read."""


# -- parameter files ----------------------------------------------------------------------------


def _type_name(value: object) -> str:
    if isinstance(value, list | tuple):
        inner = sorted({type(v).__name__ for v in value})
        return f"list[{'|'.join(inner)}]" if inner else "list"
    return type(value).__name__


def value_problem(spec: ParameterSpec, value: object) -> str | None:
    """Why ``value`` cannot be given to the declared parameter, or None."""
    default = spec.default
    if isinstance(default, tuple | list):
        if not isinstance(value, list | tuple):
            return f"{spec.name} is {_type_name(value)}, declared {_type_name(default)}"
        kinds = {type(v) for v in default} or {type(v) for v in value}
        if len({type(v) for v in value} | kinds) > 1:
            return (
                f"{spec.name} is {_type_name(value)}, declared {_type_name(default)} "
                "(write 1.0, not 1, for decimals)"
            )
        return None
    if type(value) is not type(default):
        return (
            f"{spec.name} is {_type_name(value)}, declared {_type_name(default)} "
            "(write 1.0, not 1, for decimals)"
        )
    if (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and spec.min_value is not None
        and spec.max_value is not None
        and not spec.min_value <= value <= spec.max_value
    ):
        return f"{spec.name}={value} is outside [{spec.min_value}, {spec.max_value}]"
    return None


def parameter_problems(
    values: dict[str, object], specs: tuple[ParameterSpec, ...], where: str
) -> list[str]:
    """Unknown, mistyped or out-of-range entries of ``values``, each prefixed with ``where``."""
    declared = {spec.name: spec for spec in specs}
    problems = []
    for name, value in values.items():
        if name in BUILTIN_PARAMETERS:
            if type(value) is not BUILTIN_PARAMETERS[name]:
                problems.append(f"{where}: {name} is {_type_name(value)}, declared bool")
        elif name not in declared:
            problems.append(f"{where}: unknown parameter {name!r}")
        elif (problem := value_problem(declared[name], value)) is not None:
            problems.append(f"{where}: {problem}")
    return problems


def _section_node(key: str) -> str:
    """``/ns/refer_node`` -> ``refer_node``; ``/**`` stays ``/**``."""
    return key if key == "/**" else key.rstrip("/").rsplit("/", 1)[-1]


def infer_node(path: Path) -> str | None:
    """The node a parameter file is for, from its name (``refer_node.transformers.yaml``)."""
    for node in NODE_PARAMETERS:
        if path.name.startswith(node):
            return node
    return None


def load_yaml(path: Path) -> object:
    """A YAML file's content; ConfigError, one line naming the file and the line, when it cannot
    be read or parsed (PyYAML's own message says ``<unicode string>`` and spans lines)."""
    try:
        with open(path, encoding="utf-8") as stream:
            return yaml.safe_load(stream)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "cannot be parsed"
        raise ConfigError(f"{path}: not valid YAML{line}: {problem}") from None
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"{path}: cannot be read: {why}") from None


def load_sections(path: Path) -> dict[str, dict[str, object]]:
    """Section key -> its ``ros__parameters`` of a ROS 2 parameter file."""
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path.name}: not a ROS 2 parameter file (no top-level mapping)")
    sections: dict[str, dict[str, object]] = {}
    for key, section in data.items():
        if not isinstance(section, dict) or not isinstance(section.get("ros__parameters"), dict):
            raise ConfigError(f"{path.name}: section {key!r} has no ros__parameters mapping")
        sections[str(key)] = section["ros__parameters"]
    return sections


def param_file_problems(path: Path, node: str | None = None) -> list[str]:
    """Problems of a parameter file; ``/**`` sections are checked against ``node`` (or the node
    the file name names). With ``node`` given, the file must also set something for it."""
    if not path.is_file():
        return [f"{path}: parameter file does not exist"]
    try:
        sections = load_sections(path)
    except ConfigError as exc:
        return [str(exc)]
    problems: list[str] = []
    applies = False
    for key, values in sections.items():
        target = _section_node(key)
        if target == "/**" and not values:  # sets nothing for anyone (an empty overlay)
            applies = True
            continue
        if target == "/**":
            target = node or infer_node(path) or "/**"
        applies = applies or target == node
        if target not in NODE_PARAMETERS:
            problems.append(f"{path.name}: section {key!r} is for no node of {PACKAGE}")
            continue
        problems += parameter_problems(values, NODE_PARAMETERS[target], f"{path.name} [{target}]")
    if node is not None and not applies:
        problems.append(f"{path.name}: sets no parameter for {node}")
    return problems


# -- launch files -------------------------------------------------------------------------------


@dataclass
class LaunchProcess:
    """One ``Node(...)`` or ``ExecuteProcess(...)`` of a launch file, substitutions resolved with
    the launch arguments' values."""

    kind: str  # "node" or "process"
    line: int
    source: Path = Path()  # the launch file the Node(...) is written in (an include's own file)
    package: str = ""
    executable: str = ""
    name: str = ""
    cmd: list[str] = field(default_factory=list)
    param_files: list[Path] = field(default_factory=list)
    parameters: dict[str, object] = field(default_factory=dict)
    remappings: list[tuple[str, str]] = field(default_factory=list)


class _Resolver:
    """Evaluates the subset of launch expressions our launch files use."""

    def __init__(self, tree: ast.Module, share: Path, overrides: dict[str, str]) -> None:
        self.share = share
        self.assigned: dict[str, ast.expr] = {}
        self.arguments: dict[str, ast.expr | str] = {}
        declared: set[str] = set()
        choices: dict[str, list[str]] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
                if isinstance(target, ast.Name):
                    self.assigned[target.id] = node.value
        for call in _calls(tree, "DeclareLaunchArgument"):
            name = self.literal(call.args[0]) if call.args else None
            if not isinstance(name, str):
                continue
            declared.add(name)
            default = _keyword(call, "default_value")
            if default is not None:
                self.arguments[name] = default
            allowed = _keyword(call, "choices")
            if allowed is not None:
                values = self.literal(allowed)
                if not isinstance(values, list | tuple):
                    raise ConfigError(f"line {call.lineno}: choices of {name!r} must be literal")
                choices[name] = [str(v) for v in values]
        self.declared = declared
        self.overrides = overrides  # also seen by includes, as ros2 launch's are
        self.arguments.update(overrides)
        for name, allowed_values in choices.items():
            value = self.argument(name)
            if value not in allowed_values:
                raise ConfigError(
                    f"launch argument {name}:={value!r} is not one of: {', '.join(allowed_values)}"
                )

    def literal(self, node: ast.expr) -> object:
        try:
            return ast.literal_eval(node)
        except ValueError:
            return None

    def argument(self, name: str) -> str:
        if name not in self.arguments:
            raise ConfigError(f"launch argument {name!r} has no default and no value")
        value = self.arguments[name]
        return value if isinstance(value, str) else self.text(value)

    def text(self, node: ast.expr) -> str:
        """A substitution (or list of them) as the string it becomes."""
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.Name) and node.id in self.assigned:
            return self.text(self.assigned[node.id])
        if isinstance(node, ast.List | ast.Tuple):
            return "".join(self.text(item) for item in node.elts)
        if isinstance(node, ast.Call):
            func = _func_name(node)
            if func == "LaunchConfiguration" and node.args:
                name = self.literal(node.args[0])
                return self.argument(name if isinstance(name, str) else self.text(node.args[0]))
            if func == "FindPackageShare" and node.args:
                if self.literal(node.args[0]) == PACKAGE:
                    return str(self.share)
                raise ConfigError(f"line {node.lineno}: FindPackageShare of another package")
            if func == "PathJoinSubstitution" and node.args:
                arg = node.args[0]
                parts = arg.elts if isinstance(arg, ast.List | ast.Tuple) else [arg]
                return str(Path(*(self.text(part) for part in parts)))
        raise ConfigError(f"line {node.lineno}: cannot evaluate {ast.unparse(node)!r}")

    def value(self, node: ast.expr) -> object:
        """A parameter value: a literal, a substitution read as YAML (as launch_ros does), or a
        ``ParameterValue(substitution, value_type=str)`` kept as the string it becomes."""
        literal = self.literal(node)
        if literal is not None:
            return literal
        if isinstance(node, ast.Call) and _func_name(node) == "ParameterValue" and node.args:
            kind = _keyword(node, "value_type")
            if isinstance(kind, ast.Name) and kind.id == "str":
                return self.text(node.args[0])
            node = node.args[0]
        text = self.text(node)
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError:
            raise ConfigError(f"line {node.lineno}: value {text!r} is not valid YAML") from None


def _func_name(call: ast.Call) -> str:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return ""


def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and _func_name(n) == name]


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((kw.value for kw in call.keywords if kw.arg == name), None)


def parse_launch_file(
    path: Path, arguments: dict[str, str] | None = None, share: Path = ROOT
) -> list[LaunchProcess]:
    """The processes a Python launch file starts, its includes' included; ``share`` stands for
    the package's share directory (the source tree by default). ``arguments`` set launch
    arguments as ``ros2 launch FILE name:=value`` does: for the file and the files it includes
    (where an include passes its own value, that one wins); one that no file declares is an
    error naming the ones they do."""
    given = dict(arguments or {})
    processes, declared = _parse(path, given, share)
    unknown = sorted(set(given) - declared)
    if unknown:
        raise ConfigError(
            f"unknown launch argument(s) {', '.join(unknown)}; "
            f"{path.name} takes: {', '.join(sorted(declared))}"
        )
    return processes


def _parse(
    path: Path, arguments: dict[str, str], share: Path
) -> tuple[list[LaunchProcess], set[str]]:
    """(processes, names of the launch arguments declared here or in the includes)."""
    try:
        tree = ast.parse(path.read_text(), filename=str(path))
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    resolver = _Resolver(tree, share, arguments)
    declared = set(resolver.declared)
    found: list[tuple[int, list[LaunchProcess]]] = []  # (line, processes): document order
    for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
        func = _func_name(call)
        if func == "Node":
            found.append((call.lineno, [_read_node(call, resolver, path)]))
        elif func == "ExecuteProcess":
            cmd = _keyword(call, "cmd")
            if not isinstance(cmd, ast.List | ast.Tuple):
                raise ConfigError(f"line {call.lineno}: ExecuteProcess needs a literal cmd list")
            words = [resolver.text(item) for item in cmd.elts]
            name_node = _keyword(call, "name")
            name = resolver.text(name_node) if name_node is not None else Path(words[0]).name
            process = LaunchProcess("process", call.lineno, path, name=name, cmd=words)
            found.append((call.lineno, [process]))
        elif func == "IncludeLaunchDescription":
            included, names = _read_include(call, resolver, path, share)
            found.append((call.lineno, included))
            declared |= names
    ordered = [proc for _, procs in sorted(found, key=lambda item: item[0]) for proc in procs]
    return ordered, declared


def _read_include(
    call: ast.Call, resolver: _Resolver, path: Path, share: Path
) -> tuple[list[LaunchProcess], set[str]]:
    """The processes of ``IncludeLaunchDescription(PythonLaunchDescriptionSource(FILE),
    launch_arguments={...}.items())``, FILE read with the arguments passed."""
    source = call.args[0] if call.args else _keyword(call, "launch_description_source")
    if not (isinstance(source, ast.Call) and _func_name(source) == "PythonLaunchDescriptionSource"):
        raise ConfigError(f"line {call.lineno}: include a PythonLaunchDescriptionSource(...)")
    if not source.args:
        raise ConfigError(f"line {call.lineno}: PythonLaunchDescriptionSource needs a path")
    included = Path(resolver.text(source.args[0]))
    if not included.is_absolute():
        included = path.parent / included
    passed: dict[str, str] = dict(resolver.overrides)
    given = _keyword(call, "launch_arguments")
    if isinstance(given, ast.Call) and isinstance(given.func, ast.Attribute):
        given = given.func.value  # {...}.items()
    pairs: list[tuple[ast.expr | None, ast.expr]]
    if isinstance(given, ast.Dict):
        pairs = list(zip(given.keys, given.values, strict=True))
    elif isinstance(given, ast.List | ast.Tuple):
        pairs = [
            (e.elts[0], e.elts[1])
            for e in given.elts
            if isinstance(e, ast.Tuple) and len(e.elts) == 2
        ]
    elif given is None:
        pairs = []
    else:
        raise ConfigError(f"line {call.lineno}: launch_arguments must be a literal dict or list")
    for key, value in pairs:
        name = resolver.literal(key) if key is not None else None
        if not isinstance(name, str):
            raise ConfigError(f"line {call.lineno}: launch argument names must be strings")
        passed[name] = resolver.text(value)
    try:
        return _parse(included, passed, share)
    except ConfigError as exc:
        raise ConfigError(f"line {call.lineno}: include of {included.name}: {exc}") from None


def _read_node(call: ast.Call, resolver: _Resolver, source: Path) -> LaunchProcess:
    proc = LaunchProcess("node", call.lineno, source)
    for key in ("package", "executable", "name"):
        node = _keyword(call, key)
        if node is not None:
            setattr(proc, key, resolver.text(node))
    proc.name = proc.name or proc.executable
    params = _keyword(call, "parameters")
    if params is not None:
        if not isinstance(params, ast.List | ast.Tuple):
            raise ConfigError(f"line {call.lineno}: parameters must be a list")
        for item in params.elts:
            if isinstance(item, ast.Dict):
                for key_node, value_node in zip(item.keys, item.values, strict=True):
                    pname = resolver.literal(key_node) if key_node is not None else None
                    if not isinstance(pname, str):
                        raise ConfigError(f"line {item.lineno}: parameter names must be strings")
                    proc.parameters[pname] = resolver.value(value_node)
            else:
                proc.param_files.append(Path(resolver.text(item)))
    remaps = _keyword(call, "remappings")
    if remaps is not None:
        if not isinstance(remaps, ast.List | ast.Tuple):
            raise ConfigError(f"line {call.lineno}: remappings must be a list")
        for pair in remaps.elts:
            if not isinstance(pair, ast.Tuple) or len(pair.elts) != 2:
                raise ConfigError(f"line {pair.lineno}: a remapping is a (source, target) pair")
            proc.remappings.append((resolver.text(pair.elts[0]), resolver.text(pair.elts[1])))
    return proc


def effective_parameters(proc: LaunchProcess) -> dict[str, object]:
    """What the node of ``proc`` will run with, as rcl resolves it: its sections (``/**``, its
    name) of each parameter file in order, then the inline parameters, later ones winning."""
    values: dict[str, object] = {}
    for path in proc.param_files:
        for key, section in load_sections(path).items():
            if _section_node(key) in ("/**", proc.name):
                values.update(section)
    values.update(proc.parameters)
    return values


def ros2run_module(executable: str) -> str | None:
    """The module whose ``main`` ``scripts/ros2run/<executable>`` runs, or None if none."""
    script = ROS2RUN / executable
    if not script.is_file():
        return None
    for node in ast.walk(ast.parse(script.read_text())):
        if isinstance(node, ast.ImportFrom) and any(a.name == "main" for a in node.names):
            return node.module
    return None


def node_problems(proc: LaunchProcess, where: str) -> list[str]:
    """Problems of one ``Node(...)`` of a launch file."""
    at = f"{where}:{proc.line} {proc.name or proc.executable}"
    if proc.package in EXTERNAL_PACKAGES:
        return []
    if proc.package != PACKAGE:
        return [f"{at}: package {proc.package!r} is neither {PACKAGE} nor an allowed one"]
    if ros2run_module(proc.executable) is None:
        return [f"{at}: executable {proc.executable!r} is not in scripts/ros2run/"]
    node = NODE_NAMES.get(proc.executable, proc.executable)
    specs = NODE_PARAMETERS.get(node)
    if specs is None:
        return [f"{at}: no declared parameters known for executable {proc.executable!r}"]
    problems: list[str] = []
    if proc.name != node:
        problems.append(f"{at}: node name {proc.name!r} differs from {node!r}")
    for path in proc.param_files:
        problems += [f"{at}: {p}" for p in param_file_problems(path, node)]
    problems += parameter_problems(proc.parameters, specs, f"{at} inline")
    for source, _ in proc.remappings:
        if source not in NODE_TOPICS[node]:
            problems.append(f"{at}: remaps {source!r}, which {node} does not use")
    return problems


def launch_file_problems(path: Path) -> list[str]:
    """Problems of a launch file, each naming the file, the line and the node."""
    try:
        processes = parse_launch_file(path)
    except (ConfigError, SyntaxError) as exc:
        return [f"{path.name}: {exc}"]
    nodes = [p for p in processes if p.kind == "node"]
    if not nodes:
        return [f"{path.name}: starts no Node"]
    return [problem for proc in nodes for problem in node_problems(proc, proc.source.name)]


def check(path: Path) -> list[str]:
    """Problems of a launch file (``*.py``) or a parameter file (anything else)."""
    if path.suffix == ".py":
        return launch_file_problems(path)
    return param_file_problems(path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m roborefer_ros.tools.config_check", description=__doc__.splitlines()[0]
    )
    parser.add_argument("files", nargs="+", type=Path, help="*.launch.py or parameter *.yaml")
    args = parser.parse_args(argv)
    problems = [problem for path in args.files for problem in check(path)]
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{len(args.files)} file(s), {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
