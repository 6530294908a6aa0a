"""Device and dtype options shared by the in-process torch models (VLM, depth estimator).

Options are checked as strings when a backend is built (no torch import), and resolved against
torch only in ``load()``, so that importing ``roborefer_ros.backends`` never imports torch.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

from roborefer_ros.core.status import RefPointError, Status

DTYPES: tuple[str, ...] = ("auto", "float32", "float16", "bfloat16")
_DEVICE_RE = re.compile(r"cpu|cuda(?::\d+)?")


def check_device(device: str) -> str:
    """The stripped device name ("cpu", "cuda", "cuda:N"), or BACKEND_ERROR naming it."""
    name = device.strip()
    if not _DEVICE_RE.fullmatch(name):
        raise RefPointError(
            Status.BACKEND_ERROR, f"device {device!r} is not supported; use cpu, cuda or cuda:N"
        )
    return name


def check_dtype(dtype: str) -> str:
    """The stripped dtype name (one of ``DTYPES``), or BACKEND_ERROR naming it."""
    name = dtype.strip().lower()
    if name not in DTYPES:
        raise RefPointError(
            Status.BACKEND_ERROR,
            f"dtype {dtype!r} is not supported; use one of {', '.join(DTYPES)}",
        )
    return name


def import_torch() -> Any:
    """The torch module, typed Any so that its types stay at this boundary."""
    return importlib.import_module("torch")


def import_transformers() -> Any:
    """The transformers module, typed Any (mypy does not analyse the whole library)."""
    return importlib.import_module("transformers")


def torch_device(device: str) -> Any:
    """``torch.device`` for a checked name; BACKEND_ERROR when that CUDA device is absent."""
    torch = import_torch()
    resolved = torch.device(device)
    if resolved.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = resolved.index or 0
        if index >= count:
            raise RefPointError(
                Status.BACKEND_ERROR,
                f"device {device!r} is not available (this machine has {count} CUDA devices)",
            )
    return resolved


def torch_dtype(dtype: str, device: str) -> Any:
    """A ``torch.dtype``, or the string "auto" (the checkpoint's own dtype) for from_pretrained.

    "auto" means float32 on the CPU, where half precision is slow or unsupported, and the
    checkpoint's stored dtype on a GPU.
    """
    torch = import_torch()

    if dtype == "auto":
        return torch.float32 if device == "cpu" else "auto"
    return {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[dtype]
