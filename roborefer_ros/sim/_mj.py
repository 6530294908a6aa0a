"""The one place that imports ``mujoco`` (untyped, so it is ``Any`` past this point)."""

from __future__ import annotations

import os
from typing import Any


def import_mujoco() -> Any:
    """The ``mujoco`` module. MUJOCO_GL defaults to ``egl`` (headless) when nobody chose a GL
    backend; it only takes effect if ``mujoco`` has not been imported yet."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    import mujoco

    return mujoco
