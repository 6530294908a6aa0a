"""Unitree G1 with its head RealSense (D435): the refer node and the pick-and-place node.

    ros2 launch roborefer_ros g1.launch.py
    ros2 launch roborefer_ros g1.launch.py camera_ns:=/head_camera params_file:=/path/to/g1.yaml

Run every process with RMW_IMPLEMENTATION=rmw_cyclonedds_cpp (the robot speaks CycloneDDS).
pick_place_node moves the arms with the G1 arm bridge (manipulation_backend g1: LowCmd on /arm_sdk,
Dex3 on /dex3/<side>/cmd, state from /lowstate; needs unitree_hg from unitree_ros2).
Plans and targets are in torso_link; grasps approach frontally.
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
    default_params = PathJoinSubstitution([FindPackageShare("roborefer_ros"), "config", "g1.yaml"])
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "params_file",
                default_value=default_params,
                description="Both nodes' parameters (backend, model URL or path, ...)",
            ),
            DeclareLaunchArgument(
                "camera_ns",
                default_value="/head_camera",
                description="Namespace of the head camera's RealSense topics",
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
                default_value="torso_link",
                description="Frame of targets and plans (arm IK is done in torso_link)",
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
                        "manipulation_backend": "g1",
                        "plan_frame": LaunchConfiguration("target_frame"),
                        "grasp_style": "frontal",
                        "use_sim_time": use_sim_time,
                    },
                ],
            ),
        ]
    )
