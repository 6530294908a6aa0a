"""The refer node on a camera namespace (RealSense layout by default). Every launch file of the
package starts the refer node through this one, so its block exists once.

    ros2 launch roborefer_ros refer_node.launch.py camera_ns:=/camera/camera \
        model_url:=http://gpu-box:25547 target_frame:=base_link
    ros2 launch roborefer_ros refer_node.launch.py params_file:=/path/to/refer_node.yaml

Inline arguments (backend, model_url, target_frame, referring_file, use_sim_time) win over
params_file and overlay_params_file, as ros2 launch applies them last.
"""

from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    camera_ns = LaunchConfiguration("camera_ns")
    share = FindPackageShare("roborefer_ros")
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "params_file",
                default_value=PathJoinSubstitution([share, "config", "refer_node.yaml"]),
                description="The refer node's parameters (a section refer_node:)",
            ),
            DeclareLaunchArgument(
                "overlay_params_file",
                default_value=PathJoinSubstitution([share, "config", "no_overrides.yaml"]),
                description="Parameters applied after params_file (site settings)",
            ),
            DeclareLaunchArgument(
                "camera_ns",
                default_value="/camera/camera",
                description="Namespace of the RGB-D driver's topics",
            ),
            DeclareLaunchArgument(
                "depth_topic",
                default_value="aligned_depth_to_color/image_raw",
                description="Depth aligned to colour, relative to camera_ns",
            ),
            DeclareLaunchArgument(
                "backend",
                default_value="roborefer_http",
                description="Model backend (roborefer_http: the authors' RoboRefer server)",
            ),
            DeclareLaunchArgument(
                "model_url",
                default_value="http://127.0.0.1:25547",
                description="roborefer_http backend: the RoboRefer server",
            ),
            DeclareLaunchArgument(
                "target_frame",
                default_value="base_link",
                description="Frame of returned targets",
            ),
            DeclareLaunchArgument(
                "referring_file",
                default_value="",
                description="ground_truth backend (test instrumentation): the queries' truth",
            ),
            DeclareLaunchArgument("use_sim_time", default_value="false"),
            Node(
                package="roborefer_ros",
                executable="refer_node",
                name="refer_node",
                output="screen",
                parameters=[
                    LaunchConfiguration("params_file"),
                    LaunchConfiguration("overlay_params_file"),
                    {
                        "backend": LaunchConfiguration("backend"),
                        "server_url": LaunchConfiguration("model_url"),
                        "target_frame": LaunchConfiguration("target_frame"),
                        "referring_file": ParameterValue(
                            LaunchConfiguration("referring_file"), value_type=str
                        ),
                        "use_sim_time": LaunchConfiguration("use_sim_time"),
                    },
                ],
                remappings=[
                    ("color/image_raw", [camera_ns, "/color/image_raw"]),
                    ("color/camera_info", [camera_ns, "/color/camera_info"]),
                    (
                        "aligned_depth_to_color/image_raw",
                        [camera_ns, "/", LaunchConfiguration("depth_topic")],
                    ),
                ],
            ),
        ]
    )
