"""The transformers backend on a tiny Qwen2.5-VL built here, offline (no hub, no weights).

The model is randomly initialised except for its output layer, which is zeroed: every logit is
then 0, greedy decoding picks token id 0, and the test's tokenizer maps id 0 to the text
"[42, 14]". The answer is therefore known without the model knowing anything, so the real path
(chat template, image processor, generate, decode, parse) is checked with exact values while
nothing is claimed about model quality.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from roborefer_ros.backends.base import PointingQuery
from roborefer_ros.backends.parsers import AnswerFormat
from roborefer_ros.backends.prompt import QWEN3_TEMPLATE, QWEN25_TEMPLATE, fill_template
from roborefer_ros.backends.registry import BackendOptions, make_backend
from roborefer_ros.backends.transformers_vlm import TransformersVLMBackend, _inputs
from roborefer_ros.core.request import Mode, ReferRequest
from roborefer_ros.core.status import RefPointError, Status
from roborefer_ros.tools.random_vlm import ANSWER_TOKEN, CHAT_TEMPLATE, save_random_qwen25_vl
from test.test_pipeline import SCENE, make_frame, provide, referrer

os.environ["HF_HUB_OFFLINE"] = "1"
ROOT = Path(__file__).resolve().parents[2]

# 64x48 is resized to 56x56 (multiples of 28 within these pixel bounds)
MIN_PIXELS, MAX_PIXELS = 28 * 28, 112 * 112
RGB = np.random.default_rng(1).integers(0, 256, (48, 64, 3), dtype=np.uint8)


def save_tiny_qwen25_vl(folder: Path) -> Path:
    """Tokenizer, image processor, chat template and a 1-layer model, saved like a checkpoint."""
    return save_random_qwen25_vl(folder, "tiny", MIN_PIXELS, MAX_PIXELS)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    return save_tiny_qwen25_vl(tmp_path_factory.mktemp("qwen25_vl"))


@pytest.fixture(scope="module")
def backend(model_dir: Path) -> Iterator[TransformersVLMBackend]:
    vlm = TransformersVLMBackend(str(model_dir), max_new_tokens=2)
    vlm.load()
    yield vlm
    vlm.close()


def query(instruction: str = "the red cup", rgb: Any = RGB) -> PointingQuery:
    return PointingQuery(rgb=rgb, instruction=instruction, mode=Mode.LOCATE, stamp_ns=1)


# -- answers ----------------------------------------------------------------------------------


def test_points_are_read_in_pixels_of_the_resized_image(backend: TransformersVLMBackend) -> None:
    answer = backend.point(query(), timeout_s=30.0)
    assert answer.raw_text == f"{ANSWER_TOKEN} {ANSWER_TOKEN}"  # new tokens only, no prompt
    assert answer.model_image_size == (56, 56)  # not the 64x48 camera image
    assert answer.points_norm == ((0.75, 0.25), (0.75, 0.25))  # 42/56, 14/56
    assert answer.depth_source == "none"
    assert answer.latency_s > 0.0


def test_depth_in_the_query_is_ignored(backend: TransformersVLMBackend) -> None:
    depth = np.zeros((48, 64, 3), np.uint8)
    with_depth = PointingQuery(RGB, "the red cup", Mode.LOCATE, 1, depth, "sensor")
    assert backend.point(with_depth, 30.0).depth_source == "none"  # RGB-only: not shown


def test_max_image_side_downscales_before_the_processor(model_dir: Path) -> None:
    big = np.zeros((480, 640, 3), np.uint8)
    full = TransformersVLMBackend(str(model_dir), max_new_tokens=1)
    full.load()
    assert full.point(query(rgb=big), 30.0).model_image_size == (112, 84)  # max_pixels bound
    small = TransformersVLMBackend(str(model_dir), max_new_tokens=1, max_image_side=64)
    small.load()
    answer = small.point(query(rgb=big), 30.0)
    assert answer.model_image_size == (56, 56)  # 640x480 -> 64x48 -> 56x56
    assert answer.points_norm == ((0.75, 0.25),)


def test_an_answer_in_another_format_is_a_parse_error_keeping_the_text(model_dir: Path) -> None:
    vlm = TransformersVLMBackend(str(model_dir), max_new_tokens=1, answer_format=AnswerFormat.MOLMO)
    vlm.load()
    with pytest.raises(RefPointError) as info:
        vlm.point(query(), 30.0)
    assert info.value.status is Status.PARSE_ERROR
    assert info.value.raw_answer == ANSWER_TOKEN


def test_inputs_match_the_official_qwen25_vl_processor(
    backend: TransformersVLMBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The composed inputs equal what Qwen2_5_VLProcessor makes from the same text and image.

    The processor refuses to be built without torchvision (for its video part); its class
    check is switched off here, and no video is processed.
    """
    import torch
    from PIL import Image
    from transformers import AutoImageProcessor, AutoTokenizer, Qwen2_5_VLProcessor
    from transformers.processing_utils import ProcessorMixin

    monkeypatch.setattr(ProcessorMixin, "check_argument_for_proper_class", lambda *a: None)
    folder = backend.model_path
    processor = Qwen2_5_VLProcessor(
        image_processor=AutoImageProcessor.from_pretrained(folder, local_files_only=True),
        tokenizer=AutoTokenizer.from_pretrained(folder, local_files_only=True),
        video_processor=None,
        chat_template=CHAT_TEMPLATE,
    )
    prompt = fill_template(QWEN25_TEMPLATE, "the red cup")
    image = Image.fromarray(RGB)
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    expected = processor(text=[text], images=[image], return_tensors="pt")
    assert backend._loaded is not None
    ours, size = _inputs(backend._loaded, image, prompt)
    assert size == (56, 56)
    for key in ("input_ids", "attention_mask", "mm_token_type_ids", "image_grid_thw"):
        assert torch.equal(ours[key], expected[key]), key
    assert torch.equal(ours["pixel_values"], expected["pixel_values"])
    assert int(ours["mm_token_type_ids"].sum()) == 4  # 4x4 patches merged 2x2


