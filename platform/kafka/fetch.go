package kafka

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
)

// DefaultFetchMaxBytes bounds one fetch response of our consumers. The
// client's own default (50 MiB, 1 MiB per partition) lets a consumer that
// has fallen behind hold a large fetch buffered while it works on the last
// one, and lz4-compressed envelopes decompress to several times their
// fetched size: a loader that had fallen behind (twelve partitions, two
// topics of six) held over 200 MB of decompressed records it had not asked
// for yet (bench/PROFILE.md, entry 6). 4 MiB costs more fetch round trips;
// the loader's rate stayed within its run-to-run spread.
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
