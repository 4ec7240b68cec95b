# Taskyard: `make run` starts the whole stack, `make test` runs every suite.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
INSTALLED := $(VENV)/.installed
PYTHON ?= python3

# Local stack defaults; every one can be overridden from the environment.
GATEWAY_PORT ?= 8080
GATEWAY_METRICS_PORT ?= 8082
INGEST_PORT ?= 8101
EMAIL_PORT ?= 8102
REPORTS_PORT ?= 8103
LOCAL_REDIS_PORT ?= 6381
LOCAL_SMTP_PORT ?= 8025
# Metrics and monitors; deploy/prometheus/prometheus.yml scrapes these default ports.
INGEST_WORKER_METRICS_PORT ?= 9101
EMAIL_WORKER_METRICS_PORT ?= 9102
REPORTS_WORKER_METRICS_PORT ?= 9103
QUEUE_EXPORTER_PORT ?= 9108
REDIS_EXPORTER_PORT ?= 9121
PROMETHEUS_PORT ?= 9090
FLOWER_INGEST_PORT ?= 5555
FLOWER_EMAIL_PORT ?= 5556
FLOWER_REPORTS_PORT ?= 5557
TASKYARD_API_KEYS ?= demo:demo-key:admin
# Processes `make run` starts; its own Redis and SMTP sink only when no URL is given, the
# Prometheus and Redis exporter of Debian's packages when they are installed.
PROCESSES := ingest-api ingest-worker email-api email-worker reports-api reports-worker reports-beat
PROCESSES += queue-exporter flower-ingest flower-email flower-reports gateway
HAS_PROMETHEUS := $(shell command -v prometheus)
HAS_REDIS_EXPORTER := $(shell command -v prometheus-redis-exporter)
PROCESSES += $(if $(HAS_PROMETHEUS),prometheus) $(if $(HAS_REDIS_EXPORTER),redis-exporter)
# What the tests and `make run` need from Debian's packages.
SYSTEM_BINARIES := redis-server prometheus promtool prometheus-redis-exporter
SYSTEM_PACKAGES := redis-server prometheus prometheus-redis-exporter
ifeq ($(origin REDIS_URL),undefined)
  REDIS_URL := redis://127.0.0.1:$(LOCAL_REDIS_PORT)/0
  PROCESSES += redis
endif
ifeq ($(origin SMTP_URL),undefined)
  SMTP_URL := smtp://127.0.0.1:$(LOCAL_SMTP_PORT)
  PROCESSES += smtp
endif
DATABASE_URL ?= sqlite:///$(CURDIR)/var/taskyard.db
TASKYARD_INGEST_URL ?= http://127.0.0.1:$(INGEST_PORT)
TASKYARD_EMAIL_URL ?= http://127.0.0.1:$(EMAIL_PORT)
TASKYARD_REPORTS_URL ?= http://127.0.0.1:$(REPORTS_PORT)
TASKYARD_PUBLIC_URL ?= http://127.0.0.1:$(GATEWAY_PORT)
export GATEWAY_PORT GATEWAY_METRICS_PORT INGEST_PORT EMAIL_PORT REPORTS_PORT LOCAL_REDIS_PORT
export LOCAL_SMTP_PORT TASKYARD_API_KEYS REDIS_URL DATABASE_URL SMTP_URL TASKYARD_PUBLIC_URL
export TASKYARD_INGEST_URL TASKYARD_EMAIL_URL TASKYARD_REPORTS_URL
export INGEST_WORKER_METRICS_PORT EMAIL_WORKER_METRICS_PORT REPORTS_WORKER_METRICS_PORT
export QUEUE_EXPORTER_PORT REDIS_EXPORTER_PORT PROMETHEUS_PORT
export FLOWER_INGEST_PORT FLOWER_EMAIL_PORT FLOWER_REPORTS_PORT
export TASKYARD_FLOWER_INGEST_URL := http://127.0.0.1:$(FLOWER_INGEST_PORT)
export TASKYARD_FLOWER_EMAIL_URL := http://127.0.0.1:$(FLOWER_EMAIL_PORT)
export TASKYARD_FLOWER_REPORTS_URL := http://127.0.0.1:$(FLOWER_REPORTS_PORT)
export PATH := $(BIN):$(PATH)

