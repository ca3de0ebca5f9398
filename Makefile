# Event Target: the two commands a newcomer needs are `make dev` and `make test`.
.PHONY: dev test bench build geoip fmt vet clean-data help

GO ?= go
BIN := $(CURDIR)/bin

help:
	@echo "make dev    run the pipeline locally on embedded defaults (Ctrl-C stops it)"
	@echo "make test   install/start real Kafka + ClickHouse, run every module's tests"
	@echo "make bench  the load tool over every stage (bench/out/report.md), then the Go benchmarks"
	@echo "make build  build every service into ./bin"

## dev: run the whole pipeline locally (embedded Kafka, data under .data/).
dev: build
	deploy/local/dev.sh

## test: the one test command (see README).
test:
	deploy/testenv/run-tests.sh

## bench: the load tool against ingest (report in bench/out/), then the Go
## benchmarks of every module (the enricher's against DB-IP, fetched first).
## BROKER=apache measures on the real Apache Kafka broker.
BROKER ?= embedded
bench: geoip
	deploy/bench/run.sh --broker $(BROKER)
	$(GO) test -run '^$$' -bench . -benchmem -cpu 1 $$($(GO) list -m -f '{{.Path}}/...' | grep -v deploy/e2e)

build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./ingest/cmd/ingest ./enricher/cmd/enricher ./enricher/cmd/fakegeo ./query/cmd/query ./query/cmd/loader ./deploy/localkafka/cmd/localkafka ./deploy/gateway/cmd/gateway ./deploy/bench/cmd/loadgen

## geoip: fetch the free DB-IP City Lite database into .cache/geoip/dbip.
geoip:
	deploy/geoip/fetch-dbip.sh

fmt:
	gofmt -w $$($(GO) list -m -f '{{.Dir}}')

vet:
	$(GO) vet $$($(GO) list -m -f '{{.Path}}/...')

## clean-data: forget everything the local run stored.
clean-data:
	rm -rf .data
