"""The weights file of the embedded network: safetensors tensors plus string metadata (the
format tag, the architecture, the vocabulary, how it was trained)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from roborefer_ros.backends.embedded.network import NetworkConfig, PointingNetwork

FORMAT = "roborefer-embedded-pointer/1"


class WeightsError(Exception):
    """The file is not a usable weights file of this network; the message says why."""


def save_network(path: Path, network: PointingNetwork, metadata: dict[str, str]) -> None:
    """Write the network's state (float32) and ``metadata`` plus the format and architecture."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().contiguous().clone() for k, v in network.state_dict().items()}
    meta = {**metadata, "format": FORMAT, "config": json.dumps(network.config.as_dict())}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    tmp.replace(path)


def load_network(path: Path) -> tuple[PointingNetwork, dict[str, str]]:
    """The network in eval mode and the file's metadata; WeightsError on any problem."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = dict(handle.metadata() or {})
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
    except Exception as err:  # safetensors raises its own error types for a damaged file
        raise WeightsError(f"not a readable safetensors file ({err})") from None
    if metadata.get("format") != FORMAT:
        raise WeightsError(f"format is {metadata.get('format')!r}, expected {FORMAT!r}")
    try:
        config = NetworkConfig.from_dict(json.loads(metadata["config"]))
        network = PointingNetwork(config)
        network.load_state_dict(tensors, strict=True)
    except (KeyError, ValueError, TypeError, RuntimeError) as err:
        raise WeightsError(f"the tensors do not fit the network ({err})") from None
    bad = [
        name
        for name, t in tensors.items()
        if t.is_floating_point() and not bool(torch.isfinite(t).all())
    ]
    if bad:
        raise WeightsError(f"non-finite values in {bad[0]}")
    return network.eval(), metadata
