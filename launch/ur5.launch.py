"""UR5 (+ Robotiq, MoveIt 2) with a RealSense: the refer node and the pick-and-place node.

Start the robot side first (see README, 'On your robot'), then:

    ros2 launch roborefer_ros ur5.launch.py
    ros2 launch roborefer_ros ur5.launch.py params_file:=/path/to/ur5.yaml camera_ns:=/cam/cam

realsense-ros >= 4.54 publishes the aligned depth on aligned_depth_to_color/image_raw (run
rs_launch.py with align_depth.enable:=true).
"""

from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    camera_ns = LaunchConfiguration("camera_ns")
    params_file = LaunchConfiguration("params_file")
    use_sim_time = LaunchConfiguration("use_sim_time")
    default_params = PathJoinSubstitution([FindPackageShare("roborefer_ros"), "config", "ur5.yaml"])
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "params_file",
                default_value=default_params,
                description="Both nodes' parameters (backend, model URL or path, ...)",
            ),
            DeclareLaunchArgument(
                "camera_ns",
                default_value="/camera/camera",
                description="Namespace of the RealSense topics",
            ),
            DeclareLaunchArgument(
                "depth_topic",
                default_value="aligned_depth_to_color/image_raw",
                description="Depth aligned to colour, relative to camera_ns",
            ),
            DeclareLaunchArgument(
                "backend",
                default_value="roborefer_http",
                description="Refer node backend; overrides params_file, so keep them consistent",
            ),
            DeclareLaunchArgument(
                "target_frame",
                default_value="base_link",
                description="Frame of targets and plans (REP-103 base_link, not base)",
            ),
            DeclareLaunchArgument("use_sim_time", default_value="false"),
            Node(
                package="roborefer_ros",
                executable="refer_node",
                name="refer_node",
                output="screen",
                parameters=[
                    params_file,
                    {
                        "backend": LaunchConfiguration("backend"),
                        "target_frame": LaunchConfiguration("target_frame"),
                        "use_sim_time": use_sim_time,
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
            Node(
                package="roborefer_ros",
                executable="pick_place_node",
                name="pick_place_node",
                output="screen",
                parameters=[
                    params_file,
                    {
                        "manipulation_backend": "moveit",
                        "plan_frame": LaunchConfiguration("target_frame"),
                        "use_sim_time": use_sim_time,
                    },
                ],
            ),
        ]
    )
