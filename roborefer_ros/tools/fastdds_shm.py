"""Remove FastDDS shared-memory files in /dev/shm that no live process holds.

FastDDS leaves ~650 KB per participant behind when a process is killed. Files a live process has
open or mapped are left alone: another graph on this machine may be using them. Used by the
launcher at exit and by scripts/clean_fastdds_shm.py after the tests.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

SHM = Path("/dev/shm")


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return float("inf")  # gone already: not a candidate


def held_shm_paths() -> set[str]:
    """/dev/shm paths some live process has open or mapped."""
    held: set[str] = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                with contextlib.suppress(OSError):
                    held.add(os.readlink(fd))
            for line in (proc / "maps").read_text().splitlines():
                if "/dev/shm/" in line:
                    held.add(line[line.index("/dev/shm/") :].split(" (deleted)")[0])
        except OSError:
            continue
    return held


def clean_fastdds_shm(shm: Path = SHM, min_age_s: float = 0.0) -> tuple[int, int]:
    """(removed, found): FastDDS files found in ``shm`` and how many of them were removed.

    ``min_age_s``: leave files modified more recently: a participant starting in another
    process creates its file a moment before it maps it, and must not lose it."""
    if not shm.is_dir():
        return 0, 0
    newest = time.time() - min_age_s
    candidates = [p for p in shm.iterdir() if "fastdds" in p.name and _mtime(p) <= newest]
    if not candidates:
        return 0, 0
    held = held_shm_paths()
    removed = 0
    for path in candidates:
        if str(path) in held:
            continue
        with contextlib.suppress(OSError):
            path.unlink()
            removed += 1
    return removed, len(candidates)
