"""``transformers`` backend: an in-process Hugging Face VLM of the Qwen2.5-VL / Qwen3-VL class.

Lazy by design: the constructor only checks options; ``load()`` (node activation) imports torch
and transformers and reads the local folder with ``local_files_only`` (never the hub).

Inputs are composed from the tokenizer and the image processor, not through ``AutoProcessor``:
in transformers 5 the Qwen-VL processor classes cannot be built without torchvision, which only
their (unused) video processor needs. For one image the composition is what the processor does:
the chat template writes one image token, expanded to ``t*h*w / merge_size**2`` copies for the
image's patch grid ``image_grid_thw``, and ``mm_token_type_ids`` marks them (1 = image), which
the model needs to build its multimodal rotary positions.

Answer coordinates: Qwen2.5-VL answers absolute pixels of the image AFTER its processor resized
it (to multiples of ``patch_size * merge_size`` = 28 within min/max pixels), not of the camera
image. That size is ``(grid_w * patch_size, grid_h * patch_size)`` from ``image_grid_thw``; it
is what ``parse_points`` receives and what ``Answer.model_image_size`` reports. Qwen3-VL answers
on a 0..1000 scale, for which the size does not matter.

Depth: these models are RGB-only; ``query.depth_for_model`` is ignored and the answer reports
``depth_source="none"``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from roborefer_ros.backends import torch_runtime
from roborefer_ros.backends.base import Answer, PointingQuery
from roborefer_ros.backends.parsers import AnswerFormat, parse_points
from roborefer_ros.backends.prompt import FAMILY_DEFAULTS, fill_template
from roborefer_ros.core.status import RefPointError, Status


@dataclass(frozen=True)
class _Loaded:
    """What ``load()`` produced (torch / transformers objects, hence Any)."""

    tokenizer: Any
    image_processor: Any
    model: Any
    chat_template: str
    image_token: str
    image_token_id: int


class TransformersVLMBackend:
    """A local Qwen2.5-VL / Qwen3-VL class model, greedy decoding, one generate at a time.

    ``dtype``: "auto" (float32 on the CPU, the checkpoint's dtype on a GPU), "float32",
    "float16" or "bfloat16". ``prompt_template``: "" = the answer format's default; ``{object}``
    stands for the instruction. ``max_image_side``: downscale the camera image so that its
    longer side is at most this many pixels before the processor sees it (0 = no limit).
    """

    name = "transformers"

    def __init__(
        self,
        model_path: str,
        *,
        device: str = "cpu",
        dtype: str = "auto",
        max_new_tokens: int = 64,
        answer_format: AnswerFormat = AnswerFormat.QWEN25,
        prompt_template: str = "",
        max_image_side: int = 0,
    ) -> None:
        if not model_path.strip():
            raise RefPointError(Status.BACKEND_ERROR, "the transformers backend needs model_path")
        if max_new_tokens < 1:
            raise RefPointError(
                Status.BACKEND_ERROR, f"max_new_tokens must be >= 1, got {max_new_tokens}"
            )
        if max_image_side < 0:
            raise RefPointError(
                Status.BACKEND_ERROR, f"max_image_side must be >= 0, got {max_image_side}"
            )
        template = prompt_template or FAMILY_DEFAULTS[answer_format]
        try:
            fill_template(template, "x")
        except ValueError as err:
            raise RefPointError(Status.BACKEND_ERROR, str(err)) from None
        self.model_path = model_path.strip()
        self.device = torch_runtime.check_device(device)
        self.dtype = torch_runtime.check_dtype(dtype)
        self.max_new_tokens = max_new_tokens
        self.answer_format = answer_format
        self.prompt_template = template
        self.max_image_side = max_image_side
        self._lock = threading.Lock()  # one generate at a time; guards _loaded
        self._closed = threading.Event()  # wakes a generate in progress
        self._loaded: _Loaded | None = None

    @property
    def loaded_as(self) -> tuple[str, str] | None:
        """(device, dtype) of the loaded weights, e.g. ("cpu", "float32"); None before load."""
        loaded = self._loaded
        if loaded is None:
            return None
        return str(loaded.model.device), str(loaded.model.dtype).removeprefix("torch.")

    def load(self) -> None:
        """Load tokenizer, image processor and weights; BACKEND_ERROR naming the folder."""
        with self._lock:
            self._closed.clear()
            if self._loaded is None:
                self._loaded = _load(self.model_path, self.device, self.dtype)

    def close(self) -> None:
        """Stop a generate in progress, drop the weights; a later ``point`` is BACKEND_ERROR."""
        self._closed.set()
        with self._lock:
            loaded, self._loaded = self._loaded, None
        if loaded is not None and self.device != "cpu":
            del loaded
            torch_runtime.import_torch().cuda.empty_cache()

    def point(self, query: PointingQuery, timeout_s: float) -> Answer:
        """Answer within ``timeout_s``: BACKEND_TIMEOUT once generation passes the deadline."""
        started = time.monotonic()
        deadline = started + max(timeout_s, 0.0)
        try:
            prompt = fill_template(self.prompt_template, query.instruction)
        except ValueError as err:
            raise RefPointError(Status.BAD_PROMPT, str(err)) from None
        image = self._model_image(query.rgb)
        if not self._lock.acquire(timeout=max(deadline - time.monotonic(), 0.0)):
            raise RefPointError(
                Status.BACKEND_TIMEOUT, f"the model was busy for the whole {timeout_s:g} s timeout"
            )
        try:
            loaded = self._loaded
            if loaded is None or self._closed.is_set():
                raise RefPointError(
                    Status.BACKEND_ERROR, "the transformers backend is not loaded (or was closed)"
                )
            text, size = _generate(
                loaded, image, prompt, self.max_new_tokens, lambda: self._stop(deadline)
            )
        finally:
            self._lock.release()
        if text is None:
            if self._closed.is_set():
                raise RefPointError(
                    Status.BACKEND_ERROR, "the backend was closed during the request"
                )
            raise RefPointError(
                Status.BACKEND_TIMEOUT, f"no complete answer within the {timeout_s:g} s timeout"
            )
        points = parse_points(text, self.answer_format, size)
        return Answer(
            raw_text=text,
            points_norm=points,
            model_image_size=size,
            latency_s=time.monotonic() - started,
            depth_source="none",  # RGB-only models
        )

    def _model_image(self, rgb: npt.NDArray[np.uint8]) -> Any:
        """The PIL image given to the processor, downscaled to ``max_image_side`` if set."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
            raise RefPointError(Status.BACKEND_ERROR, f"the query image has shape {rgb.shape}")
        from PIL import Image

        image = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8))
        side = self.max_image_side
        if side and max(image.size) > side:
            scale = side / max(image.size)
            size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
            image = image.resize(size, Image.Resampling.BICUBIC)
        return image

    def _stop(self, deadline: float) -> bool:
        """True once ``deadline`` (time.monotonic) has passed or the backend was closed."""
        return self._closed.is_set() or time.monotonic() >= deadline


