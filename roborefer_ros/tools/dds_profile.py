"""The middleware settings every process of a roborefer graph starts with.

``config/fastdds_profile.xml`` shortens Fast DDS's heartbeat period from 3 s to 100 ms, which
bounds how long a lost reliable sample (and every later one, handed over in order) waits for its
repair: without it /tf arrives seconds late after a lost sample (docs/reliability.md). Set
through the environment before any process starts DDS, so ``roborefer-launch``, the benchmarks
and the test suite call ``apply_profile`` on the environment they pass on; a variable the user
set already wins. Harmless for other middlewares (CycloneDDS ignores it).

ROS-free and rclpy-free on purpose: it must run before rclpy is imported.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from pathlib import Path

PROFILE_ENV = "FASTDDS_DEFAULT_PROFILES_FILE"
LEGACY_PROFILE_ENV = "FASTRTPS_DEFAULT_PROFILES_FILE"  # Fast DDS 2.x (Humble)
PROFILE_NAME = "fastdds_profile.xml"

_HERE = Path(__file__).resolve()


def profile_path() -> Path | None:
    """The shipped profile: in the source tree, or in a colcon install's share directory."""
    candidates = [_HERE.parents[2] / "config" / PROFILE_NAME]
    # a colcon install: <prefix>[/local]/lib/pythonX.Y/{site,dist}-packages/roborefer_ros/tools/
    # beside <prefix>/share/roborefer_ros/config/
    candidates += [p / "share" / "roborefer_ros" / "config" / PROFILE_NAME for p in _HERE.parents]
    return next((p for p in candidates if p.is_file()), None)


def apply_profile(env: MutableMapping[str, str]) -> str | None:
    """Point ``env`` at the shipped profile unless it names a profile already; returns the
    profile file the processes will load (None when there is none to load)."""
    for name in (PROFILE_ENV, LEGACY_PROFILE_ENV):
        if env.get(name):
            return env[name]
    path = profile_path()
    if path is None:
        return None
    env[PROFILE_ENV] = str(path)
    return str(path)
