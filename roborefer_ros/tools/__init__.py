"""Every command-line entry point: console scripts, ``python -m`` tools and the node executables."""
