"""The simulated UR5e cell: sim_node (launch/sim_node.launch.py; it serves ur_robot_driver's and
the Robotiq driver's interfaces) and sim_move_group, a move_group for the cell (SIMULATION
INSTRUMENTATION: on a real cell ur_moveit_config's move_group runs instead; no robot launch file
starts this). Included by launch/sim.launch.py robot:=ur5e; the arguments of sim_node.launch.py
(seed, realtime, camera_ns) pass through.
"""

from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare("roborefer_ros")
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "params_file",
                default_value=PathJoinSubstitution([share, "config", "sim.yaml"]),
                description="The simulated cell's parameters (a section move_group:)",
            ),
            DeclareLaunchArgument("use_sim_time", default_value="false"),
            IncludeLaunchDescription(
                PythonLaunchDescriptionSource(
                    PathJoinSubstitution([share, "launch", "sim_node.launch.py"])
                ),
                launch_arguments={"robot": "ur5e"}.items(),
            ),
            Node(
                package="roborefer_ros",
                executable="sim_move_group",
                name="move_group",
                output="screen",
                parameters=[
                    LaunchConfiguration("params_file"),
                    {"use_sim_time": LaunchConfiguration("use_sim_time")},
                ],
            ),
        ]
    )
