"""The image the embedded network sees: the camera image fitted into 320x240 by area averaging.

Training renders 640x480 frames and shrinks them with this same function, so a camera image of
any size reaches the network the way its training images did. The network's outputs live on a
grid of ``STRIDE`` x ``STRIDE`` model pixels.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

MODEL_WIDTH = 320
MODEL_HEIGHT = 240
STRIDE = 4  # model pixels per output cell
PAD_TO = 16  # the network's coarsest stride: its input is padded to a multiple of this


def model_size(width: int, height: int) -> tuple[int, int]:
    """(width, height) of the model image for a ``width`` x ``height`` camera image: the largest
    size with the same aspect that fits in MODEL_WIDTH x MODEL_HEIGHT."""
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    scale = min(MODEL_WIDTH / width, MODEL_HEIGHT / height)
    return max(STRIDE, round(width * scale)), max(STRIDE, round(height * scale))


def model_image(rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """HxWx3 uint8 -> hxwx3 uint8 of ``model_size(W, H)``, by area averaging (box filter)."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ValueError(f"expected an HxWx3 image, got shape {rgb.shape}")
    from PIL import Image

    height, width = rgb.shape[:2]
    size = model_size(width, height)
    if size == (width, height):
        return np.ascontiguousarray(rgb, dtype=np.uint8)
    image = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8))
    return np.asarray(image.resize(size, Image.Resampling.BOX), dtype=np.uint8)
