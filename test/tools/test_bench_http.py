"""The HTTP client-cost benchmark runs end to end (so the script cannot rot)."""

from __future__ import annotations

import json

import pytest

from roborefer_ros.tools.bench_http import main


def test_bench_http_prints_a_json_line_with_ratios(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--n", "2", "--size", "160x120", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["frame"] == "160x120" and result["n"] == 2
    methods = result["methods"]
    assert set(methods) >= {"roborefer_http", "openai", "authors_client"}
    assert methods["authors_client"]["baseline_over_this_p50"] == 1.0
    for figures in methods.values():
        assert figures["p50_ms"] > 0 and figures["p95_ms"] >= figures["p50_ms"]
        assert figures["baseline_over_this_p50"] > 0
        assert figures["request_bytes"] > 0
    # the lossless default sends an uncompressed PNG: larger than the authors' level-6 PNG
    assert methods["roborefer_http"]["request_bytes"] > methods["authors_client"]["request_bytes"]
    assert "roborefer_http_png_deflate" in methods
