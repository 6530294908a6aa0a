"""The model-latency benchmark runs the real transformers path end to end on a random model."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")

from roborefer_ros.tools.bench_model import main


def test_bench_model_tiny_on_cpu(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--size", "tiny", "--frame", "128x96", "--n", "2", "--new-tokens", "3", "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["answer"] == " ".join(["[42, 14]"] * 3)  # exactly --new-tokens tokens
    assert result["model_image_size"] == [140, 84]  # 128x96 rounded to multiples of 28
    timing = result["time_to_answer_ms"]
    assert 0 < timing["p50"] <= timing["p95"]
