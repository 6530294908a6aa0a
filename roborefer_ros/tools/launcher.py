"""roborefer-launch: run a graph of processes without the ros2 CLI.

    roborefer-launch config/launch/sim_demo.yaml
    roborefer-launch launch/bag_replay.launch.py rate:=2.0

The file is either a YAML process list or one of our Python launch files (read with ``ast``, see
:mod:`roborefer_ros.tools.config_check`; ``name:=value`` sets launch arguments). YAML layout::

    cwd: ../..                 # optional, relative to this file: where the processes run
    processes:
      - name: refer_node       # log prefix; also the ROS node name unless node_name says else
        module: roborefer_ros.tools.refer_node  # or command: [roborefer-replay, data/bags/x]
        args: []               # before --ros-args
        ros: true              # add --ros-args -r __node:=NAME (default: true for modules)
        parameters: {backend: ground_truth}   # inline -p NAME:=VALUE
        params_files: [config/refer_node.yaml]
        remaps: {color/image_raw: /camera/camera/color/image_raw}
        env: {RMW_IMPLEMENTATION: rmw_cyclonedds_cpp}

Every process gets ``FASTDDS_DEFAULT_PROFILES_FILE=config/fastdds_profile.xml`` (Fast DDS's
heartbeat at 100 ms, so a lost /tf sample is repaired at once) unless the environment names a
profile already. Every line a process prints is forwarded with a ``[name]`` prefix. Ctrl-C /
SIGTERM stop all of them (SIGINT, then SIGKILL after a grace period); so does the death of any
one, and then the exit code is that process's (128 + N if signal N ended it, 1 if it exited 0),
with a message naming it. When the launcher is made and at exit, FastDDS shared-memory files
that no live process holds are removed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import yaml

from roborefer_ros.tools import config_check
from roborefer_ros.tools.cli import non_negative_float
from roborefer_ros.tools.dds_profile import apply_profile
from roborefer_ros.tools.fastdds_shm import clean_fastdds_shm

GRACE_S = 5.0


class LaunchError(Exception):
    """A launch description that cannot be run; the message names the bad entry."""


@dataclass(frozen=True)
class ProcessSpec:
    """One process to run: ``argv`` is complete (``--ros-args`` included)."""

    name: str
    argv: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None


def ros_arguments(
    node_name: str | None,
    parameters: dict[str, object],
    params_files: Sequence[Path | str],
    remaps: Sequence[tuple[str, str]],
) -> list[str]:
    """``--ros-args`` for a node; inline parameters come last, so they win over the files."""
    args = ["--ros-args"]
    if node_name:
        args += ["-r", f"__node:={node_name}"]
    for path in params_files:
        args += ["--params-file", str(path)]
    for key, value in parameters.items():
        args += ["-p", f"{key}:={_yaml_value(value)}"]
    for source, target in remaps:
        args += ["-r", f"{source}:={target}"]
    return args if len(args) > 1 else []


def _yaml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        with contextlib.suppress(yaml.YAMLError):
            if isinstance(yaml.safe_load(value), str):
                return value
        return "'" + value.replace("'", "''") + "'"  # a YAML string, not the number it looks like
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("\n...")


def resolve_command(word: str) -> str:
    """A console script on PATH or beside this interpreter (a virtual environment's bin/);
    ``python3`` / ``python`` is this interpreter."""
    if word in ("python", "python3"):
        return sys.executable
    found = shutil.which(word) or shutil.which(word, path=str(Path(sys.executable).parent))
    if found is None:
        raise LaunchError(f"command {word!r} not found on PATH or in {Path(sys.executable).parent}")
    return found


def _str_map(entry: dict[str, Any], key: str, where: str) -> dict[str, str]:
    value = entry.get(key) or {}
    if not isinstance(value, dict):
        raise LaunchError(f"{where}: {key} must be a mapping")
    return {str(k): str(v) for k, v in value.items()}


def specs_from_yaml(path: Path) -> list[ProcessSpec]:
    try:
        data = config_check.load_yaml(path)
    except config_check.ConfigError as exc:
        raise LaunchError(str(exc)) from None
    if not isinstance(data, dict) or not isinstance(data.get("processes"), list):
        raise LaunchError(f"{path}: expected a mapping with a 'processes' list")
    cwd = (path.parent / str(data.get("cwd", "."))).resolve()
    specs: list[ProcessSpec] = []
    for index, entry in enumerate(data["processes"]):
        where = f"{path.name}: processes[{index}]"
        if not isinstance(entry, dict) or not entry.get("name"):
            raise LaunchError(f"{where}: needs a name")
        name = str(entry["name"])
        where = f"{path.name}: process {name!r}"
        args = [str(a) for a in entry.get("args") or []]
        if "module" in entry:
            argv = [sys.executable, "-m", str(entry["module"]), *args]
            ros_default = True
        elif "command" in entry:
            command = entry["command"]
            words = [str(w) for w in (command if isinstance(command, list) else [command])]
            argv = [resolve_command(words[0]), *words[1:], *args]
            ros_default = False
        else:
            raise LaunchError(f"{where}: needs a module or a command")
        parameters = entry.get("parameters") or {}
        if not isinstance(parameters, dict):
            raise LaunchError(f"{where}: parameters must be a mapping")
        files = [cwd / str(f) for f in entry.get("params_files") or []]
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise LaunchError(f"{where}: params file(s) not found: {', '.join(missing)}")
        remaps = list(_str_map(entry, "remaps", where).items())
        if entry.get("ros", ros_default):
            node_name = str(entry.get("node_name", name))
            argv += ros_arguments(node_name, parameters, files, remaps)
        elif parameters or files or remaps:
            raise LaunchError(f"{where}: parameters and remaps need ros: true")
        specs.append(ProcessSpec(name, tuple(argv), _str_map(entry, "env", where), cwd))
    if len({s.name for s in specs}) != len(specs):
        raise LaunchError(f"{path}: process names must be unique")
    return specs


def specs_from_launch_file(path: Path, arguments: dict[str, str]) -> list[ProcessSpec]:
    try:
        processes = config_check.parse_launch_file(path, arguments)
    except config_check.ConfigError as exc:
        raise LaunchError(f"{path.name}: {exc}") from None
    specs: list[ProcessSpec] = []
    for proc in processes:
        if proc.kind == "process":
            argv = [resolve_command(proc.cmd[0]), *proc.cmd[1:]]
            specs.append(ProcessSpec(proc.name, tuple(argv)))
            continue
        problems = config_check.node_problems(proc, proc.source.name)
        if problems:
            raise LaunchError("; ".join(problems))
        module = config_check.ros2run_module(proc.executable)
        if proc.package != config_check.PACKAGE or module is None:
            raise LaunchError(f"{path.name}: cannot run {proc.package}/{proc.executable} here")
        ros = ros_arguments(proc.name, proc.parameters, proc.param_files, proc.remappings)
        specs.append(ProcessSpec(proc.name, (sys.executable, "-m", module, *ros)))
    return specs


def load_specs(path: Path, arguments: dict[str, str] | None = None) -> list[ProcessSpec]:
    if not path.is_file():
        raise LaunchError(f"{path}: no such file")
    if path.suffix == ".py":
        return specs_from_launch_file(path, dict(arguments or {}))
    if arguments:
        raise LaunchError("NAME:=VALUE arguments apply to launch files only")
    return specs_from_yaml(path)


# -- running ------------------------------------------------------------------------------------


class _Child:
    def __init__(self, spec: ProcessSpec, out: IO[str], lock: threading.Lock) -> None:
        self.spec = spec
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        apply_profile(env)  # Fast DDS's 100 ms heartbeat (late /tf), unless a profile is set
        env.update(spec.env)
        self.proc = subprocess.Popen(
            list(spec.argv),
            env=env,
            cwd=spec.cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # our signals reach it only when we forward them
        )
        self._thread = threading.Thread(target=self._forward, args=(out, lock), daemon=True)
        self._thread.start()

    def _forward(self, out: IO[str], lock: threading.Lock) -> None:
        assert self.proc.stdout is not None
        for raw in iter(self.proc.stdout.readline, b""):
            line = raw.decode(errors="replace").rstrip("\n")
            with lock:
                out.write(f"[{self.spec.name}] {line}\n")
                out.flush()

    def join_output(self, timeout_s: float) -> None:
        self._thread.join(timeout=timeout_s)


STALE_SHM_AGE_S = 2.0  # an unheld Fast DDS file this old belongs to no starting participant


class Launcher:
    """Starts processes, watches them, and stops them all together."""

    def __init__(
        self, specs: Sequence[ProcessSpec], grace_s: float = GRACE_S, out: IO[str] | None = None
    ) -> None:
        """``out``: where the children's prefixed lines go (default: stdout)."""
        self.specs = list(specs)
        self.grace_s = grace_s
        self.out = out
        self.children: list[_Child] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        # Files of processes that died without cleaning up (a kill, a crash, or the caller's own
        # participants, alive when the last graph stopped): a new participant given a dead
        # one's shared-memory port lost messages for the whole run (the simulated G1's graph
        # then never got its frames, a refer answer or its goal: docs/reliability.md). Done
        # here, before the caller starts threads, and only files untouched for a while: a
        # participant being created (here or in another process) while the files are scanned
        # would lose its own fresh, not yet held, port file.
        removed, _ = clean_fastdds_shm(min_age_s=STALE_SHM_AGE_S)
        if removed:
            self.say(f"removed {removed} FastDDS shared-memory file(s) left by ended processes")

    def say(self, text: str) -> None:
        with self._lock:
            print(f"[roborefer-launch] {text}", file=sys.stderr, flush=True)

    def request_stop(self, signum: int = signal.SIGINT, frame: object = None) -> None:
        self._stop.set()

    def run(self) -> int:
        """Run until a signal or until a process ends; returns the exit code."""
        code = 0
        try:
            for spec in self.specs:
                self.children.append(_Child(spec, self.out or sys.stdout, self._lock))
                self.say(f"started {spec.name} (pid {self.children[-1].proc.pid})")
            while not self._stop.wait(0.1):
                dead = next((c for c in self.children if c.proc.poll() is not None), None)
                if dead is not None:
                    returncode = int(dead.proc.returncode)
                    code = returncode if returncode > 0 else (128 - returncode if returncode else 1)
                    self.say(
                        f"process {dead.spec.name!r} exited with code {returncode}; "
                        "stopping the others"
                    )
                    break
        except OSError as exc:
            self.say(f"could not start a process: {exc}")
            code = 1
        finally:
            self.shutdown()
        return code

    def shutdown(self) -> None:
        alive = [c for c in self.children if c.proc.poll() is None]
        for child in alive:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.proc.pid, signal.SIGINT)
        deadline = time.monotonic() + self.grace_s
        for child in alive:
            try:
                child.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say(f"{child.spec.name} ignored SIGINT for {self.grace_s} s: killing it")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.proc.pid, signal.SIGKILL)
                child.proc.wait()
        for child in self.children:
            # A killed process's own children (same session) must not outlive it either.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.proc.pid, signal.SIGKILL)
            child.join_output(1.0)
        removed, _ = clean_fastdds_shm()
        if removed:
            self.say(f"removed {removed} stale FastDDS shared-memory file(s)")


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="roborefer-launch", description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path, help="process list (*.yaml) or launch file (*.py)")
    parser.add_argument("arguments", nargs="*", help="launch arguments NAME:=VALUE")
    parser.add_argument(
        "--grace", type=non_negative_float, default=GRACE_S, help="SIGINT-to-SIGKILL, s"
    )
    parser.add_argument("--dry-run", action="store_true", help="print the command lines only")
    return parser.parse_intermixed_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    arguments: dict[str, str] = {}
    for item in args.arguments:
        name, sep, value = item.partition(":=")
        if not sep or not name:
            print(f"roborefer-launch: expected NAME:=VALUE, got {item!r}", file=sys.stderr)
            return 2
        arguments[name] = value
    try:
        specs = load_specs(args.file, arguments)
    except LaunchError as exc:
        print(f"roborefer-launch: {exc}", file=sys.stderr)
        return 2
    if args.dry_run:
        for spec in specs:
            print(f"[{spec.name}] {' '.join(spec.argv)}")
        return 0
    launcher = Launcher(specs, args.grace)
    signal.signal(signal.SIGINT, launcher.request_stop)
    signal.signal(signal.SIGTERM, launcher.request_stop)
    return launcher.run()


if __name__ == "__main__":
    raise SystemExit(main())
