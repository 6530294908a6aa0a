"""The refer node's parameters: declared in one place, read once into a frozen config.

``REFER_NODE_PARAMETERS`` is also what the launch/config checks and docs/parameters.md are
validated against.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

from roborefer_ros.backends.registry import BackendOptions
from roborefer_ros.core.config import ReferConfig
from roborefer_ros.ros.params import ParameterSpec

REFER_NODE_PARAMETERS: tuple[ParameterSpec, ...] = (
    ParameterSpec(
        "target_frame",
        "base_link",
        "Frame of returned targets when a request leaves it empty.",
        read_only=False,
    ),
    ParameterSpec(
        "max_frame_age_s",
        1.0,
        "Latest-frame requests fail with STALE_FRAME beyond this age; 0 disables.",
        read_only=False,
        range=(0.0, 3600.0),
    ),
    ParameterSpec(
        "frame_wait_timeout_s",
        2.0,
        "How long a request waits for a frame (at/after min_stamp).",
        read_only=False,
        range=(0.0, 600.0),
    ),
    ParameterSpec(
        "model_timeout_s",
        30.0,
        "Deadline of one model call (BACKEND_TIMEOUT beyond).",
        read_only=False,
        range=(0.001, 3600.0),
    ),
    ParameterSpec(
        "tf_timeout_s",
        0.5,
        "How long to wait for the transform at the frame's stamp.",
        read_only=False,
        range=(0.0, 60.0),
    ),
    ParameterSpec(
        "max_prompt_chars",
        2000,
        "Longer prompts fail with BAD_PROMPT.",
        read_only=False,
        range=(1, 1_000_000),
    ),
    ParameterSpec(
        "depth_window_px",
        7,
        "Odd side of the window the robust depth is taken from.",
        read_only=False,
        range=(1, 101),
    ),
    ParameterSpec(
        "min_valid_ratio",
        0.2,
        "Minimum share of valid depth pixels in the window.",
        read_only=False,
        range=(0.01, 1.0),
    ),
    ParameterSpec(
        "min_range_m", 0.05, "Depth below this is invalid.", read_only=False, range=(0.0, 100.0)
    ),
    ParameterSpec(
        "max_range_m", 10.0, "Depth beyond this is invalid.", read_only=False, range=(0.01, 1000.0)
    ),
    ParameterSpec(
        "plane_radius_px",
        25,
        "Radius of the neighbourhood used to fit the support plane (PLACE).",
        read_only=False,
        range=(3, 500),
    ),
    ParameterSpec(
        "estimate_object_extent",
        True,
        "LOCATE: estimate the pointed object's extent, yaw and height from the frame.",
        read_only=False,
    ),
    ParameterSpec(
        "sync_slop_s",
        0.02,
        "Maximum stamp difference between paired colour and depth images.",
        range=(0.0, 1.0),
    ),
    ParameterSpec(
        "frame_ring_size", 8, "Synchronised frames kept for min_stamp requests.", range=(1, 1000)
    ),
    ParameterSpec(
        "sync_queue_size",
        10,
        "Unpaired messages kept per topic while waiting for a partner.",
        range=(1, 1000),
    ),
    ParameterSpec(
        "qos_reliability",
        "best_effort",
        "Camera subscriptions: best_effort (sensor data) or reliable.",
    ),
    ParameterSpec(
        "qos_depth",
        5,
        "Camera subscriptions' history depth; at least frame_ring_size + 2 is used (the "
        "middleware keeps the frames until a request takes them).",
        range=(1, 1000),
    ),
    ParameterSpec(
        "backend",
        "roborefer_http",
        "Model backend: roborefer_http (the authors' RoboRefer server, at server_url), openai, "
        "transformers; embedded (trained here on simulated tabletops: demos and simulation only), "
        "ground_truth and recorded (test instrumentation) are never a default.",
    ),
    ParameterSpec(
        "referring_file", "", "ground_truth backend: path of the referring.json it answers from."
    ),
    ParameterSpec(
        "answers_file",
        "",
        "recorded backend: JSON file of recorded answers to replay (test/replay instrumentation).",
    ),
    ParameterSpec(
        "simulated_latency_s",
        0.0,
        "ground_truth backend: artificial model latency (tests).",
        range=(0.0, 3600.0),
    ),
    ParameterSpec(
        "server_url",
        "http://127.0.0.1:25547",
        "roborefer_http: URL of the authors' RoboRefer server.",
    ),
    ParameterSpec(
        "openai_base_url", "http://127.0.0.1:8000/v1", "openai: root of an OpenAI-compatible API."
    ),
    ParameterSpec("openai_model", "", "openai: model name served there."),
    ParameterSpec(
        "api_key_env",
        "OPENAI_API_KEY",
        "openai: environment variable holding the API key (never logged).",
    ),
    ParameterSpec(
        "answer_format",
        "",
        "Answer format: roborefer, robopoint, qwen2.5, qwen3, gemini or molmo; empty = default.",
    ),
    ParameterSpec(
        "prompt_template",
        "",
        "Prompt template with {object} for the instruction; empty = model family default.",
    ),
    ParameterSpec("image_encoding", "png", "HTTP backends: png or jpeg."),
    ParameterSpec("jpeg_quality", 90, "HTTP backends: JPEG quality.", range=(1, 100)),
    ParameterSpec("connect_timeout_s", 3.0, "HTTP backends: connect timeout.", range=(0.01, 600.0)),
    ParameterSpec(
        "max_retries",
        1,
        "HTTP backends: retries after a refused connection or HTTP 5xx.",
        range=(0, 10),
    ),
    ParameterSpec(
        "max_request_bytes",
        32 * 1024 * 1024,
        "HTTP backends: largest request body sent.",
        range=(1024, 1 << 30),
    ),
    ParameterSpec(
        "max_response_bytes",
        1024 * 1024,
        "HTTP backends: largest reply accepted.",
        range=(1024, 1 << 30),
    ),
    ParameterSpec(
        "depth_source",
        "none",
        "Depth shown to the model: none, sensor (aligned depth) or estimated.",
    ),
    ParameterSpec(
        "depth_model_path", "", "depth_source=estimated: local Depth-Anything-V2 folder."
    ),
    ParameterSpec("model_path", "", "transformers: local folder of the VLM (no hub access)."),
    ParameterSpec("device", "cpu", "transformers: cpu, cuda or cuda:N."),
    ParameterSpec("dtype", "auto", "transformers: auto, float32, float16 or bfloat16."),
    ParameterSpec(
        "max_new_tokens",
        64,
        "transformers and openai: answer length limit (tokens).",
        range=(1, 4096),
    ),
    ParameterSpec(
        "max_image_side",
        0,
        "openai and transformers: downscale the image's longer side to this; 0 = full size.",
        range=(0, 16384),
    ),
    ParameterSpec(
        "embedded_weights",
        "",
        "embedded: weights file of the sim-trained pointing network; empty = the shipped "
        "data/models/embedded_pointer.safetensors.",
    ),
    ParameterSpec(
        "max_pending_requests",
        16,
        "Requests in progress at once; more get BUSY at once.",
        range=(1, 1000),
    ),
    ParameterSpec(
        "max_concurrent_model_calls", 1, "Model calls at once (1 for one GPU).", range=(1, 64)
    ),
    ParameterSpec("tf_implementation", "auto", "auto (tf2_ros when installed), tf2_ros, or own."),
    ParameterSpec(
        "publish_annotated_image", True, "Publish ~/annotated_image with the points drawn."
    ),
    ParameterSpec("publish_markers", True, "Publish ~/markers (visualization_msgs/MarkerArray)."),
    ParameterSpec(
        "diagnostics_period_s",
        1.0,
        "Period of the self-check on /diagnostics; 0 disables.",
        range=(0.0, 3600.0),
    ),
    ParameterSpec(
        "autostart", True, "Configure and activate at start-up (else drive the lifecycle)."
    ),
)


@dataclass(frozen=True)
class ReferNodeConfig:
    """Everything the node reads from its parameters, validated."""

    refer: ReferConfig
    sync_slop_s: float
    frame_ring_size: int
    sync_queue_size: int
    camera_qos: QoSProfile
    backend: str
    backend_options: BackendOptions
    max_pending_requests: int
    max_concurrent_model_calls: int
    tf_implementation: str
    publish_annotated_image: bool
    publish_markers: bool
    diagnostics_period_s: float


def read_config(values: dict[str, Any]) -> ReferNodeConfig:
    """Build the config from parameter values (a plain dict, so it is testable without a node)."""
    refer = ReferConfig(**{f.name: values[f.name] for f in fields(ReferConfig)})
    reliability = str(values["qos_reliability"]).lower()
    if reliability not in ("best_effort", "reliable"):
        raise ValueError(f"qos_reliability must be best_effort or reliable, got {reliability!r}")
    for name in ("sync_slop_s", "simulated_latency_s", "diagnostics_period_s"):
        if not float(values[name]) >= 0.0:
            raise ValueError(f"{name} must be >= 0, got {values[name]!r}")
    for name in (
        "qos_depth",
        "frame_ring_size",
        "sync_queue_size",
        "max_pending_requests",
        "max_concurrent_model_calls",
    ):
        if int(values[name]) < 1:
            raise ValueError(f"{name} must be >= 1, got {values[name]!r}")
    tf_impl = str(values["tf_implementation"])
    if tf_impl not in ("auto", "tf2_ros", "own"):
        raise ValueError(f"tf_implementation must be auto, tf2_ros or own, got {tf_impl!r}")
    qos = QoSProfile(
        depth=int(values["qos_depth"]),
        history=HistoryPolicy.KEEP_LAST,
        reliability=ReliabilityPolicy.BEST_EFFORT
        if reliability == "best_effort"
        else ReliabilityPolicy.RELIABLE,
    )
    return ReferNodeConfig(
        refer=refer,
        sync_slop_s=float(values["sync_slop_s"]),
        frame_ring_size=int(values["frame_ring_size"]),
        sync_queue_size=int(values["sync_queue_size"]),
        camera_qos=qos,
        backend=str(values["backend"]),
        backend_options=BackendOptions(**{f.name: values[f.name] for f in fields(BackendOptions)}),
        max_pending_requests=int(values["max_pending_requests"]),
        max_concurrent_model_calls=int(values["max_concurrent_model_calls"]),
        tf_implementation=tf_impl,
        publish_annotated_image=bool(values["publish_annotated_image"]),
        publish_markers=bool(values["publish_markers"]),
        diagnostics_period_s=float(values["diagnostics_period_s"]),
    )


def read_node_config(node: Node) -> ReferNodeConfig:
    return read_config(
        {spec.name: node.get_parameter(spec.name).value for spec in REFER_NODE_PARAMETERS}
    )
