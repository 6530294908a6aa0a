"""The manipulation planning modules import without ROS (checked in a fresh interpreter)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULES = [
    "roborefer_ros.manipulation.errors",
    "roborefer_ros.manipulation.grasp_planner",
    "roborefer_ros.manipulation.safety",
    "roborefer_ros.manipulation.moveit_goals",
    "roborefer_ros.manipulation.moveit_fill",
    "roborefer_ros.manipulation.pick_place",
    "roborefer_ros.manipulation.backend_context",
]
CHILD = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
bad = sorted(n for n in sys.modules if n.split('.')[0] in ('rclpy', 'rcl_interfaces')
             or n.split('.')[0].endswith('_msgs') or n.startswith('roborefer_ros.ros')
             or n in ('roborefer_ros.action', 'roborefer_ros.srv', 'roborefer_ros.msg'))
print(json.dumps(bad))
"""


@pytest.mark.parametrize("module", MODULES)
def test_imports_without_ros(module: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, module],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []
