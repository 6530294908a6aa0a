#!/usr/bin/env bash
# The test suite: lint (ruff, mypy), then pytest (unit + live-graph tests), then shm clean-up.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${ROBOREFER_VENV:-$ROOT/.venv}/bin/python"
cd "$ROOT"
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
# One domain per run (0-101 only: above that ports collide with the ephemeral range).
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-$(( ($$ % 90) + 10 ))}"
start=$(date +%s)
"$PY" -m ruff check roborefer_ros test scripts launch || exit 1
"$PY" -m mypy roborefer_ros || exit 1
"$PY" -m pytest -q "$@"
rc=$?
"$PY" scripts/clean_fastdds_shm.py
echo "[run_tests] pytest exit $rc, wall time $(( $(date +%s) - start )) s"
# pytest's 5 means "no tests collected": that is a failure of the suite, not a pass.
exit $rc