# -- timeouts, concurrency, lifecycle ---------------------------------------------------------


def test_a_spent_timeout_is_backend_timeout(backend: TransformersVLMBackend) -> None:
    with pytest.raises(RefPointError) as info:
        backend.point(query(), timeout_s=0.0)
    assert info.value.status is Status.BACKEND_TIMEOUT
    assert "0 s" in info.value.message


def test_a_long_answer_stops_at_the_deadline(model_dir: Path) -> None:
    vlm = TransformersVLMBackend(str(model_dir), max_new_tokens=100_000)
    vlm.load()
    started = time.monotonic()
    with pytest.raises(RefPointError) as info:
        vlm.point(query(), timeout_s=0.5)
    elapsed = time.monotonic() - started
    assert info.value.status is Status.BACKEND_TIMEOUT
    assert 0.5 <= elapsed < 2.0  # stopped at the deadline, not after 100k tokens


def wait_until_generating(vlm: TransformersVLMBackend) -> None:
    """Until a request holds the model (its lock), so that the next step meets it busy."""
    deadline = time.monotonic() + 5.0
    while not vlm._lock.locked():
        assert time.monotonic() < deadline, "the request never started"
        time.sleep(0.01)
    time.sleep(0.1)  # well into generation


def test_one_generate_at_a_time(model_dir: Path) -> None:
    vlm = TransformersVLMBackend(str(model_dir), max_new_tokens=100_000)
    vlm.load()
    errors: list[RefPointError] = []

    def long_request() -> None:
        try:
            vlm.point(query(), timeout_s=1.5)
        except RefPointError as err:
            errors.append(err)

    first = threading.Thread(target=long_request)
    first.start()
    wait_until_generating(vlm)
    with pytest.raises(RefPointError, match="busy") as info:
        vlm.point(query(), timeout_s=0.3)
    assert info.value.status is Status.BACKEND_TIMEOUT
    first.join(5.0)
    assert [e.status for e in errors] == [Status.BACKEND_TIMEOUT]


def test_close_stops_a_generate_in_progress(model_dir: Path) -> None:
    vlm = TransformersVLMBackend(str(model_dir), max_new_tokens=100_000)
    vlm.load()
    errors: list[RefPointError] = []

    def request() -> None:
        try:
            vlm.point(query(), timeout_s=30.0)
        except RefPointError as err:
            errors.append(err)

    worker = threading.Thread(target=request)
    worker.start()
    wait_until_generating(vlm)
    started = time.monotonic()
    vlm.close()
    worker.join(5.0)
    assert time.monotonic() - started < 2.0
    assert [e.status for e in errors] == [Status.BACKEND_ERROR]
    assert "closed" in errors[0].message
    assert vlm.loaded_as is None


def test_point_needs_load_and_fails_after_close(model_dir: Path) -> None:
    vlm = TransformersVLMBackend(str(model_dir), max_new_tokens=1)
    with pytest.raises(RefPointError, match="not loaded") as info:
        vlm.point(query(), 30.0)
    assert info.value.status is Status.BACKEND_ERROR
    vlm.load()
    assert vlm.point(query(), 30.0).raw_text == ANSWER_TOKEN
    vlm.close()
    with pytest.raises(RefPointError, match="not loaded"):
        vlm.point(query(), 30.0)
    vlm.load()  # activation after deactivation
    assert vlm.point(query(), 30.0).raw_text == ANSWER_TOKEN


