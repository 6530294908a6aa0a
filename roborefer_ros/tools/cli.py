"""What every command-line tool shares: argument types that reject bad input with one line
(argparse prints ``error: argument --seed: ...`` and exits 2, no traceback)."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

_Number = TypeVar("_Number", int, float)

_SEED_PART = re.compile(r"(\d+)(?:-(\d+))?")


def parse_seeds(text: str) -> tuple[int, ...]:
    """``"0-49"``, ``"3"`` or ``"1,4,7-9"`` -> sorted distinct seeds (an argparse ``type``)."""
    seeds: set[int] = set()
    for part in text.split(","):
        match = _SEED_PART.fullmatch(part.strip())
        if match is None or (match[2] is not None and int(match[2]) < int(match[1])):
            raise argparse.ArgumentTypeError(
                f"bad seed list {text!r} (part {part.strip()!r}): use e.g. 0-49 or 1,4,7-9"
            )
        first = int(match[1])
        seeds.update(range(first, int(match[2] or first) + 1))
    return tuple(sorted(seeds))


def _number(
    convert: Callable[[str], _Number], noun: str, accept: Callable[[_Number], bool], rule: str
) -> Callable[[str], _Number]:
    """An argparse ``type``: ``convert(text)``, "<text> is not <noun>" when it cannot be, "<rule>,
    got <text>" when ``accept`` refuses it."""

    def parse(text: str) -> _Number:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {noun}") from None
        if not accept(value):
            raise argparse.ArgumentTypeError(f"{rule}, got {text.strip()}")
        return value

    return parse


_INF = float("inf")
# A scene seed; counts and sizes; timeouts and rates; shares (argparse ``type``s).
seed = _number(int, "an integer", lambda v: v >= 0, "seeds are non-negative")
positive_int = _number(int, "an integer", lambda v: v >= 1, "must be >= 1")
non_negative_int = _number(int, "an integer", lambda v: v >= 0, "must be >= 0")
positive_float = _number(float, "a number", lambda v: 0 < v < _INF, "must be a positive number")
non_negative_float = _number(float, "a number", lambda v: 0 <= v < _INF, "must be a number >= 0")
share = _number(float, "a number", lambda v: 0.0 <= v <= 1.0, "must be between 0 and 1")


def output_dir(text: str) -> Path:
    """A directory to write into: may exist as a directory, must not be a file (an argparse
    ``type``)."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} exists and is not a directory")
    return path


def domain_id(text: str) -> int:
    """A ROS_DOMAIN_ID: 0 .. 232 (an argparse ``type``)."""
    value = non_negative_int(text)
    if value > 232:
        raise argparse.ArgumentTypeError(f"ROS domain ids are 0 .. 232, got {value}")
    return value


def output_file(text: str) -> Path:
    """A file to write: not an existing directory, in a folder that exists or can be made
    (an argparse ``type``)."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a directory, not a file")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise argparse.ArgumentTypeError(f"{parent} exists and is not a directory")
            break
    return path


def text(value: str) -> str:
    """Non-empty, not only whitespace (an argparse ``type``, e.g. an instruction)."""
    if not value.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return value


def name_value(item: str) -> str:
    """``NAME=VALUE`` with a non-empty NAME (an argparse ``type``; ``--param``)."""
    name, sep, _ = item.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {item!r}")
    return item


def new_path(text: str) -> Path:
    """Something to create: must not exist yet (an argparse ``type``)."""
    path = Path(text)
    if path.exists():
        raise argparse.ArgumentTypeError(f"{text} already exists")
    return path


_SIZE = re.compile(r"(\d+)[xX](\d+)")


def image_size(text: str) -> tuple[int, int]:
    """``WIDTHxHEIGHT`` -> (width, height), both >= 1 (an argparse ``type``)."""
    match = _SIZE.fullmatch(text.strip())
    if match is None or int(match[1]) < 1 or int(match[2]) < 1:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 640x480, got {text!r}")
    return int(match[1]), int(match[2])


def size_text(text: str) -> str:
    """``WIDTHxHEIGHT`` checked, kept as the text (an argparse ``type``)."""
    width, height = image_size(text)
    return f"{width}x{height}"
