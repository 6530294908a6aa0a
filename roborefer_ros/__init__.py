"""roborefer_ros: act on spatial language with a pointing VLM, an aligned RGB-D camera and TF.

Layers (imports point down): ``core`` (ROS-free geometry, depth, TF math, sync, types) ->
``backends`` (model clients and answer parsers, ROS-free) -> ``ros`` (rclpy adapters and nodes)
-> ``tools`` (console entry points).

The generated interfaces (``roborefer_ros.msg``, ``.srv``, ``.action``) are installed by CMake into
site-packages, beside (not inside) this source tree; ``extend_path`` lets one import name span both.
"""

from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)

__version__ = "0.1.0"