def _load(model_path: str, device_name: str, dtype_name: str) -> _Loaded:
    """Read the folder; BACKEND_ERROR naming it when anything is missing or malformed."""
    folder = Path(model_path)
    if not (folder / "config.json").is_file():
        raise RefPointError(
            Status.BACKEND_ERROR, f"model folder {model_path!r} has no config.json (or is missing)"
        )
    transformers = torch_runtime.import_transformers()
    device = torch_runtime.torch_device(device_name)
    dtype = torch_runtime.torch_dtype(dtype_name, device.type)
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(model_path, local_files_only=True)
        image_processor = transformers.AutoImageProcessor.from_pretrained(
            model_path, local_files_only=True
        )
        model = transformers.AutoModelForImageTextToText.from_pretrained(
            model_path, local_files_only=True, dtype=dtype
        )
    except (OSError, ValueError, KeyError, TypeError, ImportError) as err:
        raise RefPointError(
            Status.BACKEND_ERROR, f"cannot load model {model_path!r}: {err}"
        ) from None
    for attribute in ("patch_size", "merge_size"):
        if not isinstance(getattr(image_processor, attribute, None), int):
            raise RefPointError(
                Status.BACKEND_ERROR,
                f"the image processor of {model_path!r} has no {attribute}: "
                "not a Qwen-VL-style model",
            )
    image_token_id = getattr(model.config, "image_token_id", None)
    if not isinstance(image_token_id, int):
        raise RefPointError(
            Status.BACKEND_ERROR, f"the config of {model_path!r} has no image_token_id"
        )
    return _Loaded(
        tokenizer=tokenizer,
        image_processor=image_processor,
        model=model.to(device).eval(),
        chat_template=_chat_template(folder, tokenizer),
        image_token=str(tokenizer.convert_ids_to_tokens(image_token_id)),
        image_token_id=image_token_id,
    )


