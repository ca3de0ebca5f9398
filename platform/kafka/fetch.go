package kafka

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
)

// DefaultFetchMaxBytes bounds one fetch response of our consumers. The
// client's own default (50 MiB, 1 MiB per partition) lets a consumer that
// has fallen behind buffer a response per partition while it works on the
// last: our envelopes compress five to ten times with lz4, so twelve
// partitions (the loader reads two topics of six) decompressed to well over
// 200 MiB of buffered records. 4 MiB is about 40,000 envelopes, several
// batches of work, and costs a fetch round trip every few batches.
const DefaultFetchMaxBytes = 4 << 20

// MinFetchMaxBytes is the smallest fetch bound accepted: a fetch still
// returns at least one record batch when it is larger.
const MinFetchMaxBytes = 64 << 10

// FetchMaxBytes bounds what a consumer fetches at once (kgo.FetchMaxBytes)
// and per partition (the client's default 1 MiB, or n when smaller). n = 0
// keeps the client's defaults.
func FetchMaxBytes(n int) []kgo.Opt {
	if n == 0 {
		return nil
	}
	return []kgo.Opt{kgo.FetchMaxBytes(int32(n)), kgo.FetchMaxPartitionBytes(int32(min(n, 1<<20)))}
}

// ValidateFetchMaxBytes names a bad fetch bound by its flag.
func ValidateFetchMaxBytes(n int) error {
	if n != 0 && (n < MinFetchMaxBytes || n > 1<<30) {
		return fmt.Errorf("-fetch-max-bytes %d: want 0 (the client's default) or %d (64 KiB) to %d (1 GiB)", n, MinFetchMaxBytes, 1<<30)
	}
	return nil
}
