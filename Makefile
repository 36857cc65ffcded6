# The two commands of the README. Both build or reuse the environment in .venv/.
PY := .venv/bin/python
PYTEST_ARGS ?=

.PHONY: setup demo test bench clean-venv

setup:
	@bash tools/setup_env.sh

demo: setup
	$(PY) tools/demo.py

test: setup
	$(PY) -m pytest tests $(PYTEST_ARGS)

bench: setup
	$(PY) bench/bench_prune.py
	$(PY) bench/bench_mask_apply.py
	$(PY) bench/bench_sparse_backbone.py
	$(PY) bench/bench_demo.py

clean-venv:
	rm -rf .venv
