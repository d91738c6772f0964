# NASNet transferable-cell pipeline: the commands of README.md.
#
#   make quickstart   set up, then run the main job: the quickstart search (digits, Ray)
#   make test         set up, then the test suite (everything not marked slow)
#
# Every target that needs Python, Bazel or Graphviz runs `make setup` first, so
# each command works alone on a fresh machine (Debian 12 with Python 3.11).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV ?= .venv
PYTHON := $(VENV)/bin/python
BAZEL ?= bazel
# CI=true (set by .ci/run) selects .bazelrc's `ci` config: no cached test results.
BAZEL_FLAGS ?= $(if $(filter true 1 yes,$(CI)),--config=ci,)
# One test file per test package: every package's BUILD deps, runfiles and the pytest
# runner under Bazel, in about a minute. The full suite runs under pytest (`make test`);
# running it again under Bazel would double CI's time. Any target list works here.
BAZEL_TEST_TARGETS ?= //tests/nasnet:test_genotype //tests/architecture:test_layers \
	//tests/search_cifar:test_scheduler //tests/transfer:test_config \
	//tests/detection:test_configs //tests/model_zoo:test_summarize \
	//tests/benchmarks:test_search_strategies
SMOKE_DIR ?= $(CURDIR)/out/bazel-smoke
PYTEST_ARGS ?=

# TensorFlow's C++ logging floods test output otherwise.
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: help setup setup-gp test test-slow test-all quickstart summarize bazel-build bazel-test bazel-smoke clean

help:
	@echo "make quickstart   the quickstart search on embedded digits (writes out/quickstart/)"
	@echo "make summarize    parameters, mult-adds and cell pictures of the published cells (out/summary/)"
	@echo "make test         test suite without slow tests (pytest, tests/)"
	@echo "make test-slow    only the tests marked slow"
	@echo "make test-all     every test, slow ones included"
	@echo "make setup        .venv from requirements.txt, bazel and graphviz (idempotent)"
	@echo "make setup-gp     setup, plus the optional extra requirements-gp.txt (PyTorch, bayesian GP sampler)"
	@echo "make bazel-build  bazel build //..."
	@echo "make bazel-test   bazel test: one test file of every test package"
	@echo "make bazel-smoke  bazel run //search_cifar:search on the synthetic experiment"
	@echo "make clean        remove out/ and Bazel's outputs (keeps .venv)"

setup:
	@tools/setup.sh

# The optional extra: PyTorch, which only the bayesian strategy's GP sampler needs.
setup-gp:
	@WITH_GP=1 tools/setup.sh

# pytest exits 5 when no test was collected; make treats that as a failure.
test: setup
	$(PYTHON) -m pytest tests $(PYTEST_ARGS)

test-slow: setup
	$(PYTHON) -m pytest tests -m slow $(PYTEST_ARGS)

test-all: setup
	$(PYTHON) -m pytest tests -m "slow or not slow" $(PYTEST_ARGS)

# Run it again to resume a killed search; `rm -rf out/quickstart` to start over.
quickstart: setup
	$(BAZEL) run $(BAZEL_FLAGS) //search_cifar:search -- --experiment=quickstart --workdir=$(CURDIR)/out/quickstart

summarize: setup
	$(BAZEL) run $(BAZEL_FLAGS) //model_zoo:summarize -- --output_dir=$(CURDIR)/out/summary

bazel-build: setup
	$(BAZEL) build $(BAZEL_FLAGS) //...

bazel-test: setup
	$(BAZEL) test $(BAZEL_FLAGS) $(BAZEL_TEST_TARGETS)

# The search binary through Bazel, end to end, on the synthetic experiment (no training).
bazel-smoke: setup
	rm -rf $(SMOKE_DIR)
	$(BAZEL) run $(BAZEL_FLAGS) //search_cifar:search -- --experiment=synthetic \
		--workdir=$(SMOKE_DIR) --budget=6
	test -s $(SMOKE_DIR)/report/best_genotype.json

clean:
	rm -rf out
	-$(BAZEL) clean
