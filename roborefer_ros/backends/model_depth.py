"""The depth image a model sees, made the way RoboRefer was trained on it.

RoboRefer's depth tower was trained on Depth-Anything-V2 output: relative INVERSE depth (near =
bright), min-max normalised per image to 0..255, cast to uint8 (truncation, as the authors' code
does), repeated to 3 channels, with no colour map. A sensor image must be turned into the same
thing, or the model sees an input it was never trained on:

- ``sensor``: metric depth (16UC1 mm / 32FC1 m, read through ``core.depth`` traits) is inverted
  and normalised over the VALID pixels only; invalid pixels become 0 (= farthest).
- ``estimated``: a monocular depth model (Depth-Anything-V2 class) run on the colour image. Its
  output is already relative inverse depth, so it is only min-max normalised.

When every valid value is equal there is no range to normalise; valid pixels then become 255.

This is lifting-free: the metric depth used to place points in 3D is never touched here.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from roborefer_ros.backends import torch_runtime
from roborefer_ros.core.depth import checked_traits
from roborefer_ros.core.frame import Frame
from roborefer_ros.core.status import RefPointError, Status

DepthArrays = tuple[npt.NDArray[np.generic], str]  # (HxW raw depth, its encoding)
DEPTH_SOURCES: tuple[str, ...] = ("none", "sensor", "estimated")


class ModelDepthSource(Protocol):
    """Makes the HxWx3 uint8 model-ready depth for one frame, or None for RGB-only models.

    ``name`` ("none", "sensor", "estimated") is reported as the answer's ``depth_source``.
    """

    name: str

    def load(self) -> None:
        """Do the heavy work (weights) once, when the node activates."""

    def __call__(self, frame: Frame) -> npt.NDArray[np.uint8] | None:
        """Model depth for ``frame`` (aligned with ``frame.rgb``)."""

    def from_arrays(
        self, rgb: npt.NDArray[np.uint8], depth: DepthArrays | None
    ) -> npt.NDArray[np.uint8] | None:
        """The same from plain arrays (CLI tools): HxWx3 uint8 RGB, optional raw depth."""


def normalise_for_model(
    inverse_depth: npt.NDArray[np.floating[Any]], valid: npt.NDArray[np.bool_]
) -> npt.NDArray[np.uint8]:
    """HxWx3 uint8 from HxW relative inverse depth: min-max over ``valid``, invalid -> 0.

    NO_VALID_DEPTH when no pixel is valid.
    """
    if not valid.any():
        raise RefPointError(
            Status.NO_VALID_DEPTH,
            f"no valid pixel in the {inverse_depth.shape[1]}x{inverse_depth.shape[0]} depth image",
        )
    values = np.asarray(inverse_depth, dtype=np.float64)
    lo, hi = float(values[valid].min()), float(values[valid].max())
    scaled = np.zeros(values.shape, dtype=np.float64)
    if hi > lo:
        scaled[valid] = (values[valid] - lo) / (hi - lo) * 255.0
    else:
        scaled[valid] = 255.0
    gray = np.clip(scaled, 0.0, 255.0).astype(np.uint8)  # truncation, as Depth-Anything's code
    return np.repeat(gray[:, :, np.newaxis], 3, axis=2)


def sensor_depth_for_model(
    depth_raw: npt.NDArray[np.generic], encoding: str
) -> npt.NDArray[np.uint8]:
    """HxWx3 uint8 relative inverse depth of an HxW sensor image (module rule).

    Raises UNSUPPORTED_ENCODING, BAD_FRAME (dtype/shape not matching the encoding) or
    NO_VALID_DEPTH (no valid pixel).
    """
    traits = checked_traits(depth_raw, encoding)
    metres = traits.to_metres(depth_raw)  # invalid -> NaN
    valid = np.isfinite(metres)
    inverse = np.zeros(metres.shape, dtype=np.float64)
    inverse[valid] = 1.0 / metres[valid].astype(np.float64)
    return normalise_for_model(inverse, valid)


class NoModelDepth:
    """RGB-only: the model is given no depth."""

    name = "none"

    def load(self) -> None:
        """Nothing to load."""

    def __call__(self, frame: Frame) -> npt.NDArray[np.uint8] | None:
        return None

    def from_arrays(
        self, rgb: npt.NDArray[np.uint8], depth: DepthArrays | None
    ) -> npt.NDArray[np.uint8] | None:
        return None


class SensorDepth:
    """The frame's own aligned depth image, converted by ``sensor_depth_for_model``."""

    name = "sensor"

    def load(self) -> None:
        """Nothing to load."""

    def __call__(self, frame: Frame) -> npt.NDArray[np.uint8] | None:
        return sensor_depth_for_model(frame.depth, frame.depth_encoding)

    def from_arrays(
        self, rgb: npt.NDArray[np.uint8], depth: DepthArrays | None
    ) -> npt.NDArray[np.uint8] | None:
        if depth is None:
            raise RefPointError(Status.BAD_FRAME, "depth_source 'sensor' needs a depth image")
        depth_raw, encoding = depth
        if depth_raw.shape[:2] != rgb.shape[:2]:
            raise RefPointError(
                Status.BAD_FRAME,
                f"depth {depth_raw.shape[1]}x{depth_raw.shape[0]} is not aligned with colour "
                f"{rgb.shape[1]}x{rgb.shape[0]}",
            )
        return sensor_depth_for_model(depth_raw, encoding)


