#!/usr/bin/env python3
"""Write requirements/lock.txt from the distributions installed in the running venv.

Only real PyPI distributions (``*.dist-info``) are listed: the ROS wheels also carry
``*.egg-info`` folders with non-PyPI names (``rclpy``), which ``pip freeze`` would wrongly list.
"""

from __future__ import annotations

import importlib.metadata as metadata
import pathlib
import sys

SKIP = {"roborefer-ros", "pip", "setuptools", "wheel"}
HEADER = (
    "# Pinned closure of the ROS 2 Kilted wheels, runtime and test dependencies (PyPI).\n"
    "# Regenerate with `.venv/bin/python scripts/make_lock.py` from a working venv; never with\n"
    "# `pip freeze` (it lists non-PyPI names such as rclpy==9.1.2 from the wheels' egg-info).\n"
)


def main() -> int:
    pins: dict[str, str] = {}
    for dist in metadata.distributions():
        path = getattr(dist, "_path", None)
        if path is None or not str(path).endswith(".dist-info"):
            continue
        name = dist.metadata["Name"]
        key = name.lower().replace("_", "-").replace(".", "-")
        if key not in SKIP:
            # A local label (torch 2.13.0+cpu) is dropped: ==2.13.0 matches it (PEP 440), and the
            # machine's own wheel of that version is what pip picks.
            pins[key] = f"{name}=={dist.version.split('+')[0]}"
    out = pathlib.Path(__file__).resolve().parent.parent / "requirements" / "lock.txt"
    out.write_text(HEADER + "".join(pins[k] + "\n" for k in sorted(pins)))
    print(f"wrote {len(pins)} pins to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
