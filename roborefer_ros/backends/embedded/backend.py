"""``embedded`` backend: the small pointing network trained in this repository, on the CPU.

TRAINED ON SIMULATED TABLETOPS ONLY (this repository's MuJoCo scenes and instruction grammar):
it is the package's self-contained demonstration model, not expected to work on real camera
images. On a robot, use RoboRefer through its server (``roborefer_http``).

``load()`` (node activation) reads the weights file (safetensors; default: the shipped
``data/models/embedded_pointer.safetensors``) and checks its metadata; a missing, corrupt or
incompatible file is a BACKEND_ERROR naming it. ``point()`` parses the instruction into the
network's module layout (``language``; words outside its closed vocabulary are a BACKEND_ERROR
naming them), runs the network on the image shrunk to 320x240 (``image``), composes the modules
(``program``), writes the answer as RoboRefer does (``[(x, y)]``, normalised, 3 decimals) and
parses that text with the same parser as the real model's answers. The call's latency is in
``Answer.latency_s``. Depth is not used (``depth_source="none"``).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from roborefer_ros.backends.base import Answer, PointingQuery
from roborefer_ros.backends.embedded.image import (
    MODEL_HEIGHT,
    MODEL_WIDTH,
    PAD_TO,
    STRIDE,
    model_image,
)
from roborefer_ros.backends.embedded.language import (
    COLOURS,
    KINDS,
    SIZES,
    InstructionError,
    Program,
    parse_instruction,
)
from roborefer_ros.backends.parsers import AnswerFormat, format_roborefer_answer, parse_points
from roborefer_ros.core.status import RefPointError, Status

WEIGHTS_FILE = "embedded_pointer.safetensors"
_REPO_ROOT = Path(__file__).resolve().parents[3]


def default_weights_path() -> Path:
    """The shipped weights: ``data/models/`` of the source tree, else of an installed share
    folder (``<prefix>/share/roborefer_ros/data/models``); the source-tree path if neither
    exists (loading then names it)."""
    candidates = [_REPO_ROOT / "data" / "models" / WEIGHTS_FILE]
    for parent in Path(__file__).resolve().parents:
        candidates.append(parent / "share" / "roborefer_ros" / "data" / "models" / WEIGHTS_FILE)
    return next((p for p in candidates if p.is_file()), candidates[0])


def vocabulary() -> dict[str, list[str]]:
    """The closed vocabulary the weights were trained with (stored in their metadata)."""
    return {"kinds": list(KINDS), "colours": list(COLOURS), "sizes": list(SIZES)}


@dataclass(frozen=True)
class _Loaded:
    network: Any  # network.PointingNetwork (torch types stay behind this boundary)
    metadata: dict[str, str]


class EmbeddedBackend:
    """The embedded pointing network behind the Backend protocol; one call at a time."""

    name = "embedded"

    def __init__(self, weights_path: str = "") -> None:
        path = weights_path.strip()
        self.weights_path = Path(path) if path else default_weights_path()
        self._lock = threading.Lock()
        self._loaded: _Loaded | None = None

    @property
    def metadata(self) -> dict[str, str]:
        """The loaded weights' metadata (training command, seeds, ...); empty before load."""
        loaded = self._loaded
        return dict(loaded.metadata) if loaded is not None else {}

    def load(self) -> None:
        """Read and check the weights; BACKEND_ERROR naming the file when that fails."""
        with self._lock:
            if self._loaded is None:
                self._loaded = _load(self.weights_path)

    def close(self) -> None:
        with self._lock:
            self._loaded = None

    def point(self, query: PointingQuery, timeout_s: float) -> Answer:
        """The network's point for the instruction; BACKEND_TIMEOUT if it took longer than
        ``timeout_s`` (the network itself takes tens of milliseconds)."""
        started = time.monotonic()
        try:
            program = parse_instruction(query.instruction)
        except InstructionError as err:
            raise RefPointError(
                Status.BACKEND_ERROR,
                f"the embedded model cannot read {query.instruction!r}: {err} (it knows only the "
                "simulated tabletops' instruction language; see docs/backends.md)",
            ) from None
        rgb = query.rgb
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
            raise RefPointError(Status.BACKEND_ERROR, f"the query image has shape {rgb.shape}")
        image = model_image(rgb)
        if not self._lock.acquire(timeout=max(timeout_s, 0.0)):
            raise RefPointError(
                Status.BACKEND_TIMEOUT, f"the model was busy for the whole {timeout_s:g} s timeout"
            )
        try:
            loaded = self._loaded
            if loaded is None:
                raise RefPointError(
                    Status.BACKEND_ERROR, "the embedded backend is not loaded (or was closed)"
                )
            u, v = _run(loaded.network, image, program)
        finally:
            self._lock.release()
        size = (int(image.shape[1]), int(image.shape[0]))
        text = format_roborefer_answer([(u / size[0], v / size[1])])
        points = parse_points(text, AnswerFormat.ROBOREFER, size)
        latency_s = time.monotonic() - started
        if latency_s > timeout_s:
            raise RefPointError(
                Status.BACKEND_TIMEOUT,
                f"the embedded model took {latency_s:.3f} s, over the {timeout_s:g} s timeout",
                text,
            )
        return Answer(
            raw_text=text,
            points_norm=points,
            model_image_size=size,
            latency_s=latency_s,
            depth_source="none",
        )


def _load(path: Path) -> _Loaded:
    """The network of a weights file; BACKEND_ERROR naming the file on any failure."""
    if not path.is_file():
        raise RefPointError(
            Status.BACKEND_ERROR,
            f"embedded weights {str(path)!r} not found (set embedded_weights, or rebuild them "
            "with `make model`)",
        )
    from roborefer_ros.backends.embedded import weights

    try:
        network, metadata = weights.load_network(path)
    except weights.WeightsError as err:
        raise RefPointError(
            Status.BACKEND_ERROR, f"cannot load embedded weights {str(path)!r}: {err}"
        ) from None
    if json.loads(metadata.get("vocabulary", "{}")) != vocabulary():
        raise RefPointError(
            Status.BACKEND_ERROR,
            f"embedded weights {str(path)!r} were trained with another vocabulary",
        )
    # one call on a blank image, so the first request does not pay for torch's lazy set-up
    _run(
        network,
        np.zeros((MODEL_HEIGHT, MODEL_WIDTH, 3), dtype=np.uint8),
        parse_instruction("the cup"),
    )
    return _Loaded(network, metadata)


def _run(network: Any, image: npt.NDArray[np.uint8], program: Program) -> tuple[float, float]:
    """Model-image pixel (u, v) the program points at."""
    import torch

    from roborefer_ros.backends.embedded.program import Executor

    h, w = image.shape[:2]
    padded = np.zeros((-(-h // PAD_TO) * PAD_TO, -(-w // PAD_TO) * PAD_TO, 3), dtype=np.uint8)
    padded[:h, :w] = image
    with torch.inference_mode():
        tensor = torch.from_numpy(padded).permute(2, 0, 1)[None].float() / 255.0
        heads = network(tensor)
        gh, gw = -(-h // STRIDE), -(-w // STRIDE)
        heads = {k: v[:, :, :gh, :gw] for k, v in heads.items()}
        pointed = Executor(network, heads).run(program)
    return min(max(pointed.u, 0.0), w - 1.0), min(max(pointed.v, 0.0), h - 1.0)
