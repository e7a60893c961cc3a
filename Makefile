# The same commands for people and CI. Each target sets up what is missing first.
.PHONY: up test setup-up setup-test lint typecheck unit

PY := .venv/bin
DATA_DIR ?= $(HOME)/.local/share/backendai
PORT ?= 8081
WEBSERVER_PORT ?= 8090
AGENT_PORT ?= 6001
STORAGE_PORT ?= 6021
APPPROXY_PORT ?= 6041
APPPROXY_PORTS ?= 10200-10299

up: setup-up
	$(PY)/backendai-server up --data-dir $(DATA_DIR) --port $(PORT) --webserver-port $(WEBSERVER_PORT) --agent-port $(AGENT_PORT) --storage-port $(STORAGE_PORT) --appproxy-port $(APPPROXY_PORT) --appproxy-ports $(APPPROXY_PORTS)

test: setup-test lint typecheck
	$(PY)/pytest -q -ra --durations=25

setup-up:
	@scripts/setup.sh up

setup-test:
	@scripts/setup.sh test

lint:
	$(PY)/ruff check src tests
	$(PY)/ruff format --check src tests
	$(PY)/lint-imports

typecheck:
	$(PY)/mypy

unit:
	$(PY)/pytest -q -m "not slow"
