package chstore_test

import (
	"testing"

	"go.uber.org/goleak"
)

// clickhouse-go starts goroutines per connection and per query stream;
// Close must end them all.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
