"""The simulated UR5e cell on a live graph, started once for the modules that drive it: sim_node
(seed 13, its camera under /cam) and sim_move_group. Package-scoped: it must be gone before
tests elsewhere start graphs of their own in the same ROS domain (a second /joint_states,
/move_action and /tf_static would answer them)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from roborefer_ros.ros.graph import GraphClient, NodeProcess


@dataclass
class UrCell:
    sim: NodeProcess
    move_group: NodeProcess

    def logs(self) -> str:
        sim, move_group = self.sim.log()[-3000:], self.move_group.log()[-3000:]
        return f"--- sim_node\n{sim}\n--- move_group\n{move_group}"


@pytest.fixture(scope="package")
def ur5e_cell(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UrCell]:
    logs = tmp_path_factory.mktemp("ur5e_cell")
    domain = int(os.environ["ROS_DOMAIN_ID"])
    sim_args = [
        "--ros-args",
        "-r",
        "__node:=sim_node",
        "-p",
        "seed:=13",
        "-p",
        "realtime:=true",  # a motion lasts long enough to count frames and to cancel
        "-p",
        "rate_hz:=10.0",
        "-r",
        "color/image_raw:=/cam/color/image_raw",
        "-r",
        "color/camera_info:=/cam/color/camera_info",
        "-r",
        "aligned_depth_to_color/image_raw:=/cam/aligned_depth_to_color/image_raw",
    ]
    sim = NodeProcess("roborefer_ros.tools.sim_node", sim_args, domain, logs / "sim_node.log")
    move_group_args = [
        "--ros-args",
        "-r",
        "__node:=move_group",
        "-p",
        "allowed_execution_duration_scaling:=4.0",  # a loaded CI machine lags real time
        "-p",
        "allowed_goal_duration_margin:=2.0",
    ]
    move_group = NodeProcess(
        "roborefer_ros.tools.sim_move_group", move_group_args, domain, logs / "move_group.log"
    )
    cell = UrCell(sim, move_group)
    yield cell
    codes = (move_group.stop(), sim.stop())
    assert codes == (0, 0), cell.logs()


@pytest.fixture
def graph() -> Iterator[GraphClient]:
    client = GraphClient(f"sim_test_{os.getpid()}")
    yield client
    client.close()
