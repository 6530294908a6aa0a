"""Start refer_node against a camera namespace (RealSense layout by default).

    ros2 launch roborefer_ros refer_node.launch.py camera_ns:=/camera/camera \
        params_file:=/path/to/refer_node.yaml target_frame:=base_link
"""

from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    camera_ns = LaunchConfiguration("camera_ns")
    default_params = PathJoinSubstitution(
        [FindPackageShare("roborefer_ros"), "config", "refer_node.yaml"]
    )
    return LaunchDescription(
        [
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
            DeclareLaunchArgument("params_file", default_value=default_params),
            DeclareLaunchArgument("target_frame", default_value="base_link"),
            DeclareLaunchArgument("use_sim_time", default_value="false"),
            Node(
                package="roborefer_ros",
                executable="refer_node",
                name="refer_node",
                output="screen",
                parameters=[
                    LaunchConfiguration("params_file"),
                    {
                        "target_frame": LaunchConfiguration("target_frame"),
                        "use_sim_time": LaunchConfiguration("use_sim_time"),
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
