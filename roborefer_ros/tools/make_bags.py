"""``python -m roborefer_ros.tools.make_bags OUT_DIR [--force]`` (``make bags``): write the bags
shipped in ``data/bags/`` (see ``roborefer_ros.bags.make_bundled``)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from roborefer_ros.bags.errors import BagError
from roborefer_ros.bags.make_bundled import write_bundled


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="directory for the bags (e.g. data/bags)")
    parser.add_argument("--force", action="store_true", help="replace bags that exist")
    args = parser.parse_args(argv)
    os.environ.setdefault("MUJOCO_GL", "egl")  # before MuJoCo is first imported
    try:
        write_bundled(args.out, force=args.force)
    except BagError as err:
        print(f"make_bundled: {err} (--force replaces it)", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
