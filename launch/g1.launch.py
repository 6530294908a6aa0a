"""Unitree G1 with its head RealSense (D435): the refer node and the pick-and-place node
(launch/nodes.launch.py with config/g1.yaml and the G1's camera and frame).

    ros2 launch roborefer_ros g1.launch.py model_url:=http://gpu-box:25547
    ros2 launch roborefer_ros g1.launch.py camera_ns:=/head_camera params_file:=/path/to/g1.yaml

Every argument of nodes.launch.py applies (backend, model_url, overlay_params_file, depth_topic,
use_sim_time). Run every process with RMW_IMPLEMENTATION=rmw_cyclonedds_cpp (the robot speaks
CycloneDDS). pick_place_node moves the arms with the G1 arm bridge (manipulation_backend g1:
LowCmd on /arm_sdk, Dex3 on /dex3/<side>/cmd, state from /lowstate; needs unitree_hg from
unitree_ros2). Plans and targets are in torso_link; grasps approach frontally.
"""

from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare("roborefer_ros")
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "params_file",
                default_value=PathJoinSubstitution([share, "config", "g1.yaml"]),
                description="Both nodes' parameters",
            ),
            DeclareLaunchArgument(
                "camera_ns",
                default_value="/head_camera",
                description="Namespace of the head camera's RealSense topics",
            ),
            DeclareLaunchArgument(
                "target_frame",
                default_value="torso_link",
                description="Frame of targets and plans (arm IK is done in torso_link)",
            ),
            IncludeLaunchDescription(
                PythonLaunchDescriptionSource(
                    PathJoinSubstitution([share, "launch", "nodes.launch.py"])
                ),
                launch_arguments={
                    "params_file": LaunchConfiguration("params_file"),
                    "camera_ns": LaunchConfiguration("camera_ns"),
                    "target_frame": LaunchConfiguration("target_frame"),
                }.items(),
            ),
        ]
    )
