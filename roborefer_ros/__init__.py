"""Act on spatial language with a pointing VLM, an aligned RGB-D camera and TF.

The folder tree is the architecture (docs/architecture.md has the generated module map): ``core``
(ROS-free types and maths) -> ``backends`` (models and answer parsing) and ``manipulation`` (the
robot-independent pick-and-place seam) -> ``sim`` (everything MuJoCo) -> ``bags`` / ``eval`` ->
``ros`` (rclpy adapters, one folder per node) -> ``tools`` (every command-line entry point).

The generated interfaces (``roborefer_ros.msg``, ``.srv``, ``.action``) are installed by CMake into
site-packages, beside (not inside) this source tree; ``extend_path`` lets one import name span both.
"""

from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)

__version__ = "0.1.0"
