"""Depth traits by encoding (decode and encode) and a robust depth sample at one pixel.

As in depth_image_proc, the image encoding alone decides the unit and what counts as a valid
return: ``16UC1`` / ``mono16`` are uint16 millimetres with 0 = no return; ``32FC1`` is float32
metres with NaN, +-inf and values <= 0 = no return. A configured divisor applied whatever the
encoding is the bug this module exists to avoid. Encoding (``DepthTraits.from_metres``, for the
simulated camera, bags and tests) follows the same rule the other way: a depth the encoding cannot
carry (not finite, <= 0, or beyond 65.535 m in millimetres) becomes "no return", never a clamped
value a reader would take for a real surface.

Robust depth rule (``sample_depth``): take the window around the rounded pixel (clipped at the
image borders), keep valid values inside ``[min_range_m, max_range_m]``, sort them and split them
into clusters wherever two neighbouring values differ by more than ``max(2 cm, 3 % of depth)``.
At an object edge the window mixes a foreground and a background surface; averaging them would
give a point floating in between, so one surface is chosen:

1. the cluster holding the centre pixel's own value, when the centre is valid and its cluster has
   support (at least ``max(2, 10 % of the valid values)`` members, capped at their number; a lone
   centre value is a flying pixel, not a surface);
2. otherwise the nearest (foreground) cluster with that support, since pointed objects stand in
   front of their background (``surface="nearest"``, the default), or the cluster with the most
   members (``surface="largest"``, for callers that point at backgrounds);
3. otherwise (only scattered values) NO_VALID_DEPTH.

The depth is the median of the chosen cluster; its spread is MAD * 1.4826 (a standard deviation
for Gaussian noise). Only the window is converted, so the cost is independent of the image size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from roborefer_ros.core.status import RefPointError, Status

FloatArray32 = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]

_GAP_MIN_M = 0.02  # clusters split at gaps larger than max(_GAP_MIN_M, _GAP_REL * depth)
_GAP_REL = 0.03
_MIN_SUPPORT_SHARE = 0.1  # a surface needs this share of the valid values (and >= 2 of them)
_MAD_TO_SIGMA = 1.4826
_SURFACE_RULES = ("nearest", "largest")


@dataclass(frozen=True)
class DepthTraits:
    """How to read one depth encoding: dtype of the raw image, unit, and validity."""

    encoding: str
    dtype: np.dtype[np.generic]
    to_metres_scale: float  # raw value * scale = metres

    def valid_mask(self, raw: npt.NDArray[np.generic]) -> BoolArray:
        """Bool array shaped like ``raw``: True where the camera returned a depth."""
        if self.dtype.kind == "f":
            values = np.asarray(raw, dtype=np.float32)
            with np.errstate(invalid="ignore"):
                return np.asarray(np.isfinite(values) & (values > 0.0))
        return np.asarray(raw != 0)

    def to_metres(self, raw: npt.NDArray[np.generic]) -> FloatArray32:
        """float32 metres shaped like ``raw``; invalid returns become NaN (never 0)."""
        metres = np.asarray(raw, dtype=np.float32) * np.float32(self.to_metres_scale)
        return np.where(self.valid_mask(raw), metres, np.float32(np.nan)).astype(np.float32)

    def from_metres(self, depth_m: npt.NDArray[np.floating]) -> npt.NDArray[np.generic]:
        """The raw image of ``depth_m`` (metres, any float dtype) in this encoding: rounded to
        the unit for integer encodings; a depth it cannot carry becomes its "no return" (0 for
        millimetres, NaN for metres)."""
        metres = np.asarray(depth_m, dtype=np.float64)
        if self.dtype.kind == "f":
            with np.errstate(invalid="ignore"):
                valid = np.isfinite(metres) & (metres > 0.0)
            return np.where(valid, metres, np.nan).astype(self.dtype)
        top = float(np.iinfo(self.dtype.str).max)
        with np.errstate(invalid="ignore"):
            units = np.round(np.where(np.isfinite(metres), metres, 0.0) / self.to_metres_scale)
        valid = (units >= 1.0) & (units <= top)
        return np.where(valid, units, 0.0).astype(self.dtype)


_MM = DepthTraits("16UC1", np.dtype(np.uint16), 0.001)
_TRAITS: dict[str, DepthTraits] = {
    "16UC1": _MM,
    "mono16": DepthTraits("mono16", np.dtype(np.uint16), 0.001),
    "32FC1": DepthTraits("32FC1", np.dtype(np.float32), 1.0),
}
SUPPORTED_ENCODINGS: tuple[str, ...] = tuple(_TRAITS)


def depth_traits(encoding: str) -> DepthTraits:
    """Traits of a depth encoding, or UNSUPPORTED_ENCODING naming it and the supported ones."""
    try:
        return _TRAITS[encoding]
    except KeyError:
        raise RefPointError(
            Status.UNSUPPORTED_ENCODING,
            f"depth encoding {encoding!r} is not supported; "
            f"use one of {', '.join(SUPPORTED_ENCODINGS)}",
        ) from None


@dataclass(frozen=True)
class DepthSample:
    """A robust depth at one pixel and the evidence behind it."""

    depth_m: float  # along the optical axis (z), as depth_image_proc
    valid_ratio: float  # valid in-range values / window pixels inside the image
    spread_m: float  # MAD * 1.4826 of the chosen surface's values
    n_valid: int  # valid in-range values in the window (all surfaces)
    n_window: int  # window pixels inside the image
    pixel: tuple[int, int]  # (u, v) integer pixel the window is centred on


def encode_depth(
    depth_m: npt.NDArray[np.floating], encoding: str = "16UC1"
) -> npt.NDArray[np.generic]:
    """``depth_m`` (metres, NaN = no return) as the raw image of ``encoding`` (see
    ``DepthTraits.from_metres``); UNSUPPORTED_ENCODING for an unknown one."""
    return depth_traits(encoding).from_metres(depth_m)


def checked_traits(depth_raw: npt.NDArray[np.generic], encoding: str) -> DepthTraits:
    """Traits of ``encoding``, after checking that ``depth_raw`` is an HxW image of that kind."""
    traits = depth_traits(encoding)
    if depth_raw.ndim != 2 or depth_raw.dtype.kind != traits.dtype.kind:
        raise RefPointError(
            Status.BAD_FRAME,
            f"depth image of shape {depth_raw.shape} and dtype {depth_raw.dtype} does not match "
            f"encoding {encoding} (expected HxW {traits.dtype})",
        )
    return traits


def pixel_index(depth_raw: npt.NDArray[np.generic], u: float, v: float) -> tuple[int, int]:
    """Nearest integer pixel (u, v) (round half up), or OUT_OF_IMAGE naming pixel and size."""
    height, width = depth_raw.shape[:2]
    if math.isfinite(u) and math.isfinite(v):
        iu, iv = math.floor(u + 0.5), math.floor(v + 0.5)
        if 0 <= iu < width and 0 <= iv < height:
            return iu, iv
    raise RefPointError(
        Status.OUT_OF_IMAGE,
        f"pixel (u={u:.1f}, v={v:.1f}) lies outside the {width}x{height} image",
    )


def naive_depth(depth_raw: npt.NDArray[np.generic], encoding: str, u: float, v: float) -> float:
    """Depth in metres of the single nearest pixel: the baseline ``sample_depth`` is judged by."""
    traits = checked_traits(depth_raw, encoding)
    iu, iv = pixel_index(depth_raw, u, v)
    value = float(traits.to_metres(depth_raw[iv : iv + 1, iu : iu + 1])[0, 0])
    if not math.isfinite(value):
        raise RefPointError(
            Status.NO_VALID_DEPTH, f"no depth at pixel (u={iu}, v={iv}) ({encoding})"
        )
    return value


def sample_depth(
    depth_raw: npt.NDArray[np.generic],
    encoding: str,
    u: float,
    v: float,
    *,
    window_px: int = 7,
    min_valid_ratio: float = 0.2,
    max_range_m: float = 10.0,
    min_range_m: float = 0.05,
    surface: str = "nearest",
) -> DepthSample:
    """Robust depth at pixel (u=column, v=row) of an HxW raw depth image (module rule).

    ``window_px`` is the side of the square window (an even value grows to the next odd one);
    ``surface`` is the rule-2 choice, "nearest" or "largest".
    Raises OUT_OF_IMAGE, NO_VALID_DEPTH, UNSUPPORTED_ENCODING or BAD_FRAME.
    """
    if window_px < 1:
        raise ValueError(f"window_px must be >= 1, got {window_px}")
    if surface not in _SURFACE_RULES:
        raise ValueError(f"surface must be one of {_SURFACE_RULES}, got {surface!r}")
    traits = checked_traits(depth_raw, encoding)
    iu, iv = pixel_index(depth_raw, u, v)
    half = window_px // 2
    u0, v0 = max(iu - half, 0), max(iv - half, 0)
    window = traits.to_metres(depth_raw[v0 : iv + half + 1, u0 : iu + half + 1])
    with np.errstate(invalid="ignore"):
        in_range = (window >= min_range_m) & (window <= max_range_m)  # NaN compares False
    values = window[in_range]
    n_window, n_valid = int(window.size), int(values.size)
    ratio = n_valid / n_window
    if n_valid == 0 or ratio < min_valid_ratio:
        raise RefPointError(
            Status.NO_VALID_DEPTH,
            f"only {ratio:.0%} of the {window.shape[1]}x{window.shape[0]} window around pixel "
            f"(u={iu}, v={iv}) has depth in [{min_range_m:g}, {max_range_m:g}] m "
            f"(min_valid_ratio={min_valid_ratio:g})",
        )
    centre = float(window[iv - v0, iu - u0]) if in_range[iv - v0, iu - u0] else None
    chosen = _choose_surface(np.sort(values), centre, largest=surface == "largest")
    if chosen is None:
        raise RefPointError(
            Status.NO_VALID_DEPTH,
            f"the {n_valid} depth values around pixel (u={iu}, v={iv}) form no consistent "
            "surface (scattered returns)",
        )
    depth = float(np.median(chosen))
    spread = _MAD_TO_SIGMA * float(np.median(np.abs(chosen - depth)))
    return DepthSample(depth, ratio, spread, n_valid, n_window, (iu, iv))


def _choose_surface(
    sorted_m: FloatArray32, centre_m: float | None, *, largest: bool
) -> FloatArray32 | None:
    """The chosen cluster of sorted (N,) float32 depths, by the module's rule; None if none."""
    gaps = np.diff(sorted_m)
    limits = np.maximum(_GAP_MIN_M, _GAP_REL * sorted_m[:-1])
    cuts = np.flatnonzero(gaps > limits) + 1
    clusters = np.split(sorted_m, cuts)
    support = min(max(2, math.ceil(_MIN_SUPPORT_SHARE * sorted_m.size)), sorted_m.size)
    if centre_m is not None:
        index = int(np.searchsorted(cuts, np.searchsorted(sorted_m, centre_m), side="right"))
        if clusters[index].size >= support:
            return clusters[index]
    supported = [cluster for cluster in clusters if cluster.size >= support]  # nearest first
    if not supported:
        return None
    return max(supported, key=lambda c: c.size) if largest else supported[0]
