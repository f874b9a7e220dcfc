# The project's two commands are `make run` and `make test`; both set themselves up.
SHELL := /bin/bash
PY := .venv/bin/python
VENV_STAMP := .venv/.stamp-installed
NODE_STAMP := node_modules/.stamp-installed
STAGE ?= dev
ARGS ?=
FUZZ_BUDGET_S ?= 60

# uv installs .venv from uv.lock (the dev environment, so lint and type verdicts do not
# move with PyPI); it is bootstrapped with pip at this version, then locked like the rest.
UV_VERSION := 0.13.9
UV := .venv/bin/uv
LOWEST_VENV := build/lowest-venv
# The tests and benches package and run for this machine's architecture where they build
# an artifact of their own (serverless.yml's default, arm64, is what deploys; the local
# stack runs this machine's layer whatever it says: custom.local.layers). `make package`
# packages for serverless.yml's architecture whatever this says.
HOST_ARCH := $(shell uname -m | sed -e 's/aarch64/arm64/' -e 's/amd64/x86_64/')
LOCAL := WSCHAT_ARCHITECTURE=$(HOST_ARCH)

.PHONY: run test lint typecheck unit package layer chromium bench fuzz-long clean lock test-lowest

# wschat's functions take their libraries from the layer, as on AWS: `python -m infra`
# builds this machine's first (serverless.yml's custom.local.build), as by hand.
run: $(VENV_STAMP)
	$(PY) -m infra --stage $(STAGE) $(ARGS)

test: lint package layer chromium test-lowest
	$(LOCAL) $(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV_STAMP)
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

# build/layer-<this machine's architecture>.zip (Powertools, PyJWT, with
# python3.12 bytecode) for the local stack, rebuilt only when its inputs change.
layer: $(VENV_STAMP)
	./scripts/build_layer.sh host

# Packages serverless.yml with osls (no AWS account needed) and lints the template.
package: $(VENV_STAMP) $(NODE_STAMP)
	./scripts/package.sh $(STAGE)

# The fuzz tier exploring for a bounded time: FUZZ_BUDGET_S seconds per test (default 60,
# ~9 minutes in all; tests/fuzz/profiles.py). By hand or nightly, never part of `make test`.
fuzz-long: $(VENV_STAMP)
	HYPOTHESIS_PROFILE=long FUZZ_BUDGET_S=$(FUZZ_BUDGET_S) $(PY) -m pytest tests/fuzz -q $(PYTEST_ARGS)

# The quick benches, by hand only (never part of `make test`); results: docs/benchmarks.md.
# The long ones: python -m bench.soak (10 minutes), python -m bench.peer (serverless-offline).
bench: $(VENV_STAMP)
	$(LOCAL) $(PY) -m bench.cold_import --samples 10
	$(LOCAL) $(PY) -m bench.mgmt_sender --rounds 5
	$(LOCAL) $(PY) -m bench.fanout --rounds 3
	$(LOCAL) $(PY) -m bench.loadtest_cost --rounds 3
	$(LOCAL) $(PY) -m bench.scale --rate-connections 1000 --idle 2000
	$(LOCAL) $(PY) -m bench.soak --connections 200 --rooms 10 --duration 30 --sample-every 10 --ghost-every 5

$(UV):
	test -x .venv/bin/python || python3 -m venv .venv
	.venv/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# --locked: a pyproject.toml changed without `make lock` fails here instead of drifting.
$(VENV_STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --quiet --locked --extra local --extra dev
	touch $@

# After changing a range in pyproject.toml: re-resolve uv.lock (newest allowed versions).
# Needs only uv, not a synced venv (which a stale lock refuses).
lock: | $(UV)
	$(UV) lock
	$(UV) pip compile --quiet --universal --python-version 3.11 --generate-hashes \
	  --custom-compile-command 'make lock' -o scripts/checkov-requirements.txt \
	  scripts/checkov-requirements.in

# The lowest versions pyproject.toml allows for each direct dependency (uv's
# lowest-direct resolution; their own dependencies newest), in a venv of their own, under
# the tiers that exercise the libraries: unit, functional and the embedded DynamoDB.
# (The lint tools are not run here: their verdicts are the lock's.)
test-lowest: $(VENV_STAMP)
	$(UV) pip compile --quiet --resolution lowest-direct --python-version 3.11 \
	  --extra local --extra dev -o build/lowest-requirements.txt pyproject.toml
	test -x $(LOWEST_VENV)/bin/python || $(UV) venv --quiet --python python3 $(LOWEST_VENV)
	$(UV) pip sync --quiet --python $(LOWEST_VENV)/bin/python build/lowest-requirements.txt
	$(UV) pip install --quiet --python $(LOWEST_VENV)/bin/python --no-deps -e .
	@echo "test-lowest: $$(grep -E '^(aws-lambda-powertools|pyjwt|boto3|aiohttp|moto|websockets|cryptography|werkzeug)==' build/lowest-requirements.txt | tr '\n' ' ')"
	$(LOCAL) $(LOWEST_VENV)/bin/python -m pytest -q -p no:cacheprovider \
	  --ignore=tests/unit/test_template.py tests/unit tests/functional tests/integration/dynamo

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Debian's chromium for the browser tests (never a browser download of the test tool's own).
chromium:
	@command -v chromium >/dev/null || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get update -qq && \
	  $$( [ "$$(id -u)" = 0 ] || echo sudo ) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

clean:
	rm -rf .venv node_modules .serverless build .mypy_cache .ruff_cache .pytest_cache .home
