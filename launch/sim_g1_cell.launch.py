"""The simulated G1 cell: sim_node (launch/sim_node.launch.py; it serves the G1's unitree_hg
topics itself, which pick_place_node's g1 backend drives). Included by launch/sim.launch.py
robot:=g1; the arguments of sim_node.launch.py (seed, realtime, camera_ns, use_sim_time,
params_file) pass through.
"""

from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare("roborefer_ros")
    return LaunchDescription(
        [
            IncludeLaunchDescription(
                PythonLaunchDescriptionSource(
                    PathJoinSubstitution([share, "launch", "sim_node.launch.py"])
                ),
                launch_arguments={"robot": "g1"}.items(),
            ),
        ]
    )
