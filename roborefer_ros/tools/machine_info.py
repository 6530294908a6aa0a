"""The machine description every benchmark prints beside its figures."""

from __future__ import annotations

import os
import platform
from typing import Any

import numpy as np


def machine(**versions: str) -> dict[str, Any]:
    """CPU model, cores, Python and numpy versions, plus any ``name=version`` given."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as stream:
            for line in stream:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count() or 0,
        "python": platform.python_version(),
        "numpy": np.__version__,
        **versions,
    }
