"""The whole graph in simulation: sim_node (MuJoCo tabletop, UR5e or G1, RealSense-like camera) +
the refer node and the pick-and-place node (launch/nodes.launch.py, manipulation_backend: sim).

    ros2 launch roborefer_ros sim.launch.py
    ros2 launch roborefer_ros sim.launch.py robot:=g1 seed:=27 referring_file:=/tmp/r27.json
    ros2 launch roborefer_ros sim.launch.py backend:=roborefer_http model_url:=http://gpu-box:25547
    ros2 launch roborefer_ros sim.launch.py params_file:=my_sim.yaml  # e.g. a model_path
    roborefer-launch launch/sim.launch.py              # without the ros2 CLI

sim_node publishes the camera like realsense2_camera (colour, aligned_depth_to_color, camera_info
under camera_ns), the camera and the objects on TF (``object/<name>``), and runs ExecuteSteps
plans on the simulated arm. With the ground_truth backend (the default here; test
instrumentation, not a model) the refer node answers from a referring file of the scene's static
camera: the default is the one for seed 3 and the robot (``data/sim/``, relative to a source
checkout); write one for another seed with ``python -m roborefer_ros.tools.sim_referring --seed N
--robot R FILE``. ``robot`` picks the frames and grasp settings: ``config/sim_<robot>.yaml`` over
params_file (ur5e: base_link, top-down; g1: the head camera, torso_link, frontal).
use_sim_time:=true makes sim_node publish /clock from the physics time.
"""

from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    camera_ns = LaunchConfiguration("camera_ns")
    params_file = LaunchConfiguration("params_file")
    use_sim_time = LaunchConfiguration("use_sim_time")
    robot = LaunchConfiguration("robot")
    share = FindPackageShare("roborefer_ros")
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "params_file",
                default_value=PathJoinSubstitution([share, "config", "sim.yaml"]),
                description="The three nodes' parameters",
            ),
            DeclareLaunchArgument("seed", default_value="3", description="Scene seed"),
            DeclareLaunchArgument(
                "robot",
                default_value="ur5e",
                choices=["ur5e", "g1"],
                description="The simulated robot, its frames and grasps",
            ),
            DeclareLaunchArgument(
                "realtime",
                default_value="true",
                description="Physics at wall-clock speed (false: as fast as it goes)",
            ),
            DeclareLaunchArgument(
                "backend",
                default_value="ground_truth",
                description="Refer node backend (ground_truth: test instrumentation)",
            ),
            DeclareLaunchArgument(
                "referring_file",
                default_value=["data/sim/referring_seed3_", robot, ".json"],
                description="ground_truth backend: the scene's queries (this seed's!)",
            ),
            DeclareLaunchArgument(
                "camera_ns",
                default_value="/camera/camera",
                description="Namespace of the camera topics (the RealSense layout)",
            ),
            DeclareLaunchArgument("ur5e_frame", default_value="base_link"),
            DeclareLaunchArgument("g1_frame", default_value="torso_link"),
            DeclareLaunchArgument(
                "target_frame",
                default_value=LaunchConfiguration([robot, "_frame"]),
                description="Frame of targets and plans (default: the robot's plan frame)",
            ),
            DeclareLaunchArgument(
                "use_sim_time",
                default_value="false",
                description="sim_node publishes /clock; the other nodes run on it",
            ),
            Node(
                package="roborefer_ros",
                executable="sim_node",
                name="sim_node",
                output="screen",
                parameters=[
                    params_file,
                    {
                        "seed": LaunchConfiguration("seed"),
                        "robot": robot,
                        "realtime": LaunchConfiguration("realtime"),
                        "publish_clock": use_sim_time,
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
            IncludeLaunchDescription(
                PythonLaunchDescriptionSource(
                    PathJoinSubstitution([share, "launch", "nodes.launch.py"])
                ),
                launch_arguments={
                    "params_file": params_file,
                    "overlay_params_file": PathJoinSubstitution(
                        [share, "config", ["sim_", robot, ".yaml"]]
                    ),
                    "camera_ns": camera_ns,
                    "backend": LaunchConfiguration("backend"),
                    "referring_file": LaunchConfiguration("referring_file"),
                    "target_frame": LaunchConfiguration("target_frame"),
                    "use_sim_time": use_sim_time,
                }.items(),
            ),
        ]
    )
