# The project's two commands are `make run` and `make test`; both set themselves up.
SHELL := /bin/bash
PY := .venv/bin/python
VENV_STAMP := .venv/.stamp-installed
NODE_STAMP := node_modules/.stamp-installed
STAGE ?= dev
ARGS ?=
FUZZ_BUDGET_S ?= 60

.PHONY: run test lint typecheck unit package layer chromium bench fuzz-long clean

# wschat's functions take their libraries from the layer, as on AWS: build it first.
run: $(VENV_STAMP) layer
	$(PY) -m infra --stage $(STAGE) $(ARGS)

test: lint package layer chromium
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV_STAMP)
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

# build/layer.zip (Powertools, PyJWT), rebuilt only when its inputs change.
layer: $(VENV_STAMP)
	./scripts/build_layer.sh

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
	$(PY) -m bench.cold_import --samples 10
	$(PY) -m bench.fanout --rounds 3
	$(PY) -m bench.scale --rate-connections 1000 --idle 2000
	$(PY) -m bench.soak --connections 200 --rooms 10 --duration 30 --sample-every 10 --ghost-every 5

$(VENV_STAMP): pyproject.toml
	test -x .venv/bin/python || python3 -m venv .venv
	.venv/bin/pip install --quiet --disable-pip-version-check --upgrade pip
	.venv/bin/pip install --quiet --disable-pip-version-check -e '.[local,dev]'
	touch $@

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
