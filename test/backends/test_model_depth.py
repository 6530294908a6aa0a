"""Model depth: sensor conversion by exact values, sources by name, and a tiny estimator.

The estimator is a randomly initialised Depth-Anything model built and saved here (no hub), so
only shapes, dtype, range and the pipeline path are asserted, never depth quality.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from roborefer_ros.backends.model_depth import (
    EstimatedDepth,
    NoModelDepth,
    SensorDepth,
    make_model_depth,
    make_model_depth_for_options,
    normalise_for_model,
    sensor_depth_for_model,
)
from roborefer_ros.backends.registry import BackendOptions
from roborefer_ros.core.request import Mode, ReferRequest
from roborefer_ros.core.status import RefPointError, Status
from test.test_pipeline import CountingBackend, make_frame, provide, recorded, referrer

os.environ["HF_HUB_OFFLINE"] = "1"

# 0.5 m, 1 m, 2 m and a hole: inverse depth 2, 1, 0.5 -> (x - 0.5) / 1.5 * 255, truncated
DEPTH_MM = np.array([[500, 1000], [2000, 0]], dtype=np.uint16)
EXPECTED = np.array([[255, 85], [0, 0]], dtype=np.uint8)


def gray(image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """The single channel of a model depth image, after checking its three channels agree."""
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert np.array_equal(image[:, :, 0], image[:, :, 1])
    assert np.array_equal(image[:, :, 0], image[:, :, 2])
    return image[:, :, 0]


# -- sensor depth ---------------------------------------------------------------------------------


def test_16uc1_is_inverted_and_normalised_over_valid_pixels() -> None:
    image = sensor_depth_for_model(DEPTH_MM, "16UC1")
    assert image.shape == (2, 2, 3)
    np.testing.assert_array_equal(gray(image), EXPECTED)


def test_32fc1_gives_the_same_image_and_every_invalid_kind_is_black() -> None:
    metres = np.array([[0.5, 1.0, np.nan], [2.0, np.inf, -1.0], [0.0, -np.inf, 1.0]], np.float32)
    np.testing.assert_array_equal(
        gray(sensor_depth_for_model(metres, "32FC1")),
        [[255, 85, 0], [0, 0, 0], [0, 0, 85]],
    )


def test_near_is_bright_and_invalid_pixels_do_not_stretch_the_range() -> None:
    ramp = np.linspace(400, 4000, 64, dtype=np.float64).astype(np.uint16).reshape(8, 8)
    values = gray(sensor_depth_for_model(ramp, "16UC1")).ravel()
    assert values[0] == 255 and values[-1] == 0
    assert np.all(np.diff(values.astype(int)) <= 0)  # farther -> darker
    holed = ramp.copy()
    holed[3, 3] = 0
    with_hole = gray(sensor_depth_for_model(holed, "16UC1"))
    assert with_hole[3, 3] == 0
    mask = np.ones((8, 8), bool)
    mask[3, 3] = False
    np.testing.assert_array_equal(with_hole[mask], values.reshape(8, 8)[mask])


def test_mono16_reads_as_millimetres() -> None:
    np.testing.assert_array_equal(gray(sensor_depth_for_model(DEPTH_MM, "mono16")), EXPECTED)


def test_flat_valid_depth_is_all_bright() -> None:
    depth = np.array([[800, 800], [0, 800]], dtype=np.uint16)
    np.testing.assert_array_equal(
        gray(sensor_depth_for_model(depth, "16UC1")), [[255, 255], [0, 255]]
    )


def test_unsupported_encoding_is_named() -> None:
    with pytest.raises(RefPointError) as info:
        sensor_depth_for_model(DEPTH_MM, "bgr8")
    assert info.value.status is Status.UNSUPPORTED_ENCODING
    assert "'bgr8'" in info.value.message


@pytest.mark.parametrize(
    ("depth", "encoding"),
    [
        (np.zeros((4, 5), np.uint16), "16UC1"),
        (np.full((4, 5), np.nan, np.float32), "32FC1"),
    ],
    ids=["zeros", "nan"],
)
def test_no_valid_pixel(depth: npt.NDArray[np.generic], encoding: str) -> None:
    with pytest.raises(RefPointError) as info:
        sensor_depth_for_model(depth, encoding)
    assert info.value.status is Status.NO_VALID_DEPTH
    assert "5x4" in info.value.message


def test_dtype_not_matching_the_encoding_is_a_bad_frame() -> None:
    with pytest.raises(RefPointError) as info:
        sensor_depth_for_model(DEPTH_MM.astype(np.float32), "16UC1")
    assert info.value.status is Status.BAD_FRAME


def test_normalise_for_model_truncates_like_depth_anything() -> None:
    inverse = np.array([[0.0, 1.0, 2.0, 3.0]])
    out = gray(normalise_for_model(inverse, np.ones_like(inverse, dtype=bool)))
    np.testing.assert_array_equal(out, [[0, 85, 170, 255]])  # 84.99.. would round to 85 too
    out = gray(normalise_for_model(np.array([[0.0, 1.0, 2.0]]), np.ones((1, 3), bool)))
    np.testing.assert_array_equal(out, [[0, 127, 255]])  # 127.5 truncates, never rounds


# -- sources by name ------------------------------------------------------------------------------


def test_make_model_depth_by_name() -> None:
    assert isinstance(make_model_depth("none", "", "cpu"), NoModelDepth)
    assert isinstance(make_model_depth(" Sensor ", "", "cpu"), SensorDepth)
    estimated = make_model_depth("estimated", "/models/da", "cpu")
    assert isinstance(estimated, EstimatedDepth) and estimated.model_path == "/models/da"
    assert [make_model_depth(n, "/m", "cpu").name for n in ("none", "sensor", "estimated")] == [
        "none",
        "sensor",
        "estimated",
    ]


def test_unknown_depth_source_is_named() -> None:
    with pytest.raises(RefPointError) as info:
        make_model_depth("lidar", "", "cpu")
    assert info.value.status is Status.BACKEND_ERROR
    assert "'lidar'" in info.value.message and "estimated" in info.value.message


def test_estimated_needs_a_model_path_and_a_known_device() -> None:
    with pytest.raises(RefPointError, match="depth_model_path") as info:
        make_model_depth("estimated", " ", "cpu")
    assert info.value.status is Status.BACKEND_ERROR
    with pytest.raises(RefPointError, match="'gpu'"):
        make_model_depth("estimated", "/m", "gpu")


def test_from_options() -> None:
    source = make_model_depth_for_options(BackendOptions(depth_source="sensor"))
    assert source.name == "sensor"
    assert source.from_arrays(np.zeros((2, 2, 3), np.uint8), (DEPTH_MM, "16UC1")) is not None
    none = make_model_depth_for_options(BackendOptions())
    assert none.name == "none" and none(make_frame()) is None


def test_sensor_from_arrays_needs_aligned_depth() -> None:
    source = SensorDepth()
    rgb = np.zeros((2, 2, 3), np.uint8)
    image = source.from_arrays(rgb, (DEPTH_MM, "16UC1"))
    assert image is not None
    np.testing.assert_array_equal(gray(image), EXPECTED)
    with pytest.raises(RefPointError, match="needs a depth image") as info:
        source.from_arrays(rgb, None)
    assert info.value.status is Status.BAD_FRAME
    with pytest.raises(RefPointError, match="3x2") as info:
        source.from_arrays(np.zeros((2, 3, 3), np.uint8), (DEPTH_MM, "16UC1"))
    assert info.value.status is Status.BAD_FRAME


def test_sensor_source_uses_the_frames_depth_and_encoding() -> None:
    frame = make_frame("32FC1")
    image = SensorDepth()(frame)
    assert image is not None
    np.testing.assert_array_equal(image, sensor_depth_for_model(frame.depth, "32FC1"))
    assert image.shape == (frame.height, frame.width, 3)


# -- estimated depth (tiny random Depth-Anything) ------------------------------------------------


def save_tiny_depth_anything(folder: Path, estimation_type: str = "relative") -> Path:
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config
    from transformers.models.dpt.image_processing_pil_dpt import DPTImageProcessorPil

    backbone = Dinov2Config(
        hidden_size=16,
        num_hidden_layers=4,
        num_attention_heads=2,
        intermediate_size=32,
        image_size=56,
        patch_size=14,
        out_features=["stage1", "stage2", "stage3", "stage4"],
        reshape_hidden_states=False,
    )
    config = DepthAnythingConfig(
        backbone_config=backbone,
        reassemble_hidden_size=16,
        neck_hidden_sizes=[8, 8, 8, 8],
        fusion_hidden_size=8,
        head_hidden_size=8,
        depth_estimation_type=estimation_type,
    )
    DepthAnythingForDepthEstimation(config).save_pretrained(folder)
    DPTImageProcessorPil(
        size={"height": 56, "width": 56}, keep_aspect_ratio=True, ensure_multiple_of=14
    ).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def depth_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    return save_tiny_depth_anything(tmp_path_factory.mktemp("depth_anything"))


def test_estimated_depth_shape_dtype_and_range(depth_model: Path) -> None:
    source = EstimatedDepth(str(depth_model))
    rgb = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    image = source.estimate(rgb)  # loads on first use
    assert image.shape == (48, 64, 3)
    values = gray(image)
    assert int(values.min()) == 0 and int(values.max()) == 255  # min-max normalised


def test_estimated_depth_honours_dtype(depth_model: Path) -> None:
    source = EstimatedDepth(str(depth_model), device="cpu", dtype="bfloat16")
    source.load()
    assert str(source._model.dtype) == "torch.bfloat16"
    image = source.from_arrays(np.full((30, 20, 3), 90, np.uint8), None)
    assert image is not None and image.shape == (30, 20, 3) and image.dtype == np.uint8


def test_estimated_depth_refuses_a_missing_folder(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(RefPointError) as info:
        EstimatedDepth(str(missing)).load()
    assert info.value.status is Status.BACKEND_ERROR
    assert str(missing) in info.value.message


def test_estimated_depth_refuses_a_broken_folder(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "no_such_model"}))
    with pytest.raises(RefPointError) as info:
        EstimatedDepth(str(tmp_path)).load()
    assert info.value.status is Status.BACKEND_ERROR
    assert str(tmp_path) in info.value.message


def test_estimated_depth_refuses_a_metric_model(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    folder = save_tiny_depth_anything(tmp_path, estimation_type="metric")
    with pytest.raises(RefPointError, match="metric") as info:
        EstimatedDepth(str(folder)).load()
    assert info.value.status is Status.BACKEND_ERROR


def test_estimated_depth_refuses_an_absent_cuda_device(depth_model: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(RefPointError, match="'cuda:3'") as info:
        EstimatedDepth(str(depth_model), device="cuda:3").load()
    assert info.value.status is Status.BACKEND_ERROR


def test_pipeline_gives_the_backend_estimated_depth(depth_model: Path) -> None:
    backend = CountingBackend(recorded("[(0.5, 0.75)]"))
    frame = make_frame("16UC1")
    outcome = referrer(backend, model_depth=EstimatedDepth(str(depth_model))).refer(
        ReferRequest("the thing", mode=Mode.LOCATE), provide(frame)
    )
    assert outcome.status is Status.OK, outcome.message
    assert outcome.depth_source == "estimated"
    (query,) = backend.queries
    assert query.depth_source == "estimated"
    assert query.depth_for_model is not None
    assert query.depth_for_model.shape == (frame.height, frame.width, 3)
    assert int(gray(query.depth_for_model).max()) == 255
