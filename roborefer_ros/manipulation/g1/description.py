"""Where the Unitree G1 description lives, and its joint names (ROS-free, numpy-free).

One lookup for the arm bridge's kinematics (``manipulation.g1.kinematics``) and the MuJoCo model
(``sim.robot_g1``): both read the 29-DoF-with-hands URDF of the ``example-robot-data`` package.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from importlib import metadata
from pathlib import Path

URDF_NAME = "g1_29dof_with_hand_rev_1_0.urdf"
URDF_RELATIVE = Path("share/example-robot-data/robots/g1_description/urdf") / URDF_NAME
URDF_ENV = "ROBOREFER_G1_URDF"  # an explicit path wins over the search

# The arm joints in motor order (URDF names are f"{side}_{name}_joint").
ARM_JOINTS = (
    "shoulder_pitch",
    "shoulder_roll",
    "shoulder_yaw",
    "elbow",
    "wrist_roll",
    "wrist_pitch",
    "wrist_yaw",
)


class G1DescriptionNotFoundError(FileNotFoundError):
    """The G1 URDF is not installed (or ``$ROBOREFER_G1_URDF`` names no file)."""


def find_g1_urdf() -> Path:
    """The G1 URDF: $ROBOREFER_G1_URDF, else the ``example-robot-data`` distribution's files,
    else ``share/example-robot-data`` under the Python prefixes, site-packages (its
    ``cmeel.prefix``), ``sys.path`` entries and $AMENT_PREFIX_PATH / $CMAKE_PREFIX_PATH.
    G1DescriptionNotFoundError naming the places searched."""
    explicit = os.environ.get(URDF_ENV, "")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise G1DescriptionNotFoundError(f"{URDF_ENV}={explicit!r} is not a file")
        return path
    candidates: list[Path] = []
    try:
        dist = metadata.distribution("example-robot-data")
        for file in dist.files or ():
            if file.name == URDF_NAME:
                candidates.append(Path(str(dist.locate_file(file))))
    except metadata.PackageNotFoundError:
        pass
    prefixes = [Path(sys.prefix), Path(sys.base_prefix)]
    for key in ("purelib", "platlib"):
        site_dir = Path(sysconfig.get_paths()[key])
        prefixes += [site_dir / "cmeel.prefix", site_dir]
    prefixes += [Path(entry) / "cmeel.prefix" for entry in sys.path if entry]
    for var in ("AMENT_PREFIX_PATH", "CMAKE_PREFIX_PATH"):
        prefixes += [Path(p) for p in os.environ.get(var, "").split(os.pathsep) if p]
    prefixes.append(Path("/opt/openrobots"))
    prefixes = list(dict.fromkeys(prefixes))
    candidates += [prefix / URDF_RELATIVE for prefix in prefixes]
    for path in candidates:
        if path.is_file():
            return path
    raise G1DescriptionNotFoundError(
        f"G1 URDF {URDF_NAME} not found (pip install example-robot-data, or set {URDF_ENV}); "
        "searched the example-robot-data distribution and "
        + ", ".join(str(p) for p in prefixes[:6])
        + (f" and {len(prefixes) - 6} more" if len(prefixes) > 6 else "")
    )
