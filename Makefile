# Event Target: the two commands a newcomer needs are `make dev` and `make test`.
.PHONY: dev test bench build fmt vet clean-data help

GO ?= go
BIN := $(CURDIR)/bin

help:
	@echo "make dev    run the pipeline locally on embedded defaults (Ctrl-C stops it)"
	@echo "make test   install/start real Kafka + ClickHouse, run every module's tests"
	@echo "make bench  run the Go benchmarks"
	@echo "make build  build every service into ./bin"

## dev: run the whole pipeline locally (embedded Kafka, data under .data/).
dev: build
	deploy/local/dev.sh

## test: the one test command (see README).
test:
	deploy/testenv/run-tests.sh

## bench: the Go micro-benchmarks of every module.
bench:
	$(GO) test -run '^$$' -bench . -benchmem $$($(GO) list -m -f '{{.Path}}/...')

build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./ingest/cmd/ingest ./deploy/localkafka/cmd/localkafka

fmt:
	gofmt -w $$($(GO) list -m -f '{{.Dir}}')

vet:
	$(GO) vet $$($(GO) list -m -f '{{.Path}}/...')

## clean-data: forget everything the local run stored.
clean-data:
	rm -rf .data
