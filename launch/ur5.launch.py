"""UR5 (+ Robotiq, MoveIt 2) with a RealSense: the refer node and the pick-and-place node
(launch/nodes.launch.py with config/ur5.yaml and the UR5's camera and frame).

Start the robot side first (see README, 'On your robot'), then:

    ros2 launch roborefer_ros ur5.launch.py model_url:=http://gpu-box:25547
    ros2 launch roborefer_ros ur5.launch.py params_file:=/path/to/ur5.yaml camera_ns:=/cam/cam

Every argument of nodes.launch.py applies (backend, model_url, overlay_params_file, depth_topic,
use_sim_time). realsense-ros >= 4.54 publishes the aligned depth on
aligned_depth_to_color/image_raw (run rs_launch.py with align_depth.enable:=true).
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
                default_value=PathJoinSubstitution([share, "config", "ur5.yaml"]),
                description="Both nodes' parameters",
            ),
            DeclareLaunchArgument(
                "camera_ns",
                default_value="/camera/camera",
                description="Namespace of the RealSense topics",
            ),
            DeclareLaunchArgument(
                "target_frame",
                default_value="base_link",
                description="Frame of targets and plans (REP-103 base_link, not base)",
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
