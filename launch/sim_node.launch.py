"""sim_node (the MuJoCo tabletop as a robot cell with a RealSense-like camera) on a camera
namespace. The cell launch files (sim_ur5e_cell.launch.py, sim_g1_cell.launch.py) start it
through this one, so its block exists once.

    ros2 launch roborefer_ros sim_node.launch.py robot:=g1 seed:=27 realtime:=false
"""

from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    camera_ns = LaunchConfiguration("camera_ns")
    share = FindPackageShare("roborefer_ros")
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "params_file",
                default_value=PathJoinSubstitution([share, "config", "sim.yaml"]),
                description="sim_node's parameters (a section sim_node:)",
            ),
            DeclareLaunchArgument("seed", default_value="3", description="Scene seed"),
            DeclareLaunchArgument(
                "robot", default_value="ur5e", choices=["ur5e", "g1"], description="The robot"
            ),
            DeclareLaunchArgument(
                "realtime",
                default_value="true",
                description="Physics at wall-clock speed (false: as fast as it goes)",
            ),
            DeclareLaunchArgument(
                "camera_ns",
                default_value="/camera/camera",
                description="Namespace of the camera topics (the RealSense layout)",
            ),
            DeclareLaunchArgument(
                "use_sim_time",
                default_value="false",
                description="Publish /clock from the physics time and stamp with it",
            ),
            Node(
                package="roborefer_ros",
                executable="sim_node",
                name="sim_node",
                output="screen",
                parameters=[
                    LaunchConfiguration("params_file"),
                    {
                        "seed": LaunchConfiguration("seed"),
                        "robot": LaunchConfiguration("robot"),
                        "realtime": LaunchConfiguration("realtime"),
                        "publish_clock": LaunchConfiguration("use_sim_time"),
                    },
                ],
                remappings=[
                    ("color/image_raw", [camera_ns, "/color/image_raw"]),
                    ("color/camera_info", [camera_ns, "/color/camera_info"]),
                    (
                        "aligned_depth_to_color/image_raw",
                        [camera_ns, "/aligned_depth_to_color/image_raw"],
                    ),
                ],
            ),
        ]
    )
