"""The one error type of the simulation layer."""

from __future__ import annotations


class SimError(ValueError):
    """A scene, render or ground-truth request that cannot be met; the message names the value."""
