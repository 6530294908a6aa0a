# Entry points a person types. Each target sets up first (idempotent, seconds when up to date).
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup test test-fast lint demo bench bags model clean
setup:
	bash scripts/bootstrap.sh

test: setup
	bash scripts/run_tests.sh

test-fast: setup  ## the ROS-free unit tests only
	$(PY) -m pytest -q -m "not graph and not slow" test

lint: setup
	$(VENV)/bin/ruff check roborefer_ros test scripts launch
	$(VENV)/bin/ruff format --check roborefer_ros test scripts
	$(VENV)/bin/mypy roborefer_ros

demo: setup  ## the RefPoint path on a live graph, bundled synthetic data; writes out/demo/
	$(PY) -m roborefer_ros.tools.demo --out out/demo

bags: setup  ## regenerate the bundled bags in data/bags (deterministic)
	$(PY) -m roborefer_ros.tools.make_bags data/bags --force

model: setup  ## retrain the embedded pointing network from scratch (data/models; samples cached in build/)
	$(PY) -m roborefer_ros.tools.train_embedded

bench: setup
	$(PY) -m roborefer_ros.tools.bench_node

clean:
	rm -rf build install log .pytest_cache .mypy_cache .ruff_cache
