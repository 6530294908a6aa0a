"""The embedded backend's contract, with a randomly initialised network written to a temporary
weights file (accuracy is test_accuracy's business): its answer is RoboRefer's text, parsed by
the same parser; it reports its latency; it refuses what it cannot do with a typed error."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from roborefer_ros.backends.base import PointingQuery
from roborefer_ros.backends.embedded.backend import (
    EmbeddedBackend,
    default_weights_path,
    vocabulary,
)
from roborefer_ros.backends.embedded.network import NetworkConfig, PointingNetwork
from roborefer_ros.backends.embedded.weights import save_network
from roborefer_ros.backends.parsers import AnswerFormat, parse_points
from roborefer_ros.backends.registry import BackendOptions, make_backend
from roborefer_ros.core.request import Mode
from roborefer_ros.core.status import RefPointError, Status

ANSWER = re.compile(r"\[\(\d\.\d{3}, \d\.\d{3}\)\]")


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "random.safetensors"
    save_network(
        path, PointingNetwork(NetworkConfig()).eval(), {"vocabulary": json.dumps(vocabulary())}
    )
    return path


def query(instruction: str, width: int = 640, height: int = 480) -> PointingQuery:
    rgb = np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8)
    return PointingQuery(rgb=rgb, instruction=instruction, mode=Mode.AUTO, stamp_ns=0)


@pytest.mark.parametrize(("width", "height"), [(640, 480), (1280, 720), (333, 251)])
def test_answer_is_roborefer_text_parsed_by_the_shared_parser(
    weights: Path, width: int, height: int
) -> None:
    backend = EmbeddedBackend(str(weights))
    backend.load()
    for instruction in ("the red cup", "the free space to the left of the apple"):
        answer = backend.point(query(instruction, width, height), timeout_s=30.0)
        assert ANSWER.fullmatch(answer.raw_text), answer.raw_text
        assert answer.points_norm == parse_points(
            answer.raw_text, AnswerFormat.ROBOREFER, answer.model_image_size
        )
        ((x, y),) = answer.points_norm
        assert 0.0 <= x <= 1.0 and 0.0 <= y <= 1.0
        mw, mh = answer.model_image_size
        assert max(mw / 320, mh / 240) == pytest.approx(1.0, abs=0.01)
        assert mw / mh == pytest.approx(width / height, rel=0.02)
        assert 0.0 < answer.latency_s < 30.0
        assert answer.depth_source == "none"
    backend.close()


def test_the_registry_builds_it_and_load_fails_clearly_without_weights(tmp_path: Path) -> None:
    missing = tmp_path / "none.safetensors"
    backend = make_backend("embedded", BackendOptions(embedded_weights=str(missing)))
    assert backend.name == "embedded"
    with pytest.raises(RefPointError) as err:
        backend.load()
    assert err.value.status is Status.BACKEND_ERROR
    assert str(missing) in err.value.message and "not found" in err.value.message


@pytest.mark.parametrize(
    "content", [b"", b"not a safetensors file at all", b"\x08\x00\x00\x00\x00\x00\x00\x00{}"]
)
def test_a_corrupt_weights_file_is_a_backend_error_at_load(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(RefPointError) as err:
        EmbeddedBackend(str(path)).load()
    assert err.value.status is Status.BACKEND_ERROR
    assert "cannot load embedded weights" in err.value.message and str(path) in err.value.message


def test_a_truncated_weights_file_is_a_backend_error(weights: Path, tmp_path: Path) -> None:
    path = tmp_path / "cut.safetensors"
    path.write_bytes(weights.read_bytes()[:-1000])
    with pytest.raises(RefPointError, match="cannot load embedded weights") as err:
        EmbeddedBackend(str(path)).load()
    assert err.value.status is Status.BACKEND_ERROR


def test_weights_of_another_vocabulary_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.safetensors"
    other = {**vocabulary(), "colours": ["mauve"]}
    save_network(path, PointingNetwork(NetworkConfig()), {"vocabulary": json.dumps(other)})
    with pytest.raises(RefPointError, match="another vocabulary"):
        EmbeddedBackend(str(path)).load()


def test_unknown_words_and_calls_before_load_are_backend_errors(weights: Path) -> None:
    backend = EmbeddedBackend(str(weights))
    with pytest.raises(RefPointError, match="not loaded") as err:
        backend.point(query("the red cup"), timeout_s=5.0)
    assert err.value.status is Status.BACKEND_ERROR
    backend.load()
    with pytest.raises(RefPointError, match="cannot read 'the purple dog'") as err:
        backend.point(query("the purple dog"), timeout_s=5.0)
    assert err.value.status is Status.BACKEND_ERROR
    backend.close()
    with pytest.raises(RefPointError, match="not loaded"):
        backend.point(query("the red cup"), timeout_s=5.0)


def test_default_weights_are_the_shipped_file() -> None:
    path = default_weights_path()
    assert path.name == "embedded_pointer.safetensors" and path.parent.name == "models"