.PHONY: help install system-packages run demo test bench lint fmt clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

install: $(INSTALLED) ## Create .venv and install everything (system packages too, when missing)

$(INSTALLED): pyproject.toml constraints.txt
	@missing=; for binary in $(SYSTEM_BINARIES); do command -v $$binary >/dev/null || missing=1; done; \
		[ -z "$$missing" ] || $(MAKE) --no-print-directory system-packages
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --constraint constraints.txt --editable '.[dev]'
	@touch $@

system-packages: ## Install Redis, Prometheus (with promtool) and the Redis exporter with apt-get (needs root)
	apt-get update --quiet
	DEBIAN_FRONTEND=noninteractive apt-get install --yes --quiet --no-install-recommends $(SYSTEM_PACKAGES)

run: install ## Start the whole stack in the foreground; Ctrl-C stops it
	@mkdir -p var/redis var/gateway var/mail/tmp var/mail/new var/mail/cur var/prometheus
	@echo "Taskyard is starting (Ctrl-C stops every process):"
	@echo "  gateway        http://127.0.0.1:$(GATEWAY_PORT)"
	@echo "  ingest API     http://127.0.0.1:$(GATEWAY_PORT)/ingest/docs   (direct: $(TASKYARD_INGEST_URL))"
	@echo "  email API      http://127.0.0.1:$(GATEWAY_PORT)/email/docs    (direct: $(TASKYARD_EMAIL_URL))"
	@echo "  reports API    http://127.0.0.1:$(GATEWAY_PORT)/reports/docs  (direct: $(TASKYARD_REPORTS_URL))"
	@echo "  gateway ping   http://127.0.0.1:$(GATEWAY_METRICS_PORT)/ping   metrics: /metrics"
	@echo "  redis          $(REDIS_URL)"
	@echo "  data store     $(DATABASE_URL)"
	@echo "  mail           $(SMTP_URL)$(if $(filter smtp,$(PROCESSES)),   (kept in var/mail/new/),)"
	@echo "  flower         http://127.0.0.1:$(GATEWAY_PORT)/flower   (admin key as the password)"
	@echo "  prometheus     $(if $(HAS_PROMETHEUS),http://127.0.0.1:$(PROMETHEUS_PORT)   (rules: /rules  targets: /targets),not installed: make system-packages)"
	@echo "  metrics        workers :$(INGEST_WORKER_METRICS_PORT) :$(EMAIL_WORKER_METRICS_PORT) :$(REPORTS_WORKER_METRICS_PORT)  queues :$(QUEUE_EXPORTER_PORT)$(if $(HAS_REDIS_EXPORTER),  redis :$(REDIS_EXPORTER_PORT))"
	@echo "  API key        demo-key (tenant demo, admin) unless TASKYARD_API_KEYS says otherwise"
	@exec $(BIN)/honcho --procfile Procfile start $(PROCESSES)

demo: install ## Against `make run` in another terminal: ingest, report, wait, download
	TASKYARD_URL=$${TASKYARD_URL:-http://127.0.0.1:$(GATEWAY_PORT)} \
	TASKYARD_API_KEY=$${TASKYARD_API_KEY:-demo-key} $(BIN)/python -m client.demo

test: install ## Run every test suite (unit, integration, e2e, chaos, security, deploy)
	$(BIN)/pytest

bench: install ## Benchmarks: each figure a ratio measured side by side (BENCH_FULL=1: large sizes)
	@command -v wrk >/dev/null || $(MAKE) --no-print-directory system-packages SYSTEM_PACKAGES=wrk
	$(BIN)/pip install --quiet --constraint constraints.txt --editable '.[dev,bench]'
	$(BIN)/python -m bench

lint: install ## ruff, ruff format --check, mypy, import-linter
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

fmt: install ## Format and fix what ruff can
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean: ## Remove the virtualenv and local data under var/
	rm -rf $(VENV) var
