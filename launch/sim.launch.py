"""The whole graph in simulation: the simulated cell (sim_node: MuJoCo tabletop, UR5e or G1,
RealSense-like camera; for the UR5e also sim_move_group) + the refer node and the pick-and-place
node (launch/nodes.launch.py) on the real robot's parameter file.

    ros2 launch roborefer_ros sim.launch.py model_url:=http://gpu-box:25547
    ros2 launch roborefer_ros sim.launch.py backend:=ground_truth     # no model: the truth
    ros2 launch roborefer_ros sim.launch.py backend:=ground_truth robot:=g1 seed:=27 \
        referring_file:=/tmp/r27.json
    ros2 launch roborefer_ros sim.launch.py robot_params_file:=my_ur5.yaml  # your cell's file
    roborefer-launch launch/sim.launch.py backend:=ground_truth       # without the ros2 CLI

The simulation is a robot: sim_node publishes the camera like realsense2_camera (colour,
aligned_depth_to_color, camera_info under camera_ns) and the objects on TF (``object/<name>``);
the UR5e cell serves ur_robot_driver's and the Robotiq driver's interfaces and
``launch/sim_ur5e_cell.launch.py`` adds sim_move_group (simulation instrumentation serving
move_group's), so config/ur5.yaml (``manipulation_backend: moveit``) runs unchanged; the G1
serves unitree_ros2's topics (/lowstate, /arm_sdk, the Dex3's), so config/g1.yaml
(``manipulation_backend: g1``) does too (``launch/sim_g1_cell.launch.py`` adds nothing). The
nodes get ``robot_params_file`` (config/ur5.yaml, config/g1.yaml) with ``config/sim_<robot>.yaml``
over it: that overlay holds every difference between the simulated and the real robot. The
refer node's backend is the real model path by default (roborefer_http at model_url), as on the
robot. Chosen explicitly, the ground_truth backend (test instrumentation, not a model) answers
from a referring file of the scene's static camera: the default is the one for seed 3 and the
robot (``data/sim/``, relative to a source checkout); write one for another seed with ``python -m
roborefer_ros.tools.sim_referring --seed N --robot R FILE``. use_sim_time:=true makes sim_node
publish /clock from the physics time.
"""

from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
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
                description="The simulated cell's parameters (sim_node, move_group)",
            ),
            DeclareLaunchArgument("ur5e_params", default_value="ur5.yaml"),
            DeclareLaunchArgument("g1_params", default_value="g1.yaml"),
            DeclareLaunchArgument(
                "robot_params_file",
                default_value=PathJoinSubstitution(
                    [share, "config", LaunchConfiguration([robot, "_params"])]
                ),
                description="The real robot's parameter file the nodes run on (unchanged)",
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
                default_value="roborefer_http",
                description="Refer node backend (ground_truth, test instrumentation, if asked)",
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
            IncludeLaunchDescription(
                PythonLaunchDescriptionSource(
                    PathJoinSubstitution([share, "launch", ["sim_", robot, "_cell.launch.py"]])
                ),
                launch_arguments={
                    "params_file": params_file,
                    "seed": LaunchConfiguration("seed"),
                    "realtime": LaunchConfiguration("realtime"),
                    "camera_ns": camera_ns,
                    "use_sim_time": use_sim_time,
                }.items(),
            ),
            IncludeLaunchDescription(
                PythonLaunchDescriptionSource(
                    PathJoinSubstitution([share, "launch", "nodes.launch.py"])
                ),
                launch_arguments={
                    "params_file": LaunchConfiguration("robot_params_file"),
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
