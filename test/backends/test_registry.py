"""Backend registry: names, options, and errors as BACKEND_ERROR."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from roborefer_ros.backends.base import PointingQuery
from roborefer_ros.backends.ground_truth import GroundTruthBackend
from roborefer_ros.backends.registry import BackendOptions, known_backends, make_backend
from roborefer_ros.core.referring import ReferringQuery, ReferringSet, dump_referring
from roborefer_ros.core.request import Mode
from roborefer_ros.core.status import RefPointError, Status


@pytest.fixture
def referring_file(tmp_path: Path) -> Path:
    path = tmp_path / "referring.json"
    query = ReferringQuery("the mug", 0, (32.0, 24.0), (0.0, 0.0, 0.0), Mode.LOCATE, 0.01)
    dump_referring(ReferringSet("base_link", (query,)), path)
    return path


def test_known_backends() -> None:
    names = known_backends()
    assert {"ground_truth", "recorded", "roborefer_http", "openai"} <= set(names)
    assert list(names) == sorted(names)


def test_makes_a_working_ground_truth_backend(referring_file: Path) -> None:
    backend = make_backend(" ground_truth ", BackendOptions(referring_file=str(referring_file)))
    assert isinstance(backend, GroundTruthBackend) and backend.name == "ground_truth"
    rgb = np.zeros((48, 64, 3), np.uint8)
    answer = backend.point(PointingQuery(rgb, "the mug", Mode.AUTO, 7), 1.0)
    assert answer.points_norm == ((0.5, 0.5),)


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(RefPointError) as info:
        make_backend("roborefer_grpc", BackendOptions())
    assert info.value.status is Status.BACKEND_ERROR
    assert "'roborefer_grpc'" in info.value.message and "roborefer_http" in info.value.message


def test_ground_truth_needs_a_file() -> None:
    with pytest.raises(RefPointError, match="referring_file") as info:
        make_backend("ground_truth", BackendOptions())
    assert info.value.status is Status.BACKEND_ERROR


def test_bad_file_becomes_backend_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "absent.json"
    with pytest.raises(RefPointError) as info:
        make_backend("ground_truth", BackendOptions(referring_file=str(path)))
    assert info.value.status is Status.BACKEND_ERROR
    assert str(path) in info.value.message


@pytest.mark.parametrize("latency_s", [-0.1, math.nan, math.inf])
def test_bad_latency_is_refused(referring_file: Path, latency_s: float) -> None:
    options = BackendOptions(referring_file=str(referring_file), simulated_latency_s=latency_s)
    with pytest.raises(RefPointError, match="simulated_latency_s") as info:
        make_backend("ground_truth", options)
    assert info.value.status is Status.BACKEND_ERROR
