"""The one exception type of the bag layer."""

from __future__ import annotations


class BagError(ValueError):
    """A bag that cannot be written or read as asked; the message names the path or topic."""
