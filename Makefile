# The project's two commands are `make run` and `make test`; both set themselves up.
SHELL := /bin/bash
PY := .venv/bin/python
VENV_STAMP := .venv/.stamp-installed
NODE_STAMP := node_modules/.stamp-installed
STAGE ?= dev
ARGS ?=

.PHONY: run test lint typecheck unit package chromium bench clean

run: $(VENV_STAMP)
	$(PY) -m infra --stage $(STAGE) $(ARGS)

test: lint package chromium
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV_STAMP)
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

# Packages serverless.yml with osls (no AWS account needed) and lints the template.
package: $(VENV_STAMP) $(NODE_STAMP)
	./scripts/package.sh $(STAGE)

# The quick benches, by hand only (never part of `make test`); results: docs/benchmarks.md.
# The long ones: python -m bench.soak (10 minutes), python -m bench.peer (serverless-offline).
bench: $(VENV_STAMP)
	$(PY) -m bench.cold_import --samples 10
	$(PY) -m bench.mgmt_sender --rounds 5
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
