"""What every command-line tool shares: argument types that reject bad input with one line
(argparse prints ``error: argument --seed: ...`` and exits 2, no traceback)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

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


def seed(text: str) -> int:
    """A scene seed: a non-negative integer (an argparse ``type``)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"seeds are non-negative, got {value}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0 (an argparse ``type``)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def output_dir(text: str) -> Path:
    """A directory to write into: may exist as a directory, must not be a file (an argparse
    ``type``)."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} exists and is not a directory")
    return path
