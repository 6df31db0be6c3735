# automask: the README's commands. Each target does its own set-up first.
SHELL := /bin/bash
ENV := source scripts/env.sh &&
PYTEST_ARGS ?=

.PHONY: setup demo test bench soak clean

setup:
	@bash scripts/setup.sh

demo: setup
	@$(ENV) python -m automask_ros.cli demo

# pytest exit code 5 means "no tests collected": that is a failure here, not a pass.
test: setup
	@$(ENV) python -m pytest $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; fi; exit $$rc

bench: setup
	@$(ENV) python benchmarks/run_all.py

soak: setup
	@$(ENV) python benchmarks/soak.py

clean:
	rm -rf build install log demo_out bench_out
