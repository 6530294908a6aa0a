"""The shipped embedded weights still point: scored by ``roborefer-bench`` (the real CLI, the
real backend, the shared parser and scorer) on a small RefSpatial-format export of scenes the
model never trained on.

Seeds 900-909 lie outside the training range (10000-10774), the validation range
(20000-20049) and the benchmark range (1000-1099). The floors sit well under what the shipped
weights score on the benchmark (Location 95.4 %, Placement 86.6 % on seeds 1000-1099), so that
noise on 50 samples per split does not trip them but a broken model, a broken pre-processing
step or a vocabulary mismatch does (an untrained network scores near the centre baseline, ~3 %).
CI never trains: this test reads ``data/models/embedded_pointer.safetensors``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from roborefer_ros.backends.embedded.backend import default_weights_path
from roborefer_ros.eval.export_sim import export_scenes
from roborefer_ros.tools import bench

HELD_OUT_SEEDS = range(900, 910)
LOCATION_FLOOR = 0.80
PLACEMENT_FLOOR = 0.65

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, object]]:
    weights = default_weights_path()
    assert weights.is_file(), f"shipped weights missing: {weights}"
    root = tmp_path_factory.mktemp("held_out")
    summary = export_scenes(root, list(HELD_OUT_SEEDS), 10, place_share=0.5)
    assert summary.counts["Location"] >= 40 and summary.counts["Placement"] >= 40, summary
    return _bench_json(root)


def _bench_json(root: Path) -> dict[str, dict[str, object]]:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = bench.main([str(root), "--backend", "embedded", "--json"])
    text = out.getvalue()
    assert code == 0, text[-2000:]
    result: dict[str, dict[str, object]] = json.loads(text.strip().splitlines()[-1])
    return result


def test_location_above_floor(scores: dict[str, dict[str, object]]) -> None:
    location = scores["Location"]
    assert location["failed"] == 0 and location["unparsed"] == 0, location
    assert float(str(location["score"])) >= LOCATION_FLOOR, location


def test_placement_above_floor(scores: dict[str, dict[str, object]]) -> None:
    placement = scores["Placement"]
    assert placement["failed"] == 0 and placement["unparsed"] == 0, placement
    assert float(str(placement["score"])) >= PLACEMENT_FLOOR, placement
