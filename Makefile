# Gatehouse: `make run` serves the portal, `make test` runs the suite. Both set up .venv first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000

.PHONY: run test install install-dev lint lock migrate clean bench image-test messages screenshots

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Gatehouse needs Python 3.11, found " + sys.version' 
	$(PYTHON) -m venv $(VENV)

# Installs come from the lock files (every package, transitive ones included, pinned with its hashes;
# pip refuses anything else), the same ones the image and CI use. Stamp files make installs idempotent:
# pip runs again only when a lock file changes. `make lock` regenerates the locks after a requirements*.txt edit.
$(VENV)/.installed-runtime: requirements.lock | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	@touch $@

$(VENV)/.installed-dev: requirements.lock requirements-dev.lock | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.lock
	@touch $@ $(VENV)/.installed-runtime

$(VENV)/.installed-bench: requirements.lock requirements-bench.lock | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-bench.lock
	@touch $@ $(VENV)/.installed-runtime

# pip-tools runs from its own throwaway venv, so it never lands in .venv or the image. pip-compile
# --generate-hashes, not uv: pip stays the one installer everywhere (image, make, CI), which reads the
# lock with --require-hashes and nothing else to learn. requirements-compat.txt: see its comment.
PIPTOOLS := /tmp/gatehouse-piptools
lock:
	@[ -x $(PIPTOOLS)/bin/pip-compile ] || { $(PYTHON) -m venv $(PIPTOOLS) && $(PIPTOOLS)/bin/pip install --quiet pip-tools; }
	for name in requirements requirements-dev requirements-bench; do \
		$(PIPTOOLS)/bin/pip-compile --quiet --generate-hashes --allow-unsafe --no-emit-index-url --no-emit-find-links \
			--strip-extras --output-file=$$name.lock $$name.txt requirements-compat.txt || exit 1; \
	done

# Our wording of allauth's strings: compile the catalogue after editing locale/en/LC_MESSAGES/django.po.
messages:
	msgfmt --check -o locale/en/LC_MESSAGES/django.mo locale/en/LC_MESSAGES/django.po

install: $(VENV)/.installed-runtime
# JavaScript test tools (axe-core for the accessibility sweep) from the npm registry, pinned in package-lock.json,
# loaded by the browser tests from node_modules/, never from a CDN.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

install-dev: $(VENV)/.installed-dev node_modules/.installed

migrate: install
	$(BIN)/python manage.py migrate --noinput

run: migrate
	@echo ""
	@echo "Gatehouse is starting on http://127.0.0.1:$(PORT)/"
	@echo "To create a staff user, in another terminal: $(BIN)/python manage.py createsuperuser"
	@echo "  (its email address is marked verified: sign in at http://127.0.0.1:$(PORT)/accounts/login/, then /admin/)"
	@echo ""
	$(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

test: install-dev
	$(BIN)/python -m pytest

# `make screenshots`: every page and state of the portal as full-page PNGs, desktop (1280x900) and phone
# (390x844), with an index.html, in artifacts/screenshots/portal/. The app runs on the embedded default with a
# throwaway SQLite database seeded by `manage.py seed_demo`; Debian's Chromium (/usr/bin/chromium) draws the pages.
# `make screenshots ARGS=--readme` also redraws the README's pictures (docs/screenshots/).
screenshots: install-dev
	$(BIN)/python scripts/screenshots.py $(ARGS)

# `make bench`: gunicorn + PostgreSQL (database gatehouse_bench on 127.0.0.1:5432, user postgres) + Redis
# (127.0.0.1:6379/12), loaded with realistic data and driven by wrk; writes BENCHMARKS.md (bench/run.py).
# Needs those two servers running; installs wrk (Debian package) and the profilers itself. Not part of `make test`.
bench: $(VENV)/.installed-bench
	@command -v wrk >/dev/null 2>&1 || { \
		sudo=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
		$$sudo apt-get install -y -qq wrk >/dev/null 2>&1 || { $$sudo apt-get update -qq && $$sudo apt-get install -y -qq wrk; }; \
	}
	$(BIN)/python bench/run.py

# `make image-test`: build the production image (Dockerfile) on a debootstrap stand-in base and run it as a
# locked-down platform would (read-only root, random uid, host network on 127.0.0.1 only) against PostgreSQL on
# 127.0.0.1:5432 (a fresh database, dropped after) and Redis; checks readiness, the probes and the sign-in page.
# Needs root: installs docker.io and debootstrap, starts dockerd if none runs (.ci/image-test).
image-test:
	.ci/image-test

# Style, then the architecture: import contracts (pyproject.toml [tool.importlinter]) and no code
# written twice (six or more lines) in the apps and config, migrations aside.
lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/pylint --disable=all --enable=duplicate-code --min-similarity-lines=6 --ignore=migrations \
		--ignore-imports=yes --ignore-signatures=yes --score=no accounts billing mail config

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache
