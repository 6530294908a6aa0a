"""Replay a recorded bag with /clock and run the refer node on bag time.

The replay is roborefer-replay, run as ``python3 -m roborefer_ros.tools.replay`` (a colcon
install puts no console script on PATH).

    ros2 launch roborefer_ros bag_replay.launch.py bag:=/path/to/bag
    ros2 launch roborefer_ros bag_replay.launch.py bag:=/path/to/bag \
        params_file:=/path/to/refer_node.roborefer_http.yaml backend:=roborefer_http

With the ground_truth backend (the default) the node answers from the bag's referring.json, so
the whole path runs without a model. The bags in data/bags/ record the RealSense layout with the
depth on aligned_depth/image_raw.
"""

from launch.actions import DeclareLaunchArgument, ExecuteProcess
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    camera_ns = LaunchConfiguration("camera_ns")
    bag = LaunchConfiguration("bag")
    default_params = PathJoinSubstitution(
        [FindPackageShare("roborefer_ros"), "config", "refer_node.yaml"]
    )
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
                "params_file",
                default_value=default_params,
                description="Refer node parameters (backend, model URL or path, ...)",
            ),
            DeclareLaunchArgument(
                "backend",
                default_value="ground_truth",
                description="Refer node backend; overrides params_file, so keep them consistent",
            ),
            DeclareLaunchArgument("camera_ns", default_value="/camera/camera"),
            DeclareLaunchArgument(
                "depth_topic",
                default_value="aligned_depth/image_raw",
                description="Depth aligned to colour, relative to camera_ns",
            ),
            DeclareLaunchArgument("target_frame", default_value="base_link"),
            DeclareLaunchArgument("use_sim_time", default_value="true"),
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
            Node(
                package="roborefer_ros",
                executable="refer_node",
                name="refer_node",
                output="screen",
                parameters=[
                    LaunchConfiguration("params_file"),
                    {
                        "backend": LaunchConfiguration("backend"),
                        "referring_file": LaunchConfiguration("referring_file"),
                        "target_frame": LaunchConfiguration("target_frame"),
                        "use_sim_time": LaunchConfiguration("use_sim_time"),
                        "max_frame_age_s": 0.0,
                        "frame_ring_size": 60,
                    },
                ],
                remappings=[
                    ("color/image_raw", [camera_ns, "/color/image_raw"]),
                    ("color/camera_info", [camera_ns, "/color/camera_info"]),
                    (
                        "aligned_depth/image_raw",
                        [camera_ns, "/", LaunchConfiguration("depth_topic")],
                    ),
                ],
            ),
        ]
    )
