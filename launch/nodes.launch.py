"""The two nodes of a robot cell: the refer node (included from refer_node.launch.py) and the
pick-and-place node, both configured from one parameter file with a section per node. The robot
launch files (ur5, g1) and the simulation (sim) include this one with their own defaults, so each
node block exists once.

    ros2 launch roborefer_ros nodes.launch.py params_file:=/path/to/cell.yaml \
        camera_ns:=/camera/camera target_frame:=base_link model_url:=http://gpu-box:25547
"""

from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare("roborefer_ros")
    params_file = LaunchConfiguration("params_file")
    overlay = LaunchConfiguration("overlay_params_file")
    target_frame = LaunchConfiguration("target_frame")
    use_sim_time = LaunchConfiguration("use_sim_time")
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "params_file",
                default_value=PathJoinSubstitution([share, "config", "ur5.yaml"]),
                description="Both nodes' parameters (sections refer_node: and pick_place_node:)",
            ),
            DeclareLaunchArgument(
                "overlay_params_file",
                default_value=PathJoinSubstitution([share, "config", "no_overrides.yaml"]),
                description="Parameters applied after params_file (site or simulation settings)",
            ),
            DeclareLaunchArgument("camera_ns", default_value="/camera/camera"),
            DeclareLaunchArgument("depth_topic", default_value="aligned_depth_to_color/image_raw"),
            DeclareLaunchArgument("backend", default_value="roborefer_http"),
            DeclareLaunchArgument("model_url", default_value="http://127.0.0.1:25547"),
            DeclareLaunchArgument(
                "target_frame",
                default_value="base_link",
                description="Frame of targets and plans (the refer node's and pick_place's)",
            ),
            DeclareLaunchArgument("referring_file", default_value=""),
            DeclareLaunchArgument("use_sim_time", default_value="false"),
            IncludeLaunchDescription(
                PythonLaunchDescriptionSource(
                    PathJoinSubstitution([share, "launch", "refer_node.launch.py"])
                ),
                launch_arguments={
                    "params_file": params_file,
                    "overlay_params_file": overlay,
                    "camera_ns": LaunchConfiguration("camera_ns"),
                    "depth_topic": LaunchConfiguration("depth_topic"),
                    "backend": LaunchConfiguration("backend"),
                    "model_url": LaunchConfiguration("model_url"),
                    "target_frame": target_frame,
                    "referring_file": LaunchConfiguration("referring_file"),
                    "use_sim_time": use_sim_time,
                }.items(),
            ),
            Node(
                package="roborefer_ros",
                executable="pick_place_node",
                name="pick_place_node",
                output="screen",
                # the g1 backend checks its plans against the same depth (g1_depth_topic)
                remappings=[
                    ("color/camera_info", [LaunchConfiguration("camera_ns"), "/color/camera_info"]),
                    (
                        "aligned_depth_to_color/image_raw",
                        [LaunchConfiguration("camera_ns"), "/", LaunchConfiguration("depth_topic")],
                    ),
                ],
                parameters=[
                    params_file,
                    overlay,
                    {"plan_frame": target_frame, "use_sim_time": use_sim_time},
                ],
            ),
        ]
    )