# -- options ----------------------------------------------------------------------------------


def test_auto_dtype_on_cpu_is_float32(backend: TransformersVLMBackend) -> None:
    assert backend.loaded_as == ("cpu", "float32")


def test_bfloat16_is_honoured(model_dir: Path) -> None:
    vlm = TransformersVLMBackend(str(model_dir), dtype="bfloat16", max_new_tokens=1)
    assert vlm.loaded_as is None  # nothing heavy before load()
    vlm.load()
    assert vlm.loaded_as == ("cpu", "bfloat16")
    assert vlm.point(query(), 30.0).points_norm == ((0.75, 0.25),)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"device": "gpu"}, ("'gpu'",)),
        ({"dtype": "int8"}, ("'int8'", "bfloat16")),
        ({"max_new_tokens": 0}, ("max_new_tokens", "0")),
        ({"prompt_template": "Point at it."}, ("{object}",)),
        ({"max_image_side": -1}, ("max_image_side",)),
    ],
    ids=["device", "dtype", "tokens", "template", "side"],
)
def test_bad_options_are_backend_errors(kwargs: dict[str, Any], words: tuple[str, ...]) -> None:
    with pytest.raises(RefPointError) as info:
        TransformersVLMBackend("/models/qwen", **kwargs)
    assert info.value.status is Status.BACKEND_ERROR
    for word in words:
        assert word in info.value.message


def test_an_absent_cuda_device_is_refused_at_load(model_dir: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(RefPointError, match="'cuda:1'") as info:
        TransformersVLMBackend(str(model_dir), device="cuda:1").load()
    assert info.value.status is Status.BACKEND_ERROR


def test_a_missing_folder_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "no_model"
    with pytest.raises(RefPointError) as info:
        TransformersVLMBackend(str(missing)).load()
    assert info.value.status is Status.BACKEND_ERROR
    assert str(missing) in info.value.message


def test_a_bad_config_is_named(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "no_such_model"}))
    with pytest.raises(RefPointError) as info:
        TransformersVLMBackend(str(tmp_path)).load()
    assert info.value.status is Status.BACKEND_ERROR
    assert str(tmp_path) in info.value.message


def test_registry_builds_it_from_options(model_dir: Path) -> None:
    options = BackendOptions(
        model_path=str(model_dir), dtype="float32", max_new_tokens=3, answer_format="qwen3"
    )
    vlm = make_backend("transformers", options)
    assert isinstance(vlm, TransformersVLMBackend) and vlm.name == "transformers"
    assert vlm.max_new_tokens == 3 and vlm.answer_format is AnswerFormat.QWEN3
    assert vlm.prompt_template == QWEN3_TEMPLATE  # the family default, shared with openai
    default = make_backend("transformers", BackendOptions(model_path="/m"))
    assert isinstance(default, TransformersVLMBackend)
    assert default.answer_format is AnswerFormat.QWEN25 and default.dtype == "auto"
    for bad, word in (
        (BackendOptions(), "model_path"),
        (BackendOptions(model_path="/m", answer_format="xml"), "'xml'"),
    ):
        with pytest.raises(RefPointError, match=word) as info:
            make_backend("transformers", bad)
        assert info.value.status is Status.BACKEND_ERROR


# -- end to end, and import hygiene -----------------------------------------------------------


def test_pipeline_end_to_end(model_dir: Path) -> None:
    """640x480 frame -> 112x84 model image -> [42, 14] = (0.375, 1/6) -> a 3D point."""
    vlm = TransformersVLMBackend(str(model_dir), max_new_tokens=1)
    vlm.load()
    frame = make_frame("32FC1")
    outcome = referrer(vlm).refer(ReferRequest("the red cup", mode=Mode.LOCATE), provide(frame))
    assert outcome.backend == "transformers"
    assert outcome.raw_answer == ANSWER_TOKEN
    assert outcome.status is Status.OK, outcome.message
    (point,) = outcome.points
    assert (point.x_norm, point.y_norm) == pytest.approx((42 / 112, 14 / 84))
    assert point.lifted.pixel == pytest.approx((42 / 112 * SCENE.width, 14 / 84 * SCENE.height))


def test_importing_the_backends_does_not_import_torch() -> None:
    code = (
        "import sys\n"
        "import roborefer_ros.backends.registry, roborefer_ros.backends.transformers_vlm\n"
        "import roborefer_ros.backends.model_depth, roborefer_ros.pipeline\n"
        "print(sorted(m for m in ('torch', 'transformers', 'PIL') if m in sys.modules))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
