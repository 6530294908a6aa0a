"""roborefer-query: one backend on one image file, its JSON line and annotated image."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from roborefer_ros.core.depth import encode_depth
from roborefer_ros.sim.analytic_scene import SyntheticScene
from roborefer_ros.tools.query import main

SCENE = SyntheticScene()


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    rgb, depth_m = SCENE.render(0.0)
    Image.fromarray(rgb).save(tmp_path / "scene.png")
    Image.fromarray(encode_depth(depth_m)).save(tmp_path / "depth.png")
    answers = tmp_path / "answers.json"
    answers.write_text(
        json.dumps(
            {
                "format": "qwen2.5",  # absolute pixels of the image the model saw
                "answers": [{"prompt": "the red box", "answer": '[{"point_2d": [320, 240]}]'}],
            }
        )
    )
    return {"image": tmp_path / "scene.png", "depth": tmp_path / "depth.png", "answers": answers}


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, object]]:
    code = main(list(argv))
    last = capsys.readouterr().out.strip().splitlines()[-1]
    return code, json.loads(last)


def test_json_line_has_the_points_in_normalised_and_pixel_units(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "annotated.png"
    code, result = _run(
        capsys,
        str(files["image"]),
        "the red box",
        "--backend",
        "recorded",
        "--answers-file",
        str(files["answers"]),
        "--json",
        "--out",
        str(out),
    )
    assert code == 0
    assert result["status"] == "OK"
    assert result["raw_answer"] == '[{"point_2d": [320, 240]}]'
    assert result["points_norm"] == [[0.5, 0.5]]
    assert result["points_px"] == [[320.0, 240.0]]
    assert isinstance(result["latency_s"], float)
    drawn = np.asarray(Image.open(out).convert("RGB"))
    original = np.asarray(Image.open(files["image"]).convert("RGB"))
    assert tuple(drawn[240, 320]) == (255, 60, 60)  # the outlined marker's core on the point
    ring = drawn[225:256, 305:336]
    assert (ring == 255).all(axis=2).sum() > 40 and (ring == 0).all(axis=2).sum() > 40
    changed = (drawn != original).any(axis=2)
    assert changed[225:256, 340:380].any()  # its label "#0" beside it


def test_sensor_depth_is_shown_to_the_model(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, result = _run(
        capsys,
        str(files["image"]),
        "the red box",
        "--backend",
        "recorded",
        "--answers-file",
        str(files["answers"]),
        "--depth",
        str(files["depth"]),
        "--depth-source",
        "sensor",
        "--json",
    )
    assert code == 0 and result["depth_source"] == "sensor"


def test_failures_exit_non_zero_with_the_status_in_the_json(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, result = _run(
        capsys,
        str(files["image"]),
        "the purple elephant",
        "--backend",
        "recorded",
        "--answers-file",
        str(files["answers"]),
        "--json",
    )
    assert code == 1
    assert result["status"] == "BACKEND_ERROR"
    assert "purple elephant" in str(result["message"])
    assert result["points_px"] == []


def test_unknown_backend_is_reported(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, result = _run(capsys, str(files["image"]), "x", "--backend", "nope", "--json")
    assert code == 1 and result["status"] == "BACKEND_ERROR" and "nope" in str(result["message"])


def test_roborefer_http_backend_against_a_server_speaking_the_authors_protocol(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from roborefer_ros.tools.fake_model_server import FakeModelServer

    answers = {"the red box": {"answer": "[(0.250, 0.750)]"}}
    (tmp_path / "server").mkdir()
    with FakeModelServer("roborefer", answers, tmp_path / "server") as server:
        code, result = _run(
            capsys,
            str(files["image"]),
            "the red box",
            "--backend",
            "roborefer_http",
            "--url",
            server.url,
            "--depth",
            str(files["depth"]),
            "--depth-source",
            "sensor",
            "--json",
        )
        sent = [r for r in server.requests() if r.get("path") == "/query"]
    assert code == 0, result
    assert result["points_px"] == [[160.0, 360.0]]
    assert result["depth_source"] == "sensor"
    assert len(sent) == 1
    body = sent[0]["body"]
    assert body["enable_depth"] == 1 and len(body["depth_url"]) == 1
    assert body["text"].startswith("the red box Your answer should be formatted")
