"""Replay a recorded bag with /clock and run the refer node on bag time (the refer node from
refer_node.launch.py, with config/bag_replay.yaml over params_file).

The replay is roborefer-replay, run as ``python3 -m roborefer_ros.tools.replay`` (a colcon
install puts no console script on PATH).

    ros2 launch roborefer_ros bag_replay.launch.py bag:=/path/to/bag \
        model_url:=http://gpu-box:25547
    ros2 launch roborefer_ros bag_replay.launch.py bag:=/path/to/bag backend:=ground_truth

The backend is the real model path by default (roborefer_http, at model_url). Chosen explicitly,
the ground_truth backend (test instrumentation, not a model) answers from the bag's
referring.json, so the whole path runs without a model. The bags in data/bags/ record the
RealSense layout with the depth on aligned_depth_to_color/image_raw.
"""

from launch.actions import DeclareLaunchArgument, ExecuteProcess, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    bag = LaunchConfiguration("bag")
    share = FindPackageShare("roborefer_ros")
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "bag",
                default_value="data/bags/tabletop_moving",
                description="Bag directory (the default is relative to a source checkout)",
            ),
            DeclareLaunchArgument(
                "referring_file",
                default_value=PathJoinSubstitution([bag, "referring.json"]),
                description="Ground truth the ground_truth backend answers from",
            ),
            DeclareLaunchArgument(
                "backend",
                default_value="roborefer_http",
                description="Refer node backend; ground_truth (test instrumentation) only if asked",
            ),
            DeclareLaunchArgument(
                "depth_topic",
                default_value="aligned_depth_to_color/image_raw",
                description="Depth aligned to colour, relative to camera_ns",
            ),
            DeclareLaunchArgument("rate", default_value="1.0"),
            ExecuteProcess(
                cmd=[
                    "python3",
                    "-m",
                    "roborefer_ros.tools.replay",
                    bag,
                    "--clock",
                    "--loop",
                    "--rate",
                    LaunchConfiguration("rate"),
                ],
                name="replay",
                output="screen",
            ),
            IncludeLaunchDescription(
                PythonLaunchDescriptionSource(
                    PathJoinSubstitution([share, "launch", "refer_node.launch.py"])
                ),
                launch_arguments={
                    "overlay_params_file": PathJoinSubstitution(
                        [share, "config", "bag_replay.yaml"]
                    ),
                    "backend": LaunchConfiguration("backend"),
                    "referring_file": LaunchConfiguration("referring_file"),
                    "depth_topic": LaunchConfiguration("depth_topic"),
                    "use_sim_time": "true",
                }.items(),
            ),
        ]
    )