def _chat_template(folder: Path, tokenizer: Any) -> str:
    """The tokenizer's chat template, else the processor's ``chat_template.json``."""
    template = getattr(tokenizer, "chat_template", None)
    if isinstance(template, str) and template:
        return template
    path = folder / "chat_template.json"
    try:
        template = json.loads(path.read_text()).get("chat_template")
    except (OSError, ValueError, AttributeError):
        template = None
    if not isinstance(template, str) or not template:
        raise RefPointError(
            Status.BACKEND_ERROR, f"model folder {str(folder)!r} has no chat template"
        )
    return template


def _inputs(loaded: _Loaded, image: Any, prompt: str) -> tuple[dict[str, Any], tuple[int, int]]:
    """Model inputs for one image and one user turn, and the resized (width, height)."""
    torch = torch_runtime.import_torch()

    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
    text = loaded.tokenizer.apply_chat_template(
        messages, chat_template=loaded.chat_template, tokenize=False, add_generation_prompt=True
    )
    if text.count(loaded.image_token) != 1:
        raise RefPointError(
            Status.BACKEND_ERROR,
            f"the chat template wrote {text.count(loaded.image_token)} {loaded.image_token} "
            "tokens for one image",
        )
    processor = loaded.image_processor
    vision = processor(images=[image], return_tensors="pt")
    grid = vision["image_grid_thw"]
    _t, grid_h, grid_w = (int(v) for v in grid[0])
    n_image_tokens = int(grid[0].prod()) // processor.merge_size**2
    text = text.replace(loaded.image_token, loaded.image_token * n_image_tokens)
    encoded = loaded.tokenizer(text, return_tensors="pt", add_special_tokens=False)
    input_ids = encoded["input_ids"]
    model = loaded.model
    inputs = {
        "input_ids": input_ids.to(model.device),
        "attention_mask": encoded["attention_mask"].to(model.device),
        "mm_token_type_ids": (input_ids == loaded.image_token_id).to(torch.int).to(model.device),
        "pixel_values": vision["pixel_values"].to(model.device, model.dtype),
        "image_grid_thw": grid.to(model.device),
    }
    return inputs, (grid_w * processor.patch_size, grid_h * processor.patch_size)


def _generate(
    loaded: _Loaded, image: Any, prompt: str, max_new_tokens: int, stop: Callable[[], bool]
) -> tuple[str | None, tuple[int, int]]:
    """Greedy answer (new tokens only; None when ``stop`` cut it short) and the image size.

    ``stop`` is checked after every generated token, so a deadline ends a long answer early.
    """
    torch = torch_runtime.import_torch()
    transformers = torch_runtime.import_transformers()
    fired = threading.Event()

    def check(criteria: Any, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        if stop():
            fired.set()
        flag = fired.is_set()
        return torch.full((input_ids.shape[0],), flag, dtype=torch.bool, device=input_ids.device)

    criteria = type("StopAtDeadline", (transformers.StoppingCriteria,), {"__call__": check})()
    pad_token_id = loaded.tokenizer.pad_token_id
    if pad_token_id is None:
        pad_token_id = loaded.tokenizer.eos_token_id
    try:
        inputs, size = _inputs(loaded, image, prompt)
        if stop():
            fired.set()
        else:
            with torch.inference_mode():
                output = loaded.model.generate(
                    **inputs,
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                    num_beams=1,
                    stopping_criteria=transformers.StoppingCriteriaList([criteria]),
                    pad_token_id=pad_token_id,
                )
    except RuntimeError as err:  # torch errors, CUDA out of memory included
        raise RefPointError(Status.BACKEND_ERROR, f"generation failed: {err}") from None
    if fired.is_set():
        return None, size
    new_tokens = output[0, inputs["input_ids"].shape[1] :]
    text = loaded.tokenizer.decode(new_tokens, skip_special_tokens=True).strip()
    return str(text), size