class EstimatedDepth:
    """Monocular relative inverse depth from a local Depth-Anything-V2 folder (transformers).

    Licences of the published weights: Depth-Anything-V2-Small is Apache-2.0; Base, Large and
    Giant are CC-BY-NC-4.0 (non-commercial). The folder is read with ``local_files_only``: no hub.
    A metric checkpoint (``depth_estimation_type="metric"``) outputs metres, not inverse depth,
    and is refused. ``dtype`` is one of ``torch_runtime.DTYPES``. One inference runs at a time.
    """

    name = "estimated"

    def __init__(self, model_path: str, device: str = "cpu", dtype: str = "auto") -> None:
        if not model_path.strip():
            raise RefPointError(
                Status.BACKEND_ERROR, "depth_source 'estimated' needs depth_model_path"
            )
        self.model_path = model_path.strip()
        self.device = torch_runtime.check_device(device)
        self.dtype = torch_runtime.check_dtype(dtype)
        self._lock = threading.Lock()
        self._processor: Any = None
        self._model: Any = None

    def load(self) -> None:
        """Load processor and weights; BACKEND_ERROR naming the folder when that fails."""
        with self._lock:
            if self._model is None:
                self._load_locked()

    def _load_locked(self) -> None:
        if not Path(self.model_path).is_dir():
            raise RefPointError(
                Status.BACKEND_ERROR, f"depth model folder {self.model_path!r} does not exist"
            )
        transformers = torch_runtime.import_transformers()
        device = torch_runtime.torch_device(self.device)
        dtype = torch_runtime.torch_dtype(self.dtype, device.type)
        try:
            processor = transformers.AutoImageProcessor.from_pretrained(
                self.model_path, local_files_only=True
            )
            model = transformers.AutoModelForDepthEstimation.from_pretrained(
                self.model_path, local_files_only=True, dtype=dtype
            )
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise RefPointError(
                Status.BACKEND_ERROR, f"cannot load depth model {self.model_path!r}: {err}"
            ) from None
        if getattr(model.config, "depth_estimation_type", "relative") == "metric":
            raise RefPointError(
                Status.BACKEND_ERROR,
                f"depth model {self.model_path!r} estimates metric depth; RoboRefer needs a "
                "relative (inverse depth) Depth-Anything-V2 checkpoint",
            )
        self._model = model.to(device).eval()
        self._processor = processor

    def __call__(self, frame: Frame) -> npt.NDArray[np.uint8] | None:
        return self.estimate(frame.rgb)

    def from_arrays(
        self, rgb: npt.NDArray[np.uint8], depth: DepthArrays | None
    ) -> npt.NDArray[np.uint8] | None:
        return self.estimate(rgb)

    def estimate(self, rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        """HxWx3 uint8 model depth for an HxWx3 uint8 RGB image (loads on first use)."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise RefPointError(
                Status.BAD_FRAME, f"colour image of shape {rgb.shape} and dtype {rgb.dtype}"
            )
        torch = torch_runtime.import_torch()
        height, width = int(rgb.shape[0]), int(rgb.shape[1])
        with self._lock:
            if self._model is None:
                self._load_locked()
            model = self._model
            try:
                inputs = self._processor(images=rgb, return_tensors="pt")
                pixels = inputs["pixel_values"].to(model.device, model.dtype)
                with torch.inference_mode():
                    outputs = model(pixel_values=pixels)
                    predicted = outputs.predicted_depth.float().reshape(
                        1, 1, *outputs.predicted_depth.shape[-2:]
                    )
                    resized = torch.nn.functional.interpolate(
                        predicted, size=(height, width), mode="bicubic", align_corners=False
                    )
            except RuntimeError as err:  # torch errors, CUDA out of memory included
                raise RefPointError(
                    Status.BACKEND_ERROR, f"depth estimation failed: {err}"
                ) from None
        values = resized[0, 0].cpu().numpy().astype(np.float64)
        return normalise_for_model(values, np.isfinite(values))


class DepthOptions(Protocol):
    """The ``BackendOptions`` fields that choose the model depth."""

    @property
    def depth_source(self) -> str: ...

    @property
    def depth_model_path(self) -> str: ...

    @property
    def device(self) -> str: ...


def make_model_depth(depth_source: str, depth_model_path: str, device: str) -> ModelDepthSource:
    """A new, not yet loaded depth source; BACKEND_ERROR naming an unknown source."""
    name = depth_source.strip().lower()
    if name == "none":
        return NoModelDepth()
    if name == "sensor":
        return SensorDepth()
    if name == "estimated":
        return EstimatedDepth(depth_model_path, device=device)
    raise RefPointError(
        Status.BACKEND_ERROR,
        f"unknown depth_source {depth_source!r}; known: {', '.join(DEPTH_SOURCES)}",
    )


def make_model_depth_for_options(options: DepthOptions) -> ModelDepthSource:
    """``make_model_depth`` from a ``registry.BackendOptions`` (what the node and CLIs call)."""
    return make_model_depth(options.depth_source, options.depth_model_path, options.device)
