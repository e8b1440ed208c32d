# The two commands: `make run` and `make test`. Everything else is a step of theirs or a benchmark.
SHELL := /bin/bash
SWIFT ?= swift

.PHONY: run test deps build screenshots build-release check-proto proto compose-check api-test unit e2e bench bench-quick bench-rpc bench-ingest bench-rules bench-scheduler bench-kommo bench-analytics bench-fairness bench-journey bench-codec bench-kb bench-scale clean

## Install what is missing, build in release mode, start the four processes, print where to go.
run: deps build-release
	@scripts/run-local

## Install what is missing, check generated code, build, run every test.
test: deps check-proto compose-check
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build
	scripts/api-test
	scripts/e2e-test
	@echo "all tests passed"

deps:
	@scripts/install-deps

build:
	$(SWIFT) build

build-release:
	$(SWIFT) build -c release

proto:
	scripts/gen-proto

check-proto:
	@scripts/check-proto

## Property-based test of the REST API against its OpenAPI document (needs the debug build).
api-test:
	@scripts/api-test

## Browser tests (Playwright + Debian's chromium) against the debug build and the Kommo emulator.
e2e:
	@scripts/e2e-test

## Every admin UI page at 1280×800 into docs/screenshots/ (needs the debug build).
screenshots: deps
	$(SWIFT) build
	@scripts/e2e-test --screenshots

compose-check:
	docker-compose -f compose/docker-compose.yml config -q
	@echo "compose file is valid"

## Every benchmark, three runs each, into bench-results/results.json and bench-results/results.md.
bench: deps build-release
	.build/release/bench suite --runs $(or $(RUNS),3)

## The same with one run and shortened durations: a couple of minutes.
bench-quick: deps build-release
	.build/release/bench suite --quick --runs 1

bench-rpc: deps build-release
	.build/release/bench rpc

bench-ingest: deps build-release
	.build/release/bench ingest

bench-rules: deps build-release
	.build/release/bench rules

bench-scheduler: deps build-release
	.build/release/bench scheduler

bench-kommo: deps build-release
	.build/release/bench kommo

bench-analytics: deps build-release
	.build/release/bench analytics

bench-fairness: deps build-release
	.build/release/bench fairness

bench-journey: deps build-release
	.build/release/bench journey

bench-codec: deps build-release
	.build/release/bench codec

## Knowledge base: recall@3 and MRR on demo/knowledge, search p50/p99 with 100,000 chunks.
bench-kb: deps build-release
	.build/release/bench kb

bench-scale: deps build-release
	.build/release/bench scale

clean:
	rm -rf .build
