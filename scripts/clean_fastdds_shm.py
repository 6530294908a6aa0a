#!/usr/bin/env python3
"""Remove FastDDS shared-memory files in /dev/shm that no live process holds (after the tests)."""

from __future__ import annotations

import sys

from roborefer_ros.tools.fastdds_shm import clean_fastdds_shm


def main() -> int:
    removed, found = clean_fastdds_shm()
    print(f"[clean_fastdds_shm] removed {removed} of {found} FastDDS shm files", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
