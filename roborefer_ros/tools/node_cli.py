"""What the three node executables share on the command line: ``--help`` (usage and the declared
parameters, without starting a node), refusal of stray arguments, and ``rclpy.init`` whose errors
(an unreadable ``--params-file``, a malformed ``-p``) become one line and exit code 2.

Everything after ``--ros-args`` is for ROS (``-p NAME:=VALUE``, ``--params-file FILE``,
``-r FROM:=TO``); before it, only ``-h`` / ``--help``.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence

import yaml

from roborefer_ros.ros.params import ParameterSpec

EXIT_USAGE = 2  # bad arguments or a configuration the node refuses


class StartError(Exception):
    """The node cannot start; the message is one line for stderr."""


def _parameter_lines(specs: Sequence[ParameterSpec]) -> list[str]:
    lines = []
    for spec in specs:
        default = spec.default
        shown = ("true" if default else "false") if isinstance(default, bool) else repr(default)
        span = f" [{spec.min_value:g} .. {spec.max_value:g}]" if spec.range is not None else ""
        lines.append(f"  {spec.name} = {shown}{span}: {spec.description}")
    return lines


def parse_node_args(
    prog: str, description: str, specs: Sequence[ParameterSpec], argv: Sequence[str]
) -> None:
    """Handle ``--help`` (prints usage and exits 0) and refuse anything before ``--ros-args``
    other than it (argparse's one-line error, exit 2). ``argv`` without the program name."""
    own = list(argv[: argv.index("--ros-args")] if "--ros-args" in argv else argv)
    parser = argparse.ArgumentParser(
        prog=prog,
        usage=f"{prog} [-h] [--ros-args [-p NAME:=VALUE] [--params-file FILE] [-r FROM:=TO] ...]",
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="parameters (name = default [range]: meaning; docs/parameters.md has them all):\n"
        + "\n".join(_parameter_lines(specs)),
    )
    parser.parse_args(own)


def _one_line(text: str) -> str:
    """rcl's error text without its source locations, on one line."""
    text = re.sub(r",? at /\S+:\d+", "", text)
    text = re.sub(r"^failed to initialize rcl: ", "", text.strip())
    return " ".join(text.split())


def _check_params_file(path: str) -> None:
    """The mistakes rcl would report in several lines of its own, named in one."""
    if not os.path.exists(path):
        raise StartError(f"--params-file {path}: no such file")
    if not os.path.isfile(path) or not os.access(path, os.R_OK):
        raise StartError(f"--params-file {path}: not a readable file")
    try:
        with open(path, encoding="utf-8") as stream:
            data = yaml.safe_load(stream)
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        where = getattr(err, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        problem = getattr(err, "problem", None) or type(err).__name__
        raise StartError(f"--params-file {path}: not valid YAML: {problem}{line}") from None
    sections = data.values() if isinstance(data, dict) else None
    if sections is None or not all(
        isinstance(section, dict) and isinstance(section.get("ros__parameters"), dict)
        for section in sections
    ):
        raise StartError(
            f"--params-file {path}: not a ROS 2 parameter file "
            "(expected NODE_NAME: {ros__parameters: {NAME: VALUE, ...}})"
        )


def _check_ros_args(argv: Sequence[str]) -> None:
    if "--ros-args" not in argv:
        return
    ros = list(argv[argv.index("--ros-args") + 1 :])
    for i, word in enumerate(ros):
        if word in ("-p", "--param") and (i + 1 >= len(ros) or ":=" not in ros[i + 1]):
            given = ros[i + 1] if i + 1 < len(ros) else "nothing"
            raise StartError(f"{word} expects NAME:=VALUE, got {given}")
        if word == "--params-file":
            if i + 1 >= len(ros):
                raise StartError("--params-file expects a file")
            _check_params_file(ros[i + 1])


def init_rclpy(argv: Sequence[str], **init_kwargs: object) -> None:
    """``rclpy.init`` with the full argument list (program name first); StartError, one line,
    for what rcl refuses."""
    import rclpy
    from rclpy._rclpy_pybind11 import RCLError

    _check_ros_args(argv)
    try:
        rclpy.init(args=list(argv), **init_kwargs)  # type: ignore[arg-type]
    except RCLError as err:
        raise StartError(_one_line(str(err))) from None


def fail(prog: str, message: str) -> int:
    """Print ``prog: message`` on stderr; the exit code for a refused start."""
    print(f"{prog}: {message}", file=sys.stderr)
    return EXIT_USAGE
