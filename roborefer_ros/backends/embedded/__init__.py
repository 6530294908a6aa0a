"""The ``embedded`` backend: a small pointing network trained in this repository on its simulated
tabletops (``data/models/``), run on the CPU. Not a general model: see docs/backends.md."""
