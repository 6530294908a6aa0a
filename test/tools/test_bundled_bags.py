"""The bags shipped in data/bags/: small, readable, consistent with their referring.json, and
scored end to end through a live refer node (the demo and the README numbers rely on them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from roborefer_ros.bags import messages as m
from roborefer_ros.bags.make_bundled import BUNDLED
from roborefer_ros.bags.reader import BagReader
from roborefer_ros.core.referring import load_referring
from roborefer_ros.core.request import Mode
from roborefer_ros.ros.graph import ros_env
from roborefer_ros.tools.demo import pick_queries

ROOT = Path(__file__).resolve().parents[2]
BAGS = ROOT / "data" / "bags"
NAMES = [bag.name for bag in BUNDLED]
MAX_BAG_BYTES = 10_000_000
EVAL_TIMEOUT_S = 60.0
BUNDLED_MODULE = "roborefer_ros.tools.make_bags"


def _colour_stamps(path: Path) -> set[int]:
    with BagReader(path) as bag:
        cams = bag.camera_topics()
        return {
            m.header_stamp_ns(m.deserialize(msg.data, msg.msgtype, msg.topic))
            for msg in bag.messages([cams.color])
        }


@pytest.mark.parametrize("name", NAMES)
def test_bundled_bag_is_small_and_consistent(name: str) -> None:
    path = BAGS / name
    regenerate = f"python -m {BUNDLED_MODULE} data/bags"
    assert (path / "metadata.yaml").is_file(), f"{path} is missing: {regenerate}"
    size = sum(f.stat().st_size for f in path.iterdir() if f.is_file())
    assert size < MAX_BAG_BYTES, f"{name} is {size / 1e6:.1f} MB"
    with BagReader(path) as bag:
        cams = bag.camera_topics()
        assert cams.color.endswith("color/image_raw")
        assert {"/tf", "/tf_static"} <= bag.topics.keys()
        referring = load_referring(bag.referring_path())
    stamps = _colour_stamps(path)
    assert len(stamps) >= 10
    assert referring.target_frame == "base_link"
    assert 20 <= len(referring.queries) <= 40
    assert {q.mode for q in referring.queries} == {Mode.LOCATE, Mode.PLACE}
    missing = [q.prompt for q in referring.queries if q.stamp_ns not in stamps]
    assert not missing, f"queries stamped with no frame of {name}: {missing}"


def test_noisy_bag_asks_what_the_static_bag_asks() -> None:
    """The noisy bag is the static recording with corrupted depth: same queries and truth."""
    static = load_referring(BAGS / "tabletop_static" / "referring.json")
    noisy = load_referring(BAGS / "tabletop_noisy" / "referring.json")
    assert static == noisy


def test_demo_picks_a_mix_on_distinct_frames() -> None:
    referring = load_referring(BAGS / "tabletop_moving" / "referring.json")
    picked = pick_queries(referring.queries, 6)
    assert [q.mode for q in picked].count(Mode.PLACE) == 2
    assert len({q.stamp_ns for q in picked}) == 6
    assert [q.stamp_ns for q in picked] == sorted(q.stamp_ns for q in picked)


@pytest.fixture(scope="module")
def moving_eval() -> dict[str, Any]:
    """One live evaluation of the moving bag (node process + replay), shared by the checks."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "roborefer_ros.tools.bag_eval",
            str(BAGS / "tabletop_moving"),
            "--json",
        ],
        env=ros_env(int(os.environ["ROS_DOMAIN_ID"])),
        capture_output=True,
        text=True,
        timeout=EVAL_TIMEOUT_S,  # subprocess.run kills the child on timeout
        stdin=subprocess.DEVNULL,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["_stdout"] = proc.stdout
    return result


@pytest.mark.graph
def test_moving_bag_every_query_answered_ok(moving_eval: dict[str, Any]) -> None:
    n = len(load_referring(BAGS / "tabletop_moving" / "referring.json").queries)
    assert moving_eval["n"] == n
    assert moving_eval["status_counts"] == {"OK": n}, moving_eval["_stdout"]
    assert moving_eval["median_error_m"] < 0.002


@pytest.mark.graph
def test_moving_bag_success_rate(moving_eval: dict[str, Any]) -> None:
    assert moving_eval["success_rate"] >= 0.99, moving_eval["_stdout"]
